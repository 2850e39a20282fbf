#include "index/index_rows.h"

#include <gtest/gtest.h>

#include <vector>

namespace arbalest {
namespace {

TEST(IndexRowsTest, LendsRunsWithinOneChunk) {
  IndexRows rows(DistanceSpace(Metric::kL2, simd::ElementType::kFloat32, 4));
  const uint64_t chunk = rows.rows_per_chunk();
  for (uint64_t r = 0; r < chunk + 10; ++r) {
    const std::vector<float> vector(4, static_cast<float>(r));
    ASSERT_TRUE(rows.Append(vector.data()).ok());
  }
  const IndexRows::LentRows lent = rows.Lend(chunk - 5, 5);
  ASSERT_NE(lent.data, nullptr);
  EXPECT_EQ(lent.data, rows.Row(chunk - 5));
  EXPECT_TRUE(lent.allocated);
  EXPECT_EQ(reinterpret_cast<const float*>(lent.data)[4 * 4], static_cast<float>(chunk - 1));
  EXPECT_EQ(rows.Lend(chunk - 5, 6).data, nullptr);  // crosses into the next chunk
  EXPECT_EQ(rows.Lend(chunk, 11).data, nullptr);     // beyond the rows written
  EXPECT_EQ(rows.Lend(0, 0).data, nullptr);
}

TEST(IndexRowsTest, PaddedRowsAreNotLent) {
  IndexRows rows(DistanceSpace(Metric::kL2, simd::ElementType::kInt8, 3));  // 3 bytes in 16
  const std::vector<float> vector = {1, 2, 3};
  ASSERT_TRUE(rows.Append(vector.data()).ok());
  ASSERT_TRUE(rows.Append(vector.data()).ok());
  EXPECT_EQ(rows.Lend(0, 2).data, nullptr);
}

}  // namespace
}  // namespace arbalest
