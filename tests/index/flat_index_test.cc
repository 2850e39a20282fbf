#include "index/flat_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace arbalest {
namespace {

std::vector<Neighbor> SearchOrDie(const FlatIndex& index, std::vector<float> query,
                                  SearchOptions options) {
  std::vector<Neighbor> out;
  EXPECT_TRUE(index.Search(query, options, &out).ok());
  return out;
}

TEST(FlatIndexTest, EuclideanReturnsNearestFirstWithSquaredDistances) {
  FlatIndex index(2, Metric::kL2);
  for (float x : {0.0f, 3.0f, 1.0f, 10.0f}) ASSERT_TRUE(index.Add(std::vector<float>{x, 0}).ok());
  const std::vector<Neighbor> got = SearchOrDie(index, {0.9f, 0}, {.k = 3});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].row, 2u);
  EXPECT_EQ(got[1].row, 0u);
  EXPECT_EQ(got[2].row, 1u);
  EXPECT_NEAR(got[0].distance, 0.01f, 1e-6);
  EXPECT_NEAR(got[2].distance, 4.41f, 1e-5);
}

TEST(FlatIndexTest, CosineAndDotProductDistances) {
  FlatIndex cosine(2, Metric::kCosine), dot(2, Metric::kDotProduct);
  for (FlatIndex* index : {&cosine, &dot}) {
    ASSERT_TRUE(index->Add(std::vector<float>{2, 0}).ok());
    ASSERT_TRUE(index->Add(std::vector<float>{0, 5}).ok());
  }
  const std::vector<Neighbor> c = SearchOrDie(cosine, {1, 1}, {.k = 2});
  EXPECT_NEAR(c[0].distance, 1.0f - 1.0f / std::sqrt(2.0f), 1e-6);
  const std::vector<Neighbor> d = SearchOrDie(dot, {1, 1}, {.k = 2});
  EXPECT_EQ(d[0].row, 1u);
  EXPECT_FLOAT_EQ(d[0].distance, -5.0f);
}

// Deleted rows are the store's tombstones, passed as `exclude`.
TEST(FlatIndexTest, FilterAndExclusionLeaveRowsOut) {
  FlatIndex index(1, Metric::kL2);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(index.Add(std::vector<float>{float(i)}).ok());
  const Roaring deleted = Roaring::bitmapOf(2, 50, 51);
  Roaring odd;
  for (uint32_t i = 1; i < 100; i += 2) odd.add(i);
  const std::vector<Neighbor> got = SearchOrDie(index, {50.2f}, {.k = 3, .filter = &odd});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].row, 51u);
  EXPECT_EQ(got[1].row, 49u);
  EXPECT_EQ(got[2].row, 53u);
  const std::vector<Neighbor> live =
      SearchOrDie(index, {50.2f}, {.k = 3, .filter = &odd, .exclude = &deleted});
  ASSERT_EQ(live.size(), 3u);
  EXPECT_EQ(live[0].row, 49u);
  EXPECT_EQ(live[1].row, 53u);
  EXPECT_EQ(live[2].row, 47u);
  EXPECT_EQ(SearchOrDie(index, {50}, {.k = 1, .exclude = &deleted})[0].row, 49u);
  EXPECT_EQ(SearchOrDie(index, {50}, {.k = 1})[0].row, 50u);  // excluded by that search only
}

TEST(FlatIndexTest, RejectsDimensionMismatch) {
  FlatIndex index(3, Metric::kL2);
  EXPECT_TRUE(index.Add(std::vector<float>{1, 2}).status().IsInvalid());
  std::vector<Neighbor> out;
  EXPECT_TRUE(index.Search(std::vector<float>{1}, {}, &out).IsInvalid());
}

TEST(FlatIndexTest, MemoryCountsVectors) {
  FlatIndex index(384, Metric::kL2);
  ASSERT_TRUE(index.Add(std::vector<float>(384)).ok());
  EXPECT_GE(index.memory().vector_bytes, 384u * 4);
  EXPECT_EQ(index.memory().graph_bytes, 0u);
}

}  // namespace
}  // namespace arbalest
