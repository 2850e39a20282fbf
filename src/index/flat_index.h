// FlatIndex: exact k-nearest-neighbour search by scanning every row with the SIMD kernels.
// The reference for recall, and the right index for small or heavily filtered datasets.
#pragma once

#include <memory>

#include "index/distance_space.h"
#include "index/index_rows.h"
#include "index/vector_index.h"

namespace arbalest {

class FlatIndex final : public VectorIndex {
 public:
  FlatIndex(size_t dim, Metric metric, simd::ElementType type = simd::ElementType::kFloat32);

  arrow::Result<RowId> Add(std::span<const float> vector) override;
  arrow::Status Delete(RowId row) override;
  arrow::Status Search(std::span<const float> query, const SearchOptions& options,
                       std::vector<Neighbor>* out) const override;

  size_t dim() const override { return store_.space().dim(); }
  uint64_t size() const override { return store_.count(); }
  MemoryUsage memory() const override;

 private:
  IndexRows store_;
};

// Shared by the index kinds: Invalid unless `got` == `want`.
arrow::Status CheckDimension(size_t got, size_t want);

}  // namespace arbalest
