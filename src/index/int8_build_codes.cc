#include "index/int8_build_codes.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace arbalest {
namespace {

constexpr float kCodeMax = 127.0f;
// The learnt range is widened by this factor: rows past the sample's extremes are clamped less.
constexpr float kMargin = 1.05f;

}  // namespace

void Int8BuildCodes::Learn(size_t rows, const std::function<const float*(size_t)>& row) {
  if (rows == 0 || learned()) return;
  std::lock_guard lock(learn_mutex_);
  if (learned()) return;
  const size_t sample = std::min(rows, kLearnRows);
  std::vector<float> low(dim_, std::numeric_limits<float>::infinity());
  std::vector<float> high(dim_, -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < sample; ++i) {
    const float* x = row(i * rows / sample);
    for (size_t d = 0; d < dim_; ++d) {
      if (!std::isfinite(x[d])) continue;
      low[d] = std::min(low[d], x[d]);
      high[d] = std::max(high[d], x[d]);
    }
  }
  const bool midpoints = offsets_ && sample >= kMinLearnRows;
  float half_range = 0.0f;  // the widest dimension's, around its offset
  for (size_t d = 0; d < dim_; ++d) {
    if (low[d] > high[d]) continue;  // no finite value seen
    if (midpoints) offset_[d] = low[d] / 2 + high[d] / 2;
    half_range = std::max({half_range, high[d] - offset_[d], offset_[d] - low[d]});
  }
  // Too few rows to trust their range: twice the largest magnitude, around 0.
  if (sample < kMinLearnRows) half_range *= 2.0f;
  if (!(half_range > 0.0f) || !std::isfinite(half_range)) half_range = 1.0f;
  inverse_scale_ = kCodeMax / (half_range * kMargin);
  learned_.store(true, std::memory_order_release);
}

void Int8BuildCodes::Encode(const float* row, int8_t* out) const {
  const float* offset = offset_.data();
  const float inverse = inverse_scale_;
  for (size_t d = 0; d < dim_; ++d) {
    const float scaled = (row[d] - offset[d]) * inverse;
    const float code = std::isnan(scaled) ? 0.0f : std::clamp(scaled, -kCodeMax, kCodeMax);
    out[d] = static_cast<int8_t>(std::nearbyint(code));
  }
}

}  // namespace arbalest
