// PqQuantizer on its own: parameters refused, reconstruction error, ADC against brute force
// over decoded vectors, determinism of training, and the saved state.
#include "index/pq_quantizer.h"

#include <gtest/gtest.h>

#include <numeric>

#include "clustered_data.h"

namespace arbalest {
namespace {

using simd::DistanceKind;

constexpr size_t kDim = 64;
constexpr size_t kRows = 3000;

std::vector<const float*> RowPointers(const testing::Dataset& data) {
  std::vector<const float*> rows(data.rows());
  for (size_t i = 0; i < data.rows(); ++i) rows[i] = data.row(i).data();
  return rows;
}

std::unique_ptr<PqQuantizer> Trained(const testing::Dataset& data, const PqOptions& options,
                                     DistanceKind kind = DistanceKind::kL2Squared) {
  std::unique_ptr<PqQuantizer> pq = PqQuantizer::Make(kind, data.dim, options).ValueOrDie();
  EXPECT_TRUE(pq->Train(RowPointers(data)).ok());
  return pq;
}

double SquaredDistance(const float* a, const float* b, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return sum;
}

TEST(PqQuantizerTest, BadParametersAreRefused) {
  const auto l2 = DistanceKind::kL2Squared;
  EXPECT_TRUE(PqQuantizer::Make(l2, kDim, {.m = 0}).status().IsInvalid());
  EXPECT_TRUE(PqQuantizer::Make(l2, kDim, {.m = 7}).status().IsInvalid());
  EXPECT_TRUE(PqQuantizer::Make(l2, kDim, {.m = 128}).status().IsInvalid());
  EXPECT_TRUE(PqQuantizer::Make(l2, kDim, {.m = 8, .training_rows = 255}).status().IsInvalid());
  EXPECT_TRUE(PqQuantizer::Make(l2, kDim, {.m = 8, .iterations = 0}).status().IsInvalid());
  EXPECT_TRUE(PqQuantizer::Make(DistanceKind::kCosine, kDim, {.m = 8}).status().IsInvalid());
  ASSERT_TRUE(PqQuantizer::Make(DistanceKind::kNegativeDot, kDim, {.m = 8}).ok());

  auto pq = PqQuantizer::Make(l2, kDim, {.m = 8}).ValueOrDie();
  const testing::Dataset few = testing::ClusteredData(255, kDim, 1);
  const arrow::Status status = pq->Train(RowPointers(few));
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("256"), std::string::npos) << status.ToString();
  EXPECT_TRUE(pq->Restore(std::vector<float>(kDim * 255)).IsInvalid());
}

TEST(PqQuantizerTest, DefaultMUsesSubVectorsOfFourFloatsOrFewer) {
  EXPECT_EQ(PqQuantizer::DefaultM(384), 96u);
  EXPECT_EQ(PqQuantizer::DefaultM(100), 25u);
  EXPECT_EQ(PqQuantizer::DefaultM(6), 2u);  // 3 floats
  EXPECT_EQ(PqQuantizer::DefaultM(13), 13u);
  EXPECT_EQ(PqQuantizer::DefaultM(2), 1u);
}

TEST(PqQuantizerTest, ReconstructionErrorIsBoundedAndFallsWithMoreSubspaces) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 1);
  const testing::Dataset held_out = testing::ClusteredData(500, kDim, 2);
  std::vector<float> mean(kDim, 0.0f);
  for (size_t r = 0; r < data.rows(); ++r) {
    for (size_t i = 0; i < kDim; ++i) mean[i] += data.row(r)[i] / static_cast<float>(kRows);
  }
  double variance = 0;  // mean squared distance to the mean: the error of one centroid
  for (size_t r = 0; r < held_out.rows(); ++r) {
    variance += SquaredDistance(held_out.row(r).data(), mean.data(), kDim);
  }
  double previous = variance;
  for (const size_t m : {4, 8, 16, 32}) {
    const std::unique_ptr<PqQuantizer> pq = Trained(data, {.m = m});
    std::vector<uint8_t> code(m);
    std::vector<float> decoded(kDim);
    double error = 0;
    for (size_t r = 0; r < held_out.rows(); ++r) {
      pq->Encode(held_out.row(r).data(), code.data());
      pq->Decode(code.data(), decoded.data());
      error += SquaredDistance(held_out.row(r).data(), decoded.data(), kDim);
    }
    RecordProperty("relative_error_m" + std::to_string(m), std::to_string(error / variance));
    EXPECT_LT(error, 0.5 * variance) << "m=" << m;
    EXPECT_LT(error, previous) << "m=" << m;
    previous = error;
  }
}

TEST(PqQuantizerTest, EncodeNamesTheNearestCentroidOfEverySubspace) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 3);
  const size_t m = 16, dsub = kDim / m;
  const std::unique_ptr<PqQuantizer> pq = Trained(data, {.m = m});
  const std::vector<float> codebooks = pq->State();
  std::vector<uint8_t> code(m);
  std::vector<float> centroid(kDim);
  for (size_t r = 0; r < 50; ++r) {
    const float* x = data.row(r).data();
    pq->Encode(x, code.data());
    for (size_t j = 0; j < m; ++j) {
      auto distance = [&](size_t c) {
        double sum = 0;
        for (size_t i = 0; i < dsub; ++i) {
          const double diff = x[j * dsub + i] - codebooks[(j * dsub + i) * 256 + c];
          sum += diff * diff;
        }
        return sum;
      };
      for (size_t c = 0; c < 256; ++c) {
        ASSERT_LE(distance(code[j]), distance(c) + 1e-4) << "row " << r << " subspace " << j;
      }
    }
  }
}

TEST(PqQuantizerTest, AdcEqualsTheDistanceToTheDecodedVector) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 4);
  const testing::Dataset queries = testing::ClusteredData(20, kDim, 5);
  for (const DistanceKind kind : {DistanceKind::kL2Squared, DistanceKind::kNegativeDot}) {
    const std::unique_ptr<PqQuantizer> pq = Trained(data, {.m = 16}, kind);
    std::vector<std::vector<uint8_t>> codes(100, std::vector<uint8_t>(16));
    std::vector<const void*> pointers;
    for (size_t r = 0; r < codes.size(); ++r) {
      pq->Encode(data.row(r).data(), codes[r].data());
      pointers.push_back(codes[r].data());
    }
    std::vector<float> table(pq->query_floats()), got(codes.size()), decoded(kDim);
    for (size_t q = 0; q < queries.rows(); ++q) {
      const float* query = queries.row(q).data();
      const float constant = pq->PrepareQuery(query, table.data());
      pq->Distances(table.data(), constant, pointers.data(), pointers.size(), got.data());
      for (size_t r = 0; r < codes.size(); ++r) {
        pq->Decode(codes[r].data(), decoded.data());
        const double want = kind == DistanceKind::kL2Squared
                                ? SquaredDistance(query, decoded.data(), kDim)
                                : -std::inner_product(query, query + kDim, decoded.data(), 0.0);
        ASSERT_NEAR(got[r], want, 1e-4 * (std::abs(want) + 1)) << "kind " << static_cast<int>(kind);
      }
    }
  }
}

TEST(PqQuantizerTest, TrainingIsDeterministicForASeedWhateverTheThreads) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 6);
  const std::vector<float> one = Trained(data, {.m = 8, .seed = 9, .threads = 1})->State();
  const std::vector<float> four = Trained(data, {.m = 8, .seed = 9, .threads = 4})->State();
  const std::vector<float> other = Trained(data, {.m = 8, .seed = 10, .threads = 4})->State();
  EXPECT_EQ(one, four);
  EXPECT_NE(one, other);
}

TEST(PqQuantizerTest, TrainsOnTheFirstTrainingRowsOnly) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 7);
  testing::Dataset prefix = data;
  prefix.values.resize(1000 * kDim);
  EXPECT_EQ(Trained(data, {.m = 8, .training_rows = 1000})->State(),
            Trained(prefix, {.m = 8, .training_rows = 1000})->State());
}

// The codebooks (dim KiB) are allocated by Train or Restore, not by Make: a dataset created
// with PQ, or a logged create replayed, holds none before it has rows (a fuzzed log's create of
// 8.4 million dimensions asked for 8.6 GB at once). A state of another size is refused.
TEST(PqQuantizerTest, CodebooksAreAllocatedByTrainingOrRestoring) {
  auto wide = PqQuantizer::Make(DistanceKind::kL2Squared, size_t{1} << 23, {.m = 8}).ValueOrDie();
  EXPECT_TRUE(wide->State().empty());
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 8);
  EXPECT_EQ(Trained(data, {.m = 8})->State().size(), kDim * PqQuantizer::kCentroids);
  auto restored = PqQuantizer::Make(DistanceKind::kL2Squared, kDim, {.m = 8}).ValueOrDie();
  EXPECT_TRUE(restored->Restore(std::vector<float>(kDim)).IsInvalid());
  EXPECT_TRUE(restored->State().empty());
}

TEST(PqQuantizerTest, RestoredStateEncodesAndScoresAlike) {
  const testing::Dataset data = testing::ClusteredData(kRows, kDim, 8);
  const std::unique_ptr<PqQuantizer> pq = Trained(data, {.m = 8});
  auto restored = PqQuantizer::Make(DistanceKind::kL2Squared, kDim, {.m = 8}).ValueOrDie();
  ASSERT_TRUE(restored->Restore(pq->State()).ok());
  std::vector<uint8_t> a(8), b(8);
  std::vector<float> table_a(pq->query_floats()), table_b(pq->query_floats());
  for (size_t r = 0; r < 100; ++r) {
    pq->Encode(data.row(r).data(), a.data());
    restored->Encode(data.row(r).data(), b.data());
    ASSERT_EQ(a, b);
  }
  pq->PrepareQuery(data.row(0).data(), table_a.data());
  restored->PrepareQuery(data.row(0).data(), table_b.data());
  EXPECT_EQ(table_a, table_b);
}

}  // namespace
}  // namespace arbalest
