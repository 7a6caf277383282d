// A small logging facade: leveled, thread-safe lines on stderr (or a sink the application sets).
//
//   EB_LOG_WARN("stream", "skipped malformed event at sequence " << seq << ": " << reason);
//
// The default level is `warning`; EVENTBASE_LOG=error|warning|info|debug overrides it.
#pragma once

#include <functional>
#include <sstream>
#include <string_view>

namespace eventbase::log {

enum class level { error = 0, warning = 1, info = 2, debug = 3 };

using sink = std::function<void(level, std::string_view component, std::string_view message)>;

void set_level(level lvl);
bool enabled(level lvl);
void write(level lvl, std::string_view component, std::string_view message);

/// Replaces the destination of all log lines (nullptr restores stderr).
void set_sink(sink s);

}  // namespace eventbase::log

#define EB_LOG(lvl, component, expr)                                 \
  do {                                                               \
    if (::eventbase::log::enabled(lvl)) {                            \
      std::ostringstream eb_log_stream_;                             \
      eb_log_stream_ << expr;                                        \
      ::eventbase::log::write(lvl, component, eb_log_stream_.str()); \
    }                                                                \
  } while (false)

#define EB_LOG_ERROR(component, expr) EB_LOG(::eventbase::log::level::error, component, expr)
#define EB_LOG_WARN(component, expr) EB_LOG(::eventbase::log::level::warning, component, expr)
#define EB_LOG_INFO(component, expr) EB_LOG(::eventbase::log::level::info, component, expr)
#define EB_LOG_DEBUG(component, expr) EB_LOG(::eventbase::log::level::debug, component, expr)
