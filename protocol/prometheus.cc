// Prometheus' text exposition format (see prometheus.hpp).
#include "protocol/prometheus.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace eventbase::protocol::prometheus {

void histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  ++buckets[i];
  ++count;
  sum += seconds;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (std::fabs(value) < 9007199254740992.0 && value == std::floor(value))
    std::snprintf(buf, sizeof buf, "%.0f", value);
  else
    for (int precision = 1; precision <= 17; ++precision) {  // the shortest exact text
      std::snprintf(buf, sizeof buf, "%.*g", precision, value);
      if (std::strtod(buf, nullptr) == value) break;
    }
  return buf;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  for (char c : help) {  // HELP escapes backslashes and line feeds only
    if (c == '\\')
      text_ += "\\\\";
    else if (c == '\n')
      text_ += "\\n";
    else
      text_ += c;
  }
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void exposition::write_labels(const labels& with,
                              const std::pair<std::string, std::string>* extra) {
  if (with.empty() && extra == nullptr) return;
  text_ += '{';
  bool first = true;
  auto one = [&](const std::pair<std::string, std::string>& label) {
    if (!first) text_ += ',';
    first = false;
    text_ += label.first;
    text_ += "=\"";
    text_ += escape_label_value(label.second);
    text_ += '"';
  };
  for (auto& label : with) one(label);
  if (extra != nullptr) one(*extra);
  text_ += '}';
}

void exposition::sample(std::string_view name, const labels& with, double value) {
  text_ += name;
  write_labels(with, nullptr);
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void exposition::histogram_samples(std::string_view name, const labels& with, const histogram& h) {
  std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= histogram::bounds.size(); ++i) {
    cumulative += h.buckets[i];
    std::pair<std::string, std::string> le{
        "le", i < histogram::bounds.size() ? format_value(histogram::bounds[i]) : "+Inf"};
    text_ += bucket;
    write_labels(with, &le);
    text_ += ' ';
    text_ += format_value(static_cast<double>(cumulative));
    text_ += '\n';
  }
  sample(std::string(name) + "_sum", with, h.sum);
  sample(std::string(name) + "_count", with, static_cast<double>(h.count));
}

}  // namespace eventbase::protocol::prometheus
