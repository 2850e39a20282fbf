#include "text/fusion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace arbalest {
namespace {

using ::testing::ElementsAre;

std::vector<uint64_t> Rows(const std::vector<ScoredRow>& hits) {
  std::vector<uint64_t> rows;
  for (const ScoredRow& hit : hits) rows.push_back(hit.row);
  return rows;
}

const std::vector<uint64_t> kDense = {10, 20, 30, 40};
const std::vector<uint64_t> kText = {30, 50, 10};

TEST(FusionTest, AlphaOneIsDenseOrder) {
  auto fused = FuseReciprocalRank(kDense, kText, 1.0);
  ASSERT_TRUE(fused.ok());
  EXPECT_THAT(Rows(*fused), ElementsAre(10, 20, 30, 40));
  EXPECT_DOUBLE_EQ((*fused)[0].score, 1.0 / 61);
  EXPECT_DOUBLE_EQ((*fused)[3].score, 1.0 / 64);
}

TEST(FusionTest, AlphaZeroIsTextOrder) {
  auto fused = FuseReciprocalRank(kDense, kText, 0.0);
  ASSERT_TRUE(fused.ok());
  EXPECT_THAT(Rows(*fused), ElementsAre(30, 50, 10));
  EXPECT_DOUBLE_EQ((*fused)[1].score, 1.0 / 62);
}

TEST(FusionTest, HalfAlphaMatchesHandComputation) {
  auto fused = FuseReciprocalRank(kDense, kText, 0.5);
  ASSERT_TRUE(fused.ok());
  // By hand: 10 = .5/61 + .5/63, 30 = .5/63 + .5/61 (a tie, broken by row),
  // 20 = .5/62, 50 = .5/62 (a tie), 40 = .5/64.
  const double both = 0.5 / 61 + 0.5 / 63;
  EXPECT_THAT(Rows(*fused), ElementsAre(10, 30, 20, 50, 40));
  EXPECT_DOUBLE_EQ((*fused)[0].score, both);
  EXPECT_DOUBLE_EQ((*fused)[1].score, both);
  EXPECT_DOUBLE_EQ((*fused)[2].score, 0.5 / 62);
  EXPECT_DOUBLE_EQ((*fused)[3].score, 0.5 / 62);
  EXPECT_DOUBLE_EQ((*fused)[4].score, 0.5 / 64);
}

TEST(FusionTest, UnevenAlphaAndRepeatedRows) {
  // Row 7 is repeated in the dense list: only its first rank counts.
  const std::vector<uint64_t> dense = {7, 8, 7};
  const std::vector<uint64_t> text = {8};
  auto fused = FuseReciprocalRank(dense, text, 0.8);
  ASSERT_TRUE(fused.ok());
  EXPECT_THAT(Rows(*fused), ElementsAre(8, 7));
  EXPECT_DOUBLE_EQ((*fused)[0].score, 0.8 / 62 + 0.2 / 61);
  EXPECT_DOUBLE_EQ((*fused)[1].score, 0.8 / 61);
}

TEST(FusionTest, RejectsAlphaOutsideUnitInterval) {
  for (double alpha : {-0.1, 1.5, std::nan("")}) {
    auto fused = FuseReciprocalRank(kDense, kText, alpha);
    ASSERT_FALSE(fused.ok()) << alpha;
    EXPECT_TRUE(fused.status().IsInvalid());
  }
  auto empty = FuseReciprocalRank({}, {}, 0.5);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(FusionTest, AdaptiveAlphaFollowsQueryLength) {
  EXPECT_DOUBLE_EQ(AdaptiveAlpha(""), 1.0);
  EXPECT_DOUBLE_EQ(AdaptiveAlpha("?!"), 1.0);
  EXPECT_DOUBLE_EQ(AdaptiveAlpha("SKU-1234"), 0.3);
  EXPECT_DOUBLE_EQ(AdaptiveAlpha("eiffel tower"), 0.3);
  EXPECT_NEAR(AdaptiveAlpha("capital of France today"), 0.3 + 0.4 * 2 / 6, 1e-12);
  EXPECT_DOUBLE_EQ(AdaptiveAlpha("what is the tallest building that was finished in 1889"), 0.7);
  double previous = 0;
  std::string query;
  for (int words = 1; words <= 12; ++words) {
    query += " word";
    const double alpha = AdaptiveAlpha(query);
    EXPECT_GE(alpha, previous);
    previous = alpha;
  }
}

}  // namespace
}  // namespace arbalest
