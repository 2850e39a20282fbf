#include "simd/element_type.h"

#include <arrow/util/float16.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace arbalest::simd {
namespace {

// Arrow's conversion rounds to nearest even like a hardware one; the compilers' _Float16 is not
// portable (clang before 15 refuses it on x86).
uint16_t Float16Bits(float f) { return arrow::util::Float16::FromFloat(f).bits(); }

uint16_t BFloat16Bits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // stay a quiet NaN
  const uint32_t round = 0x7FFF + ((bits >> 16) & 1);                    // to nearest even
  return static_cast<uint16_t>((bits + round) >> 16);
}

template <typename T>
T SaturateRound(float f) {
  const float lo = static_cast<float>(std::numeric_limits<T>::min());
  const float hi = static_cast<float>(std::numeric_limits<T>::max());
  if (std::isnan(f)) return 0;  // clamp would keep it; a NaN converted to an integer is undefined
  return static_cast<T>(std::clamp(std::nearbyint(f), lo, hi));
}

template <typename T, typename Fn>
void EncodeWith(const float* in, size_t dim, void* out, Fn convert) {
  T* dst = static_cast<T*>(out);
  for (size_t i = 0; i < dim; ++i) dst[i] = convert(in[i]);
}

}  // namespace

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
      return 4;
    case ElementType::kFloat16:
    case ElementType::kBFloat16:
      return 2;
    case ElementType::kInt8:
    case ElementType::kUInt8:
      return 1;
  }
  return 0;
}

std::string_view ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
      return "float32";
    case ElementType::kFloat16:
      return "float16";
    case ElementType::kBFloat16:
      return "bfloat16";
    case ElementType::kInt8:
      return "int8";
    case ElementType::kUInt8:
      return "uint8";
  }
  return "unknown";
}

void EncodeRow(ElementType type, const float* in, size_t dim, void* out) {
  switch (type) {
    case ElementType::kFloat32:
      std::memcpy(out, in, dim * sizeof(float));
      return;
    case ElementType::kFloat16:
      return EncodeWith<uint16_t>(in, dim, out, Float16Bits);
    case ElementType::kBFloat16:
      return EncodeWith<uint16_t>(in, dim, out, BFloat16Bits);
    case ElementType::kInt8:
      return EncodeWith<int8_t>(in, dim, out, SaturateRound<int8_t>);
    case ElementType::kUInt8:
      return EncodeWith<uint8_t>(in, dim, out, SaturateRound<uint8_t>);
  }
}

float DecodeElement(ElementType type, const void* row, size_t i) {
  switch (type) {
    case ElementType::kFloat32:
      return static_cast<const float*>(row)[i];
    case ElementType::kFloat16:
      return arrow::util::Float16::FromBits(static_cast<const uint16_t*>(row)[i]).ToFloat();
    case ElementType::kBFloat16:
      return std::bit_cast<float>(uint32_t{static_cast<const uint16_t*>(row)[i]} << 16);
    case ElementType::kInt8:
      return static_cast<const int8_t*>(row)[i];
    case ElementType::kUInt8:
      return static_cast<const uint8_t*>(row)[i];
  }
  return 0.0f;
}

void DecodeRow(ElementType type, const void* row, size_t dim, float* out) {
  if (type == ElementType::kFloat32) {
    std::memcpy(out, row, dim * sizeof(float));
    return;
  }
  for (size_t i = 0; i < dim; ++i) out[i] = DecodeElement(type, row, i);
}

}  // namespace arbalest::simd
