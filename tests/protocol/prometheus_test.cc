// Prometheus' text exposition format (protocol/prometheus.hpp): HELP/TYPE lines, label
// escaping, value formatting, cumulative histogram buckets with _sum and _count.
#define CAF_SUITE prometheus
#include "caf/test/unit_test.hpp"

#include <cmath>
#include <limits>

#include "protocol/prometheus.hpp"

using namespace eventbase::protocol::prometheus;

CAF_TEST(values are written as the format reads them) {
  CAF_CHECK_EQUAL(format_value(0), "0");
  CAF_CHECK_EQUAL(format_value(42), "42");
  CAF_CHECK_EQUAL(format_value(18446744073709551615.0), "1.8446744073709552e+19");
  CAF_CHECK_EQUAL(format_value(0.0001), "0.0001");
  CAF_CHECK_EQUAL(format_value(2.5), "2.5");
  CAF_CHECK_EQUAL(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  CAF_CHECK_EQUAL(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  CAF_CHECK_EQUAL(format_value(std::nan("")), "NaN");
}

CAF_TEST(label values are escaped) {
  CAF_CHECK_EQUAL(escape_label_value(R"(a"b\c)"), R"(a\"b\\c)");
  CAF_CHECK_EQUAL(escape_label_value("line\nbreak"), "line\\nbreak");
  exposition out;
  out.family("eventbase_x_total", "counter", "Help with a \\ and a\nline feed.");
  out.sample("eventbase_x_total", {{"stream", "we\"ird"}, {"operation", "put"}}, 3);
  out.sample("eventbase_x_total", {}, 1);
  CAF_CHECK_EQUAL(out.text(),
                  "# HELP eventbase_x_total Help with a \\\\ and a\\nline feed.\n"
                  "# TYPE eventbase_x_total counter\n"
                  "eventbase_x_total{stream=\"we\\\"ird\",operation=\"put\"} 3\n"
                  "eventbase_x_total 1\n");
}

CAF_TEST(histograms are cumulative with sum and count) {
  histogram h;
  h.observe(0.00005);  // first bucket
  h.observe(0.001);    // exactly a bound: in that bucket (le is "less or equal")
  h.observe(0.003);
  h.observe(100);  // above every bound: +Inf only
  CAF_CHECK_EQUAL(h.count, 4u);
  exposition out;
  out.family("d_seconds", "histogram", "d");
  out.histogram_samples("d_seconds", {{"stream", "s"}}, h);
  auto& text = out.text();
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"0.0001\"} 1\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"0.0005\"} 1\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"0.001\"} 2\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"0.005\"} 3\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"10\"} 3\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_bucket{stream=\"s\",le=\"+Inf\"} 4\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_count{stream=\"s\"} 4\n") != std::string::npos);
  CAF_CHECK(text.find("d_seconds_sum{stream=\"s\"} 100.00405") != std::string::npos);
  // +Inf is the last bucket line, then _sum, then _count.
  CAF_CHECK_LESS(text.find("le=\"+Inf\""), text.find("d_seconds_sum"));
  CAF_CHECK_LESS(text.find("d_seconds_sum"), text.find("d_seconds_count"));
}
