// The similarity metrics an index can be built with, as named by the protocol.
#pragma once

#include <arrow/result.h>

#include <string_view>

namespace arbalest {

enum class Metric : uint8_t {
  kL2 = 0,          // "euclidean": squared L2 distance
  kCosine = 1,      // "cosine": 1 - cosine similarity
  kDotProduct = 2,  // "dot_product": negated inner product (smaller is closer)
};

// "euclidean" (or "l2"), "cosine", "dot_product" (or "dot", "inner_product", "ip"), in any
// letter case. Invalid for anything else.
arrow::Result<Metric> ParseMetric(std::string_view name);
std::string_view MetricName(Metric metric);

}  // namespace arbalest
