#include "index/int8_build_codes.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace arbalest {
namespace {

constexpr float kCodeMax = 127.0f;
// The learnt range is widened by this factor: rows past the sample's extremes are clamped less.
constexpr float kMargin = 1.05f;

}  // namespace

void Int8BuildCodes::Range(size_t rows, const RowFn& row, std::vector<float>* low,
                           std::vector<float>* high) const {
  low->assign(dim_, std::numeric_limits<float>::infinity());
  high->assign(dim_, -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < rows; ++i) {
    const float* x = row(i);
    for (size_t d = 0; d < dim_; ++d) {
      if (!std::isfinite(x[d])) continue;
      (*low)[d] = std::min((*low)[d], x[d]);
      (*high)[d] = std::max((*high)[d], x[d]);
    }
  }
}

void Int8BuildCodes::SetRange(const std::vector<float>& low, const std::vector<float>& high,
                              size_t seen, float margin) {
  const bool midpoints = offsets_ && seen >= kMinLearnRows;
  float half_range = 0.0f;  // the widest dimension's, around its offset
  for (size_t d = 0; d < dim_; ++d) {
    offset_[d] = 0.0f;
    if (low[d] > high[d]) continue;  // no finite value seen
    if (midpoints) offset_[d] = low[d] / 2 + high[d] / 2;
    half_range = std::max({half_range, high[d] - offset_[d], offset_[d] - low[d]});
  }
  // Too few rows to trust their range: twice the largest magnitude, around 0.
  if (seen < kMinLearnRows) half_range *= 2.0f;
  if (!(half_range > 0.0f) || !std::isfinite(half_range)) half_range = 1.0f;
  inverse_scale_ = kCodeMax / (half_range * margin);
  learned_.store(true, std::memory_order_release);
}

void Int8BuildCodes::Learn(size_t rows, const RowFn& row) {
  if (rows == 0 || learned()) return;
  std::vector<float> low, high;
  Range(rows, row, &low, &high);
  SetRange(low, high, rows, kMargin);
}

bool Int8BuildCodes::Covers(size_t rows, const RowFn& row) const {
  if (!learned()) return false;
  // (x - offset) * inverse within [-kCodeMax, kCodeMax], with a little room for rounding.
  const float limit = kCodeMax * 1.0001f;
  for (size_t i = 0; i < rows; ++i) {
    const float* x = row(i);
    for (size_t d = 0; d < dim_; ++d) {
      const float scaled = (x[d] - offset_[d]) * inverse_scale_;
      // Not finite: encoded as 0 (NaN) or clamped like any infinity, whatever the range.
      if (std::isfinite(x[d]) && !(std::fabs(scaled) <= limit)) return false;
    }
  }
  return true;
}

void Int8BuildCodes::Widen(size_t rows, const RowFn& row) {
  if (rows == 0) return;
  std::vector<float> low, high;
  Range(rows, row, &low, &high);
  SetRange(low, high, rows, kWidenHeadroom);
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

Int8BuildCodes::Separation Int8BuildCodes::Separate(size_t rows, const RowFn& row,
                                                    simd::Float16EncodeFn encode_half) const {
  std::vector<int8_t> code(dim_);
  std::vector<uint16_t> half(dim_);
  std::vector<uint64_t> codes, halves;
  codes.reserve(rows);
  halves.reserve(rows);
  for (size_t i = 0; i < rows; ++i) {
    const float* x = row(i);
    Encode(x, code.data());
    encode_half(x, dim_, half.data());
    codes.push_back(XXH3_64bits(code.data(), dim_));
    halves.push_back(XXH3_64bits(half.data(), dim_ * sizeof(uint16_t)));
  }
  auto distinct = [](std::vector<uint64_t>& hashes) {
    std::sort(hashes.begin(), hashes.end());
    return static_cast<uint64_t>(std::unique(hashes.begin(), hashes.end()) - hashes.begin());
  };
  return {.rows = rows, .int8_distinct = distinct(codes), .float16_distinct = distinct(halves)};
}

std::vector<float> Int8BuildCodes::State() const {
  if (!learned()) return {};
  std::vector<float> state{inverse_scale_};
  state.insert(state.end(), offset_.begin(), offset_.end());
  return state;
}

arrow::Status Int8BuildCodes::Restore(std::span<const float> state) {
  if (state.size() != state_floats()) {
    return arrow::Status::Invalid("an int8 build range of ", state.size(), " floats; ",
                                  state_floats(), " expected (dimension ", dim_, ")");
  }
  if (!(state[0] > 0.0f) || !std::isfinite(state[0]) ||
      !std::all_of(state.begin() + 1, state.end(), [](float x) { return std::isfinite(x); })) {
    return arrow::Status::Invalid("an int8 build range with a scale or offset that is not finite",
                                  " (inverse scale ", state[0], ")");
  }
  inverse_scale_ = state[0];
  std::copy(state.begin() + 1, state.end(), offset_.begin());
  learned_.store(true, std::memory_order_release);
  return arrow::Status::OK();
}

}  // namespace arbalest
