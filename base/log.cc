#include "eventbase/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

namespace eventbase::log {
namespace {

level initial_level() {
  const char* env = std::getenv("EVENTBASE_LOG");
  if (env == nullptr) return level::warning;
  if (std::strcmp(env, "error") == 0) return level::error;
  if (std::strcmp(env, "info") == 0) return level::info;
  if (std::strcmp(env, "debug") == 0) return level::debug;
  return level::warning;
}

std::atomic<int>& current() {
  static std::atomic<int> lvl{static_cast<int>(initial_level())};
  return lvl;
}

std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}

sink& custom_sink() {
  static sink s;
  return s;
}

const char* name_of(level lvl) {
  switch (lvl) {
    case level::error:
      return "ERROR";
    case level::warning:
      return "WARN";
    case level::info:
      return "INFO";
    case level::debug:
      return "DEBUG";
  }
  return "?";
}

}  // namespace

void set_level(level lvl) {
  current().store(static_cast<int>(lvl));
}

bool enabled(level lvl) {
  return static_cast<int>(lvl) <= current().load(std::memory_order_relaxed);
}

void set_sink(sink s) {
  std::lock_guard<std::mutex> guard(sink_mutex());
  custom_sink() = std::move(s);
}

void write(level lvl, std::string_view component, std::string_view message) {
  std::lock_guard<std::mutex> guard(sink_mutex());
  if (custom_sink()) {
    custom_sink()(lvl, component, message);
    return;
  }
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03dZ %-5s [%.*s] %.*s\n", stamp, static_cast<int>(ms), name_of(lvl),
               static_cast<int>(component.size()), component.data(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace eventbase::log
