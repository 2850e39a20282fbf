#include "index/distance_space.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace arbalest {
namespace {

bool IsFloat(simd::ElementType type) {
  return type == simd::ElementType::kFloat32 || type == simd::ElementType::kFloat16 ||
         type == simd::ElementType::kBFloat16;
}

simd::DistanceKind KernelKind(Metric metric, bool normalize) {
  switch (metric) {
    case Metric::kL2:
      return simd::DistanceKind::kL2Squared;
    case Metric::kCosine:
      return normalize ? simd::DistanceKind::kNegativeDot : simd::DistanceKind::kCosine;
    case Metric::kDotProduct:
      return simd::DistanceKind::kNegativeDot;
  }
  return simd::DistanceKind::kL2Squared;
}

}  // namespace

DistanceSpace::DistanceSpace(Metric metric, simd::ElementType type, size_t dim)
    : metric_(metric),
      type_(type),
      dim_(dim),
      normalize_(metric == Metric::kCosine && IsFloat(type)),
      reported_offset_(normalize_ ? 1.0f : 0.0f),
      kind_(KernelKind(metric, normalize_)),
      kernels_(simd::GetKernels(kind_, type)) {}

void DistanceSpace::PrepareQuery(const float* vector, float* out) const {
  std::memcpy(out, vector, dim_ * sizeof(float));
  if (!normalize_) return;
  double norm2 = 0;
  for (size_t i = 0; i < dim_; ++i) norm2 += double{out[i]} * out[i];
  if (norm2 == 0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(norm2));
  for (size_t i = 0; i < dim_; ++i) out[i] *= scale;
}

void DistanceSpace::EncodeRow(const float* vector, void* row) const {
  if (!normalize_) return simd::EncodeRow(type_, vector, dim_, row);
  std::vector<float> normalized(dim_);
  PrepareQuery(vector, normalized.data());
  simd::EncodeRow(type_, normalized.data(), dim_, row);
}

void DistanceSpace::StoreReceivedRow(const void* received, void* row, float* scratch) const {
  const float* decoded = RowAsQuery(received, scratch);
  if (!normalize_) return simd::EncodeRow(type_, decoded, dim_, row);
  if (type_ == simd::ElementType::kFloat32) return PrepareQuery(decoded, static_cast<float*>(row));
  float* normalized = scratch + dim_;
  PrepareQuery(decoded, normalized);
  simd::EncodeRow(type_, normalized, dim_, row);
}

}  // namespace arbalest
