// The PQ kernels of every SIMD target this CPU supports against scalar references: codebook
// distances (both kinds), the nearest centroid, and both ADC forms, at sizes that exercise the
// unrolled vectors and the scalar tails.
#include "simd/pq_kernels.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <vector>

namespace arbalest::simd {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> values(n);
  for (float& v : values) v = unit(rng);
  return values;
}

class PqKernelsTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

TEST_P(PqKernelsTest, CodebookDistancesAndNearestCentroidMatchScalar) {
  std::mt19937 rng(3);
  for (const size_t k : {size_t{256}, size_t{13}, size_t{70}}) {
    for (const size_t dsub : {1, 3, 4, 8, 17}) {
      const std::vector<float> centroids = Random(dsub * k, rng);
      const std::vector<float> x = Random(dsub, rng);
      for (const DistanceKind kind : {DistanceKind::kL2Squared, DistanceKind::kNegativeDot}) {
        SCOPED_TRACE(testing::Message()
                     << "k=" << k << " dsub=" << dsub << " kind=" << static_cast<int>(kind));
        const PqKernels kernels = GetPqKernels(kind);
        std::vector<float> got(k);
        kernels.codebook_distances(x.data(), centroids.data(), dsub, k, got.data());
        for (size_t c = 0; c < k; ++c) {
          double want = 0;
          for (size_t i = 0; i < dsub; ++i) {
            const double value = centroids[i * k + c];
            want +=
                kind == DistanceKind::kL2Squared ? (x[i] - value) * (x[i] - value) : -x[i] * value;
          }
          EXPECT_NEAR(got[c], want, 1e-5 * static_cast<double>(dsub));
        }
        if (kind != DistanceKind::kL2Squared) continue;
        size_t first_min = 0;
        for (size_t c = 1; c < k; ++c) {
          if (got[c] < got[first_min]) first_min = c;
        }
        EXPECT_EQ(kernels.nearest_centroid(x.data(), centroids.data(), dsub, k), first_min);
      }
    }
  }
}

TEST_P(PqKernelsTest, NearestCentroidPicksTheFirstOfEquals) {
  // Centroids 5 and 200 (in different lanes and blocks) are both exactly x.
  const size_t k = 256, dsub = 2;
  std::vector<float> centroids(dsub * k, 10.0f);
  const float x[2] = {0.5f, -0.25f};
  for (const size_t c : {size_t{200}, size_t{5}}) {
    centroids[c] = x[0];
    centroids[k + c] = x[1];
  }
  EXPECT_EQ(GetPqKernels(DistanceKind::kL2Squared).nearest_centroid(x, centroids.data(), dsub, k),
            5u);
}

TEST_P(PqKernelsTest, AdcSumsTableEntries) {
  std::mt19937 rng(5);
  for (const size_t m : {1, 7, 8, 16, 48, 97}) {
    const std::vector<float> table = Random(m * kPqCentroids, rng);
    std::vector<std::vector<uint8_t>> codes(9, std::vector<uint8_t>(m));
    std::vector<const void*> pointers;
    for (auto& code : codes) {
      for (uint8_t& c : code) c = static_cast<uint8_t>(rng());
      pointers.push_back(code.data());
    }
    const PqKernels kernels = GetPqKernels(DistanceKind::kL2Squared);
    std::vector<float> got(codes.size()), gathered(codes.size());
    kernels.adc(table.data(), pointers.data(), codes.size(), m, got.data());
    kernels.adc_gather(table.data(), pointers.data(), codes.size(), m, gathered.data());
    for (size_t r = 0; r < codes.size(); ++r) {
      double want = 0;
      for (size_t j = 0; j < m; ++j) want += table[j * kPqCentroids + codes[r][j]];
      EXPECT_NEAR(got[r], want, 1e-5 * static_cast<double>(m)) << "m=" << m;
      EXPECT_NEAR(gathered[r], want, 1e-5 * static_cast<double>(m)) << "m=" << m;
    }
  }
}

std::string TargetParamName(const testing::TestParamInfo<int64_t>& info) {
  return hwy::TargetName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Targets, PqKernelsTest,
                         testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), TargetParamName);

}  // namespace
}  // namespace arbalest::simd
