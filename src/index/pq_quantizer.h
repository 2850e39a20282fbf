// PqQuantizer: product quantization (Jegou et al.) of float32 vectors for HNSW traversal. A
// vector is cut into m sub-vectors of dim / m floats; each subspace has its own codebook of 256
// centroids learnt by k-means, and a row's code is the m bytes naming its nearest centroid in
// each subspace (dim / m times fewer bytes than SQ8, 4 dim / m times fewer than float32).
//
// Distances are asymmetric (ADC): per query, a lookup table [m][256] holds the distance from
// each query sub-vector to each centroid (L2: squared distance; inner product: negated dot),
// so a code's distance is a sum of m table entries (simd/pq_kernels.h gathers them).
//
// Training: the first `training_rows` rows given to Train, k-means per subspace with distinct
// random rows as the initial centroids (seeded), a fixed number of Lloyd iterations, an empty
// cluster re-seeded by splitting the largest one; subspaces train in parallel. The result is
// a function of (rows, seed, iterations) only, not of the thread count. Immutable after
// Train() / Restore(): thread-safe.
#pragma once

#include <arrow/result.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "index/quantizer.h"
#include "simd/distance.h"
#include "simd/pq_kernels.h"

namespace arbalest {

struct PqOptions {
  size_t m = 0;                  // subspaces (code bytes); dim must be a multiple of it
  size_t training_rows = 10240;  // Train learns from the first this many rows (>= 256)
  uint64_t seed = 42;
  int iterations = 20;  // Lloyd iterations per subspace
  int threads = 0;      // training threads; 0: one per hardware thread
};

class PqQuantizer final : public Quantizer {
 public:
  static constexpr size_t kCentroids = simd::kPqCentroids;

  // `kind` is the internal distance of the index: kL2Squared or kNegativeDot. Invalid for
  // another kind, m == 0, dim not a multiple of m, training_rows < 256 or iterations < 1.
  static arrow::Result<std::unique_ptr<PqQuantizer>> Make(simd::DistanceKind kind, size_t dim,
                                                          const PqOptions& options);
  // The m used when none is asked for: sub-vectors of 4 floats, or of the largest divisor of
  // dim below 4 (dim = 6: m = 2 of 3 floats). Measured on clustered 384-d data, 4 floats
  // (96 bytes) beat 8 (48 bytes) in QPS at recall 0.95: their error is a third as large.
  static size_t DefaultM(size_t dim);

  size_t m() const { return m_; }
  size_t code_bytes() const override { return m_; }
  // Invalid with fewer than 256 rows.
  arrow::Status Train(const std::vector<const float*>& rows) override;
  void Encode(const float* vector, uint8_t* code) const override;
  // The vector a code stands for: each subspace's centroid (dim floats to `out`).
  void Decode(const uint8_t* code, float* out) const;

  size_t query_floats() const override { return m_ * kCentroids; }
  // Builds the ADC lookup table; the constant is 0.
  float PrepareQuery(const float* query, float* table) const override;
  void Distances(const float* table, float constant, const void* const* codes, size_t n,
                 float* out) const override;

  // The codebooks: per subspace, [dim / m][256] floats (centroid c's coordinate i at
  // i * 256 + c), subspace after subspace: 256 dim floats; none before Train or Restore.
  std::vector<float> State() const override { return centroids_; }
  arrow::Status Restore(std::span<const float> state) override;

 private:
  PqQuantizer(simd::DistanceKind kind, size_t dim, const PqOptions& options);

  const float* Codebook(size_t subspace) const {
    return centroids_.data() + subspace * dsub_ * kCentroids;
  }
  // The nearest centroid (L2) of sub-vector x in `subspace`.
  uint8_t Nearest(size_t subspace, const float* x) const;
  // k-means of sub-vectors `subspace` of rows[0, n) into the subspace's codebook.
  void TrainSubspace(size_t subspace, const std::vector<const float*>& rows, size_t n);

  size_t m_, dsub_;
  PqOptions options_;
  std::vector<float> centroids_;  // State() layout; empty until Train or Restore
  simd::PqKernels l2_;            // training and encoding: nearest centroid by L2
  simd::PqKernels query_;         // lookup tables in the index's kind
};

}  // namespace arbalest
