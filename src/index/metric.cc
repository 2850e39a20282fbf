#include "index/metric.h"

#include <cctype>
#include <string>

namespace arbalest {

arrow::Result<Metric> ParseMetric(std::string_view given) {
  std::string name(given);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "euclidean" || name == "l2") return Metric::kL2;
  if (name == "cosine") return Metric::kCosine;
  if (name == "dot_product" || name == "dot" || name == "inner_product" || name == "ip") {
    return Metric::kDotProduct;
  }
  return arrow::Status::Invalid("unknown metric '", std::string(given),
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
