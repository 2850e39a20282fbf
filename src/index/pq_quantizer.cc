#include "index/pq_quantizer.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <thread>

#include "index/parallel_tasks.h"

namespace arbalest {
namespace {

constexpr size_t kDefaultSubDim = 4;

}  // namespace

size_t PqQuantizer::DefaultM(size_t dim) {
  size_t dsub = std::min(kDefaultSubDim, std::max<size_t>(dim, 1));
  while (dim % dsub != 0) --dsub;
  return dim / dsub;
}

arrow::Result<std::unique_ptr<PqQuantizer>> PqQuantizer::Make(simd::DistanceKind kind, size_t dim,
                                                              const PqOptions& options) {
  if (kind != simd::DistanceKind::kL2Squared && kind != simd::DistanceKind::kNegativeDot) {
    return arrow::Status::Invalid("PQ supports L2 and inner-product distances only");
  }
  if (options.m == 0 || dim % options.m != 0) {
    return arrow::Status::Invalid("PQ m must divide the dimension ", dim, ", got ", options.m);
  }
  if (options.training_rows < kCentroids) {
    return arrow::Status::Invalid("PQ needs at least ", kCentroids, " training rows, got ",
                                  options.training_rows);
  }
  if (options.iterations < 1) {
    return arrow::Status::Invalid("PQ needs at least one k-means iteration");
  }
  return std::unique_ptr<PqQuantizer>(new PqQuantizer(kind, dim, options));
}

PqQuantizer::PqQuantizer(simd::DistanceKind kind, size_t dim, const PqOptions& options)
    : m_(options.m),
      dsub_(dim / options.m),
      options_(options),
      l2_(simd::GetPqKernels(simd::DistanceKind::kL2Squared)),
      query_(simd::GetPqKernels(kind)) {}

arrow::Status PqQuantizer::Train(const std::vector<const float*>& rows) {
  if (rows.size() < kCentroids) {
    return arrow::Status::Invalid("PQ training needs at least ", kCentroids, " rows, got ",
                                  rows.size());
  }
  const size_t n = std::min(rows.size(), options_.training_rows);
  // The codebooks take dim KiB, allocated once there are rows to learn them from: a dataset
  // created with PQ holds none until then (a logged create of a wide dataset replayed allocates
  // nothing for them).
  centroids_.assign(m_ * dsub_ * kCentroids, 0.0f);
  const size_t threads = std::clamp<size_t>(
      options_.threads > 0 ? options_.threads : std::thread::hardware_concurrency(), 1, m_);
  ForEachTask(m_, static_cast<int>(threads), 1, [&](size_t j) { TrainSubspace(j, rows, n); });
  return arrow::Status::OK();
}

void PqQuantizer::TrainSubspace(size_t subspace, const std::vector<const float*>& rows, size_t n) {
  const size_t offset = subspace * dsub_;
  std::vector<float> points(n * dsub_);
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(rows[i] + offset, dsub_, points.data() + i * dsub_);
  }
  // Initial centroids: kCentroids distinct rows, a partial Fisher-Yates shuffle.
  std::mt19937_64 rng(options_.seed ^ (0x9E3779B97F4A7C15ull * (subspace + 1)));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  float* codebook = centroids_.data() + subspace * dsub_ * kCentroids;  // [dsub][kCentroids]
  for (size_t c = 0; c < kCentroids; ++c) {
    std::swap(order[c], order[c + rng() % (n - c)]);
    for (size_t i = 0; i < dsub_; ++i) codebook[i * kCentroids + c] = points[order[c] * dsub_ + i];
  }
  std::vector<double> sums(kCentroids * dsub_);
  std::vector<size_t> counts(kCentroids);
  for (int iteration = 0; iteration < options_.iterations; ++iteration) {
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t p = 0; p < n; ++p) {
      const float* x = points.data() + p * dsub_;
      const size_t c = l2_.nearest_centroid(x, codebook, dsub_, kCentroids);
      ++counts[c];
      for (size_t i = 0; i < dsub_; ++i) sums[c * dsub_ + i] += x[i];
    }
    for (size_t c = 0; c < kCentroids; ++c) {
      if (counts[c] == 0) continue;
      for (size_t i = 0; i < dsub_; ++i) {
        codebook[i * kCentroids + c] = static_cast<float>(sums[c * dsub_ + i] / counts[c]);
      }
    }
    // An empty cluster takes half of the largest: its centroid, nudged apart both ways.
    for (size_t c = 0; c < kCentroids; ++c) {
      if (counts[c] != 0) continue;
      const size_t big =
          static_cast<size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
      constexpr float kNudge = 1.0f / 1024;
      for (size_t i = 0; i < dsub_; ++i) {
        float& from = codebook[i * kCentroids + big];
        const float sign = i % 2 == 0 ? 1.0f : -1.0f;
        codebook[i * kCentroids + c] = from * (1 + sign * kNudge);
        from *= 1 - sign * kNudge;
      }
      counts[c] = counts[big] / 2;
      counts[big] -= counts[c];
    }
  }
}

uint8_t PqQuantizer::Nearest(size_t subspace, const float* x) const {
  return static_cast<uint8_t>(l2_.nearest_centroid(x, Codebook(subspace), dsub_, kCentroids));
}

void PqQuantizer::Encode(const float* vector, uint8_t* code) const {
  for (size_t j = 0; j < m_; ++j) code[j] = Nearest(j, vector + j * dsub_);
}

void PqQuantizer::Decode(const uint8_t* code, float* out) const {
  for (size_t j = 0; j < m_; ++j) {
    const float* codebook = Codebook(j);
    for (size_t i = 0; i < dsub_; ++i) out[j * dsub_ + i] = codebook[i * kCentroids + code[j]];
  }
}

float PqQuantizer::PrepareQuery(const float* query, float* table) const {
  for (size_t j = 0; j < m_; ++j) {
    query_.codebook_distances(query + j * dsub_, Codebook(j), dsub_, kCentroids,
                              table + j * kCentroids);
  }
  return 0.0f;
}

void PqQuantizer::Distances(const float* table, float constant, const void* const* codes, size_t n,
                            float* out) const {
  query_.adc(table, codes, n, m_, out);
  if (constant != 0.0f) {
    for (size_t i = 0; i < n; ++i) out[i] += constant;
  }
}

arrow::Status PqQuantizer::Restore(std::span<const float> state) {
  if (state.size() != m_ * dsub_ * kCentroids) {
    return arrow::Status::Invalid("PQ codebooks of ", state.size(), " floats, want ",
                                  m_ * dsub_ * kCentroids);
  }
  centroids_.assign(state.begin(), state.end());
  return arrow::Status::OK();
}

}  // namespace arbalest
