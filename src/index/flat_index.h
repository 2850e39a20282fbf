// FlatIndex: exact k-nearest-neighbour search by scanning every row with the SIMD kernels.
// The reference for recall in tests and benchmarks. Rows are dense ids handed out by Add in
// call order. Thread-safety: Add and Search may run concurrently.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <memory>
#include <span>
#include <vector>

#include "index/distance_space.h"
#include "index/index_rows.h"
#include "index/memory_usage.h"
#include "index/search_options.h"

namespace arbalest {

class FlatIndex final {
 public:
  FlatIndex(size_t dim, Metric metric, simd::ElementType type = simd::ElementType::kFloat32);

  // Adds one vector of dim() floats; returns its row id. Invalid on a dimension mismatch.
  arrow::Result<RowId> Add(std::span<const float> vector);
  // Writes the k nearest rows that options allow (fewer only when fewer match), nearest first,
  // to `out` (cleared first). Invalid on a dimension mismatch.
  arrow::Status Search(std::span<const float> query, const SearchOptions& options,
                       std::vector<Neighbor>* out) const;

  size_t dim() const { return store_.space().dim(); }
  uint64_t size() const { return store_.count(); }
  MemoryUsage memory() const;

 private:
  IndexRows store_;
};

// Shared by the index kinds: Invalid unless `got` == `want`.
arrow::Status CheckDimension(size_t got, size_t want);

}  // namespace arbalest
