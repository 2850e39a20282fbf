// Every kernel of every SIMD target this CPU supports against a double-precision scalar
// reference, at widths that exercise the unrolled body, the single-vector loop and the tail.
#include "simd/distance.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <vector>

namespace arbalest::simd {
namespace {

constexpr size_t kWidths[] = {1, 3, 17, 100, 384, 385, 1536};
constexpr ElementType kTypes[] = {ElementType::kFloat32, ElementType::kFloat16,
                                  ElementType::kBFloat16, ElementType::kInt8, ElementType::kUInt8};
constexpr DistanceKind kKinds[] = {DistanceKind::kL2Squared, DistanceKind::kNegativeDot,
                                   DistanceKind::kCosine};

// Random values in the natural range of `type`, encoded as a row of that type.
std::vector<uint8_t> RandomRow(ElementType type, size_t dim, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> values(dim);
  for (float& v : values) {
    v = unit(rng);
    if (type == ElementType::kInt8) v = std::round(v * 127.0f);
    if (type == ElementType::kUInt8) v = std::round((v + 1.0f) * 127.0f);
  }
  std::vector<uint8_t> row(dim * ElementSize(type));
  EncodeRow(type, values.data(), dim, row.data());
  return row;
}

struct Reference {
  double distance;
  double magnitude;  // sum of |terms|, the scale of float rounding error
};

Reference ScalarDistance(DistanceKind kind, const float* q, ElementType type, const void* row,
                         size_t dim) {
  double dot = 0, qq = 0, xx = 0, l2 = 0, magnitude = 0;
  for (size_t i = 0; i < dim; ++i) {
    const double a = q[i], b = DecodeElement(type, row, i);
    dot += a * b;
    qq += a * a;
    xx += b * b;
    l2 += (a - b) * (a - b);
    magnitude += std::abs(a * b) + (a - b) * (a - b);
  }
  switch (kind) {
    case DistanceKind::kL2Squared:
      return {l2, magnitude};
    case DistanceKind::kNegativeDot:
      return {-dot, magnitude};
    case DistanceKind::kCosine:
      return {qq > 0 && xx > 0 ? 1 - dot / std::sqrt(qq * xx) : 1, 1};
  }
  return {0, 0};
}

class DistanceTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

TEST_P(DistanceTest, DispatchesToTheRequestedTarget) {
  EXPECT_STREQ(DispatchedTargetName(), hwy::TargetName(GetParam()));
}

TEST_P(DistanceTest, AllFormsMatchScalarReference) {
  std::mt19937 rng(42);
  for (const size_t dim : kWidths) {
    for (const ElementType type : kTypes) {
      // Three queries (the matrix kernel takes them in pairs, then one alone) against 11 rows
      // (a full tile of 8 rows and a partial one).
      constexpr size_t kQueries = 3;
      std::vector<float> queries(kQueries * dim);
      for (size_t q = 0; q < kQueries; ++q) {
        std::vector<uint8_t> qbytes = RandomRow(ElementType::kFloat32, dim, rng);
        std::memcpy(queries.data() + q * dim, qbytes.data(), dim * sizeof(float));
      }
      if (type == ElementType::kInt8 || type == ElementType::kUInt8) {
        for (float& v : queries) v *= 100.0f;
      }
      const float* query = queries.data();
      std::vector<std::vector<uint8_t>> rows;
      std::vector<const void*> pointers;
      for (int r = 0; r < 11; ++r) rows.push_back(RandomRow(type, dim, rng));
      for (const auto& row : rows) pointers.push_back(row.data());
      for (const DistanceKind kind : kKinds) {
        SCOPED_TRACE(testing::Message() << "dim=" << dim << " type=" << ElementTypeName(type)
                                        << " kind=" << static_cast<int>(kind));
        const KernelSet kernels = GetKernels(kind, type);
        std::vector<float> many(rows.size()), matrix(kQueries * rows.size());
        kernels.to_rows(query, pointers.data(), rows.size(), dim, many.data());
        kernels.matrix(queries.data(), kQueries, pointers.data(), rows.size(), dim, matrix.data());
        for (size_t r = 0; r < rows.size(); ++r) {
          const Reference ref = ScalarDistance(kind, query, type, pointers[r], dim);
          const float one = kernels.one(query, pointers[r], dim);
          EXPECT_NEAR(one, ref.distance, 1e-5 * ref.magnitude + 1e-5);
          EXPECT_EQ(many[r], one);
          // Bit-identical to the one-to-one kernel, whichever queries shared the row.
          for (size_t q = 0; q < kQueries; ++q) {
            EXPECT_EQ(matrix[q * rows.size() + r], kernels.one(query + q * dim, pointers[r], dim));
          }
        }
      }
    }
  }
}

TEST_P(DistanceTest, Int8PairsMatchScalarReference) {
  std::mt19937 rng(7);
  for (const size_t dim : kWidths) {
    const std::vector<uint8_t> a = RandomRow(ElementType::kInt8, dim, rng);
    const std::vector<uint8_t> b = RandomRow(ElementType::kInt8, dim, rng);
    std::vector<float> a_float(dim);
    for (size_t i = 0; i < dim; ++i) a_float[i] = DecodeElement(ElementType::kInt8, a.data(), i);
    for (const DistanceKind kind : kKinds) {
      const Reference ref = ScalarDistance(kind, a_float.data(), ElementType::kInt8, b.data(), dim);
      const float got = GetInt8PairKernel(kind)(reinterpret_cast<const int8_t*>(a.data()),
                                                reinterpret_cast<const int8_t*>(b.data()), dim);
      EXPECT_NEAR(got, ref.distance, 1e-5 * ref.magnitude + 1e-5) << "dim=" << dim;
    }
  }
}

TEST_P(DistanceTest, DecodeMatchesScalarDecode) {
  std::mt19937 rng(11);
  for (const size_t dim : kWidths) {
    for (const ElementType type : kTypes) {
      const std::vector<uint8_t> row = RandomRow(type, dim, rng);
      std::vector<float> want(dim), got(dim);
      DecodeRow(type, row.data(), dim, want.data());
      // decode is the same for every kind; check each set's pointer all the same.
      for (const DistanceKind kind : kKinds) {
        GetKernels(kind, type).decode(row.data(), dim, got.data());
        EXPECT_EQ(got, want) << "dim=" << dim << " type=" << ElementTypeName(type);
      }
    }
  }
}

TEST_P(DistanceTest, Float16EncoderMatchesScalarEncode) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (const size_t dim : kWidths) {
    std::vector<float> values(dim);
    for (float& v : values) v = unit(rng) * 3.0f;
    // Halfway cases (ties to even), subnormals, underflow, overflow and infinities.
    const float specials[] = {1.0f + 0x1.0p-11f, 1.0f + 0x1.8p-10f, 0x1.0p-20f, -0x1.8p-24f, 1e-9f,
                              65519.0f,          65520.0f,          -1e6f,      INFINITY,    -0.0f};
    for (size_t i = 0; i < dim; ++i) {
      if (i % 7 == 3) values[i] = specials[(i / 7) % std::size(specials)];
    }
    std::vector<uint16_t> want(dim), got(dim);
    EncodeRow(ElementType::kFloat16, values.data(), dim, want.data());
    GetFloat16Encoder()(values.data(), dim, got.data());
    EXPECT_EQ(got, want) << "dim=" << dim;
  }
}

TEST(DistanceEdgeTest, CosineOfZeroVectorIsOne) {
  const std::vector<float> zero(8, 0.0f), one(8, 1.0f);
  EXPECT_EQ(
      GetKernels(DistanceKind::kCosine, ElementType::kFloat32).one(zero.data(), one.data(), 8),
      1.0f);
}

std::string TargetParamName(const testing::TestParamInfo<int64_t>& info) {
  return hwy::TargetName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Targets, DistanceTest,
                         testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), TargetParamName);

}  // namespace
}  // namespace arbalest::simd
