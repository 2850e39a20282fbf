#include "index/flat_index.h"

#include <vector>

namespace arbalest {

arrow::Status CheckDimension(size_t got, size_t want) {
  if (got == want) return arrow::Status::OK();
  return arrow::Status::Invalid("vector has ", got, " dimensions, the index has ", want);
}

FlatIndex::FlatIndex(size_t dim, Metric metric, simd::ElementType type)
    : store_(DistanceSpace(metric, type, dim)) {}

arrow::Result<RowId> FlatIndex::Add(std::span<const float> vector) {
  ARROW_RETURN_NOT_OK(CheckDimension(vector.size(), dim()));
  return store_.Append(vector.data());
}

arrow::Status FlatIndex::Search(std::span<const float> query, const SearchOptions& options,
                                std::vector<Neighbor>* out) const {
  ARROW_RETURN_NOT_OK(CheckDimension(query.size(), dim()));
  out->clear();
  std::vector<float> prepared(dim());
  store_.space().PrepareQuery(query.data(), prepared.data());
  TopK top(options.k);
  store_.Scan(prepared.data(), options, &top);
  top.DrainSorted(out);
  for (Neighbor& n : *out) n.distance = store_.space().Reported(n.distance);
  return arrow::Status::OK();
}

MemoryUsage FlatIndex::memory() const { return {store_.vector_bytes() + store_.flag_bytes(), 0}; }

}  // namespace arbalest
