#include "text/row_filter.h"

#include <utility>

namespace arbalest {

RowFilter RowFilter::FromBitmap(const Roaring64Map& rows) {
  return RowFilter([&rows](uint64_t row) { return rows.contains(row); });
}

RowFilter RowFilter::FromPredicate(std::function<bool(uint64_t)> allows) {
  return RowFilter(std::move(allows));
}

RowFilter::RowFilter(std::function<bool(uint64_t)> allows) : allows_(std::move(allows)) {}

}  // namespace arbalest
