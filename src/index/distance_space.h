// DistanceSpace: how one index compares vectors: its metric, the element type rows are
// stored in, the dimension, and the SIMD kernels resolved once for them. It owns the
// conventions every index shares: cosine over float storage normalises rows and queries so
// the search uses a plain inner product; over integer storage rows stay as given and the
// cosine kernel computes the norms. Internally every distance is "smaller is closer";
// Reported() turns it into the metric's distance.
//
// Immutable after construction: thread-safe.
#pragma once

#include <cstddef>

#include "index/metric.h"
#include "simd/distance.h"
#include "simd/element_type.h"

namespace arbalest {

class DistanceSpace {
 public:
  DistanceSpace(Metric metric, simd::ElementType type, size_t dim);

  Metric metric() const { return metric_; }
  simd::ElementType type() const { return type_; }
  size_t dim() const { return dim_; }
  size_t row_bytes() const { return dim_ * simd::ElementSize(type_); }
  // Whether stored rows are normalized copies of the input (cosine over float storage), not
  // the input's bytes.
  bool normalizes() const { return normalize_; }
  // The kernel's distance: kL2Squared, kNegativeDot (dot product, and cosine over
  // normalised float rows) or kCosine (cosine over integer rows).
  simd::DistanceKind kind() const { return kind_; }

  // Converts an input vector into its stored form (row_bytes() at `row`).
  void EncodeRow(const float* vector, void* row) const;
  // The stored form (row_bytes() at `row`) of a vector received as elements of type() (the
  // bytes of an Arrow vector column), bit for bit what EncodeRow makes of it once decoded:
  // for the spaces that store something else than the input (normalizes()). `scratch`: room
  // for 2 * dim() floats.
  void StoreReceivedRow(const void* received, void* row, float* scratch) const;
  // Writes the query form of an input vector (dim() floats) to `out`.
  void PrepareQuery(const float* vector, float* out) const;
  // A stored row in query form: the row itself for float32, else decoded into `scratch`.
  const float* RowAsQuery(const void* row, float* scratch) const {
    if (type_ == simd::ElementType::kFloat32) return static_cast<const float*>(row);
    kernels_.decode(row, dim_, scratch);
    return scratch;
  }

  float Distance(const float* query, const void* row) const {
    return kernels_.one(query, row, dim_);
  }
  void DistancesToRows(const float* query, const void* const* rows, size_t n, float* out) const {
    kernels_.to_rows(query, rows, n, dim_, out);
  }
  // `nq` queries (row-major) against `n` rows: out[q * n + i], with the tiled kernel.
  void DistanceMatrix(const float* queries, size_t nq, const void* const* rows, size_t n,
                      float* out) const {
    kernels_.matrix(queries, nq, rows, n, dim_, out);
  }
  float Reported(float distance) const { return distance + reported_offset_; }

 private:
  Metric metric_;
  simd::ElementType type_;
  size_t dim_;
  bool normalize_;
  float reported_offset_;
  simd::DistanceKind kind_;
  simd::KernelSet kernels_;
};

}  // namespace arbalest
