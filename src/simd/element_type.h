// The element types a stored vector can have, and the scalar conversions between them and
// float32. Vectors arrive as float32 (or as integers carried in floats); the index stores
// them in one of these types to trade memory for precision. Conversion is not on the hot
// path (it happens once per inserted vector), so it is plain scalar code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace arbalest::simd {

enum class ElementType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,   // IEEE 754 binary16
  kBFloat16 = 2,  // upper half of a float32
  kInt8 = 3,      // integers in [-128, 127]
  kUInt8 = 4,     // integers in [0, 255]
};
inline constexpr int kNumElementTypes = 5;

// Bytes per element.
size_t ElementSize(ElementType type);

// "float32", "float16", "bfloat16", "int8", "uint8".
std::string_view ElementTypeName(ElementType type);

// Writes `dim` elements of `type` converted from `in` to `out` (ElementSize(type) * dim
// bytes). Floats round to nearest even; integers round to nearest and saturate.
void EncodeRow(ElementType type, const float* in, size_t dim, void* out);

// Element `i` of a row of `type`, as float32.
float DecodeElement(ElementType type, const void* row, size_t i);

// Writes the `dim` elements of `row` as float32 to `out`.
void DecodeRow(ElementType type, const void* row, size_t dim, float* out);

}  // namespace arbalest::simd
