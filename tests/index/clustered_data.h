// Seeded synthetic embeddings for tests and benchmarks: a Gaussian mixture whose components
// are flat (low-rank covariance plus a little isotropic noise), so that, like real embeddings,
// the data has clusters and a low intrinsic dimension; uniform or isotropic noise in 384-d has
// neither and makes every neighbour almost equidistant. Also recall@k against an exact index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "index/vector_index.h"

namespace arbalest::testing {

struct Dataset {
  size_t dim = 0;
  std::vector<float> values;  // rows x dim, row-major
  size_t rows() const { return values.size() / dim; }
  std::span<const float> row(size_t i) const { return {values.data() + i * dim, dim}; }
};

// `rows` points around `clusters` centres drawn from N(0, 1) per coordinate. A point is its
// centre plus a random combination of `intrinsic_dim` directions of its cluster (N(0, 1)
// coordinates scaled to a total spread of `spread`) plus N(0, 0.05^2) per coordinate.
// Deterministic for a given seed, so queries from another seed share the clusters only if
// `clusters_seed` is the same.
Dataset ClusteredData(size_t rows, size_t dim, uint64_t seed, size_t clusters = 64,
                      size_t intrinsic_dim = 32, float spread = 1.0f, uint64_t clusters_seed = 0);

// The same data rounded to integers after scaling by `scale` (and shifted by `offset`), for
// int8/uint8 storage.
Dataset Quantized(const Dataset& data, float scale, float offset);

// ARBALEST_INDEX_TEST_ROWS when set (a small value for sanitizer builds, 100000 for a
// nightly-style run), else `fallback`.
size_t RowsFromEnv(size_t fallback);

// Adds every row of `data` to `index` from `threads` threads; the first error, if any. The
// index numbers rows in the order its Adds run, which concurrent Adds do not keep: with more
// than one thread, `ids` (data row -> index row) is required, and Invalid is returned without it.
arrow::Status AddAll(VectorIndex& index, const Dataset& data, int threads = 1,
                     std::vector<RowId>* ids = nullptr);

// Mean fraction of each query's exact top-k (from `truth`, whose rows are data rows) found by
// `index`; `ids` maps data rows to `index`'s rows when they differ (AddAll's).
arrow::Result<double> RecallAtK(const VectorIndex& index, const VectorIndex& truth,
                                const Dataset& queries, const SearchOptions& options,
                                const std::vector<RowId>* ids = nullptr);

}  // namespace arbalest::testing
