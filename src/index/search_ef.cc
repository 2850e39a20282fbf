#include "index/search_ef.h"

#include <algorithm>
#include <cmath>

namespace arbalest {

size_t DefaultSearchEf(size_t k, uint64_t rows) {
  constexpr double kBaseEf = 64;  // graphs up to kBaseRows rows
  constexpr double kBaseRows = 16384;
  constexpr double kEfPerDoubling = 24;  // more rows: a longer walk to the neighbourhood
  constexpr double kMaxSizeEf = 4096;
  double by_size = kBaseEf;
  if (static_cast<double>(rows) > kBaseRows) {
    by_size += kEfPerDoubling * std::log2(static_cast<double>(rows) / kBaseRows);
  }
  return std::max<size_t>(k + k / 4, static_cast<size_t>(std::min(by_size, kMaxSizeEf)));
}

}  // namespace arbalest
