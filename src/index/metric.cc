#include "index/metric.h"

#include <string>

namespace arbalest {

arrow::Result<Metric> ParseMetric(std::string_view name) {
  if (name == "euclidean" || name == "l2") return Metric::kL2;
  if (name == "cosine") return Metric::kCosine;
  if (name == "dot_product" || name == "dot") return Metric::kDotProduct;
  return arrow::Status::Invalid("unknown metric '", std::string(name),
                                "' (expected euclidean, cosine or dot_product)");
}

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return "euclidean";
    case Metric::kCosine:
      return "cosine";
    case Metric::kDotProduct:
      return "dot_product";
  }
  return "unknown";
}

}  // namespace arbalest
