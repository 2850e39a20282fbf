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

}  // namespace arbalest::testing
