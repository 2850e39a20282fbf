#include "index/sq8_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace arbalest {

Sq8Quantizer::Sq8Quantizer(simd::DistanceKind kind, size_t dim)
    : kind_(kind),
      dim_(dim),
      residual_offset_((dim + 3) / 4 * 4),
      code_dot_(
          simd::GetKernels(simd::DistanceKind::kNegativeDot, simd::ElementType::kUInt8).to_rows) {}

arrow::Status Sq8Quantizer::Train(const std::vector<const float*>& rows) {
  std::vector<float> min(dim_, std::numeric_limits<float>::max());
  std::vector<float> max(dim_, std::numeric_limits<float>::lowest());
  for (const float* row : rows) {
    for (size_t i = 0; i < dim_; ++i) {
      min[i] = std::min(min[i], row[i]);
      max[i] = std::max(max[i], row[i]);
    }
  }
  SetRange(std::move(min), std::move(max));
  return arrow::Status::OK();
}

std::vector<float> Sq8Quantizer::State() const {
  std::vector<float> state(min_);
  state.insert(state.end(), max_.begin(), max_.end());
  return state;
}

arrow::Status Sq8Quantizer::Restore(std::span<const float> state) {
  if (state.size() != 2 * dim_) {
    return arrow::Status::Invalid("SQ8 state of ", state.size(), " floats, want ", 2 * dim_);
  }
  SetRange({state.begin(), state.begin() + dim_}, {state.begin() + dim_, state.end()});
  return arrow::Status::OK();
}

void Sq8Quantizer::SetRange(std::vector<float> min, std::vector<float> max) {
  min_ = std::move(min);
  max_ = std::move(max);
  scale_.resize(dim_);
  for (size_t i = 0; i < dim_; ++i) scale_[i] = std::max(max_[i] - min_[i], 0.0f) / 255.0f;
}

void Sq8Quantizer::Encode(const float* vector, uint8_t* code) const {
  float residual = 0;
  for (size_t i = 0; i < dim_; ++i) {
    const float level = scale_[i] > 0 ? (vector[i] - min_[i]) / scale_[i] : 0.0f;
    // A NaN (from a NaN or infinite value or range) codes as 0: clamp would keep it, and
    // converting a NaN to an integer is undefined.
    const uint8_t c = std::isnan(level)
                          ? 0
                          : static_cast<uint8_t>(std::clamp(std::nearbyint(level), 0.0f, 255.0f));
    code[i] = c;
    residual += scale_[i] * scale_[i] * c * c;
  }
  std::memcpy(code + residual_offset_, &residual, sizeof(residual));
}

float Sq8Quantizer::PrepareQuery(const float* query, float* weights) const {
  float constant = 0;
  for (size_t i = 0; i < dim_; ++i) {
    if (kind_ == simd::DistanceKind::kL2Squared) {
      const float shifted = query[i] - min_[i];
      constant += shifted * shifted;
      weights[i] = shifted * scale_[i];
    } else {
      constant -= query[i] * min_[i];
      weights[i] = query[i] * scale_[i];
    }
  }
  return constant;
}

void Sq8Quantizer::Distances(const float* weights, float constant, const void* const* codes,
                             size_t n, float* out) const {
  code_dot_(weights, codes, n, dim_, out);
  for (size_t i = 0; i < n; ++i) {
    if (kind_ == simd::DistanceKind::kL2Squared) {
      float residual;
      std::memcpy(&residual, static_cast<const uint8_t*>(codes[i]) + residual_offset_,
                  sizeof(residual));
      out[i] = constant + 2.0f * out[i] + residual;
    } else {
      out[i] += constant;
    }
  }
}

}  // namespace arbalest
