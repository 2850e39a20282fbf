#include "clustered_data.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace arbalest::testing {

Dataset ClusteredData(size_t rows, size_t dim, uint64_t seed, size_t clusters, size_t intrinsic_dim,
                      float spread, uint64_t clusters_seed) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Centres and each cluster's directions (scaled so a point's spread is about `spread`).
  std::mt19937_64 shape_rng(clusters_seed);
  std::vector<float> centres(clusters * dim), directions(clusters * intrinsic_dim * dim);
  for (float& v : centres) v = normal(shape_rng);
  const float scale = spread / std::sqrt(static_cast<float>(intrinsic_dim));
  for (float& v : directions) v = scale * normal(shape_rng);

  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::vector<float> latent(intrinsic_dim);
  Dataset data{dim, std::vector<float>(rows * dim)};
  for (size_t r = 0; r < rows; ++r) {
    const size_t c = pick(rng);
    float* out = data.values.data() + r * dim;
    for (size_t i = 0; i < dim; ++i) out[i] = centres[c * dim + i] + 0.05f * normal(rng);
    for (float& z : latent) z = normal(rng);
    for (size_t j = 0; j < intrinsic_dim; ++j) {
      const float* direction = directions.data() + (c * intrinsic_dim + j) * dim;
      for (size_t i = 0; i < dim; ++i) out[i] += latent[j] * direction[i];
    }
  }
  return data;
}

Dataset Quantized(const Dataset& data, float scale, float offset) {
  Dataset out = data;
  for (float& v : out.values) v = std::round(v * scale + offset);
  return out;
}

size_t RowsFromEnv(size_t fallback) {
  const char* value = std::getenv("ARBALEST_INDEX_TEST_ROWS");
  return value != nullptr ? std::strtoull(value, nullptr, 10) : fallback;
}

arrow::Status AddAll(VectorIndex& index, const Dataset& data, int threads,
                     std::vector<RowId>* ids) {
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

arrow::Result<double> RecallAtK(const VectorIndex& index, const VectorIndex& truth,
                                const Dataset& queries, const SearchOptions& options,
                                const std::vector<RowId>* ids) {
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
