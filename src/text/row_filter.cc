#include "text/row_filter.h"

#include <utility>

namespace arbalest {

RowFilter RowFilter::FromBitmap(const Roaring64Map& rows) { return RowFilter(&rows); }

RowFilter RowFilter::FromPredicate(std::function<bool(uint64_t)> allows) {
  return RowFilter(std::move(allows));
}

RowFilter::RowFilter(Source source) : source_(std::move(source)) {}

bool RowFilter::Allows(uint64_t row) const {
  if (const auto* bitmap = std::get_if<const Roaring64Map*>(&source_)) {
    return (*bitmap)->contains(row);
  }
  return std::get<std::function<bool(uint64_t)>>(source_)(row);
}

}  // namespace arbalest
