// Sq8Quantizer: scalar quantization of float32 vectors to one byte per dimension, with a
// per-dimension [min, max] range learnt from a training sample. Search compares a float query
// with codes directly (asymmetric distance: the query is never quantized), using the uint8
// SIMD kernel on a rewritten query:
//
//   x_i ~ min_i + c_i * s_i, s_i = (max_i - min_i) / 255
//   L2:  |q - x|^2 = |q - min|^2 - 2 sum((q_i - min_i) s_i c_i) + sum(s_i^2 c_i^2)
//   dot: -(q . x)  = -(q . min) - sum(q_i s_i c_i)
//
// so a code record is [dim code bytes][padding to 4][float sum(s_i^2 c_i^2)] and a query
// becomes a weight vector (dim floats) plus a constant. The saved state is min then max.
// Immutable after Train(): thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "index/quantizer.h"
#include "simd/distance.h"

namespace arbalest {

class Sq8Quantizer final : public Quantizer {
 public:
  // `kind` is the internal distance of the index: kL2Squared or kNegativeDot.
  Sq8Quantizer(simd::DistanceKind kind, size_t dim);

  size_t code_bytes() const override { return residual_offset_ + sizeof(float); }
  // Learns the per-dimension range from all of `rows`.
  arrow::Status Train(const std::vector<const float*>& rows) override;
  void Encode(const float* vector, uint8_t* code) const override;

  size_t query_floats() const override { return dim_; }
  float PrepareQuery(const float* query, float* weights) const override;
  void Distances(const float* weights, float constant, const void* const* codes, size_t n,
                 float* out) const override;

  std::vector<float> State() const override;
  arrow::Status Restore(std::span<const float> state) override;

 private:
  void SetRange(std::vector<float> min, std::vector<float> max);

  simd::DistanceKind kind_;
  size_t dim_;
  size_t residual_offset_;
  std::vector<float> min_, max_, scale_;
  simd::DistanceToRowsFn code_dot_;  // -(weights . codes)
};

}  // namespace arbalest
