// Prometheus' text exposition format (version 0.0.4), what GET /metrics of eventbase-server
// answers: a family's "# HELP" and "# TYPE" lines, then its samples, one a line:
//   # HELP eventbase_operations_total Operations completed, by stream and operation.
//   # TYPE eventbase_operations_total counter
//   eventbase_operations_total{stream="users",operation="put"} 42
// Label values are escaped (backslash, double quote, line feed), so any stream name is safe.
// Histograms are written as cumulative `_bucket{le="..."}` samples ending with le="+Inf", then
// `_sum` and `_count`. No I/O: the caller serves the text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventbase::protocol::prometheus {

/// A sample's labels, name and value, in the order written.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A latency histogram with fixed bucket bounds (seconds, from 100 µs to 10 s). Plain data:
/// whoever owns one records into it from one thread at a time.
struct histogram {
  static constexpr std::array<double, 15> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                    0.005,  0.01,    0.025,  0.05,  0.1,
                                                    0.25,   0.5,     1.0,    2.5,   10.0};
  std::array<uint64_t, bounds.size() + 1> buckets{};  // per bucket (not cumulative); last: +Inf
  uint64_t count = 0;
  double sum = 0;  // seconds

  void observe(double seconds);
};

/// A sample value as the format writes it: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string format_value(double value);

/// A label value with `\`, `"` and line feeds escaped.
std::string escape_label_value(std::string_view value);

class exposition {
 public:
  /// Starts the family `name` of `type` ("counter", "gauge", "histogram"): its HELP and TYPE
  /// lines. Each family once, before its samples; `name` must be a valid metric name.
  void family(std::string_view name, std::string_view type, std::string_view help);

  /// One sample of the current family.
  void sample(std::string_view name, const labels& with, double value);

  /// The samples of a histogram family `name`: name_bucket (cumulative, with `le`), name_sum,
  /// name_count.
  void histogram_samples(std::string_view name, const labels& with, const histogram& h);

  const std::string& text() const { return text_; }

 private:
  void write_labels(const labels& with, const std::pair<std::string, std::string>* extra);
  std::string text_;
};

}  // namespace eventbase::protocol::prometheus
