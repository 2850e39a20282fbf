// One-sample gauge and counter families for collectors that read their values at scrape time.
#pragma once

#include <prometheus/metric_family.h>

#include <string>

namespace arbalest {

inline prometheus::MetricFamily OneSampleFamily(std::string name, std::string help,
                                                prometheus::MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

inline prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  return OneSampleFamily(std::move(name), std::move(help), prometheus::MetricType::Gauge, value);
}

inline prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  return OneSampleFamily(std::move(name), std::move(help), prometheus::MetricType::Counter, value);
}

}  // namespace arbalest
