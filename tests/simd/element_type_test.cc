#include "simd/element_type.h"

#include <gtest/gtest.h>

#include <vector>

namespace arbalest::simd {
namespace {

std::vector<float> RoundTrip(ElementType type, const std::vector<float>& in) {
  std::vector<uint8_t> bytes(ElementSize(type) * in.size());
  EncodeRow(type, in.data(), in.size(), bytes.data());
  std::vector<float> out;
  for (size_t i = 0; i < in.size(); ++i) out.push_back(DecodeElement(type, bytes.data(), i));
  return out;
}

TEST(ElementTypeTest, SizesAndNames) {
  EXPECT_EQ(ElementSize(ElementType::kFloat32), 4u);
  EXPECT_EQ(ElementSize(ElementType::kBFloat16), 2u);
  EXPECT_EQ(ElementSize(ElementType::kUInt8), 1u);
  EXPECT_EQ(ElementTypeName(ElementType::kFloat16), "float16");
}

TEST(ElementTypeTest, FloatsRoundTripWithinTheirPrecision) {
  const std::vector<float> in = {0.0f, 1.5f, -2.25f, 1.0f / 3.0f, 65504.0f};
  EXPECT_EQ(RoundTrip(ElementType::kFloat32, in), in);
  const std::vector<float> half = RoundTrip(ElementType::kFloat16, in);
  const std::vector<float> brain = RoundTrip(ElementType::kBFloat16, in);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_NEAR(half[i], in[i], 1e-3 * std::abs(in[i]));
    EXPECT_NEAR(brain[i], in[i], 1e-2 * std::abs(in[i]));
  }
  EXPECT_EQ(half[1], 1.5f);
  EXPECT_EQ(brain[2], -2.25f);
}

TEST(ElementTypeTest, IntegersRoundToNearestEvenAndSaturate) {
  EXPECT_EQ(RoundTrip(ElementType::kInt8, {2.5f, -3.6f, 200.0f, -300.0f}),
            (std::vector<float>{2, -4, 127, -128}));
  EXPECT_EQ(RoundTrip(ElementType::kUInt8, {-5.0f, 254.6f, 999.0f, 7.0f}),
            (std::vector<float>{0, 255, 255, 7}));
}

}  // namespace
}  // namespace arbalest::simd
