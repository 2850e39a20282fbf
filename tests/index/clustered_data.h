// Seeded synthetic embeddings for tests and benchmarks: a Gaussian mixture whose components
// are flat (low-rank covariance plus a little isotropic noise), so that, like real embeddings,
// the data has clusters and a low intrinsic dimension; uniform or isotropic noise in 384-d has
// neither and makes every neighbour almost equidistant. Also recall@k against an exact index.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "index/search_options.h"

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
// (HnswIndex or FlatIndex.)
template <class Index>
arrow::Status AddAll(Index& index, const Dataset& data, int threads = 1,
                     std::vector<RowId>* ids = nullptr);

// Mean fraction of each query's exact top-k (from `truth`, whose rows are data rows) found by
// `index`; `ids` maps data rows to `index`'s rows when they differ (AddAll's).
template <class Index, class Truth>
arrow::Result<double> RecallAtK(const Index& index, const Truth& truth, const Dataset& queries,
                                const SearchOptions& options,
                                const std::vector<RowId>* ids = nullptr);

// ---- Implementation ----

template <class Index>
arrow::Status AddAll(Index& index, const Dataset& data, int threads, std::vector<RowId>* ids) {
  if (threads > 1 && ids == nullptr) {
    return arrow::Status::Invalid("AddAll from ", threads,
                                  " threads numbers rows in arrival order: pass `ids`");
  }
  if (ids) ids->assign(data.rows(), 0);
  std::atomic<size_t> next{0};
  std::mutex mutex;
  arrow::Status first_error;
  auto work = [&] {
    for (size_t r = next++; r < data.rows(); r = next++) {
      arrow::Result<RowId> added = index.Add(data.row(r));
      if (added.ok() && ids) (*ids)[r] = *added;
      if (added.ok()) continue;
      arrow::Status status = added.status();
      std::lock_guard lock(mutex);
      if (first_error.ok()) first_error = std::move(status);
      return;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return first_error;
}

template <class Index, class Truth>
arrow::Result<double> RecallAtK(const Index& index, const Truth& truth, const Dataset& queries,
                                const SearchOptions& options, const std::vector<RowId>* ids) {
  std::vector<Neighbor> got, want;
  size_t found = 0, expected = 0;
  for (size_t q = 0; q < queries.rows(); ++q) {
    ARROW_RETURN_NOT_OK(index.Search(queries.row(q), options, &got));
    ARROW_RETURN_NOT_OK(truth.Search(queries.row(q), options, &want));
    for (const Neighbor& w : want) {
      const RowId row = ids ? (*ids)[w.row] : w.row;
      found += std::any_of(got.begin(), got.end(), [&](const Neighbor& g) { return g.row == row; });
    }
    expected += want.size();
  }
  return expected == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(expected);
}

}  // namespace arbalest::testing
