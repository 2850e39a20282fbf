#include "store/tombstones.h"

#include <gtest/gtest.h>

#include "testing/batches.h"

namespace arbalest {
namespace {

TEST(TombstoneSetTest, WithMakesANewSetAndLeavesTheOldOneAlone) {
  auto empty = TombstoneSet::Empty();
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(TombstoneSet::Empty(), empty);  // one shared instance
  Roaring rows;
  rows.addRange(10, 20);
  auto first = empty->With(rows);
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(first->size(), 10u);
  Roaring more;
  more.add(15);  // already deleted
  more.add(100);
  auto second = first->With(more);
  EXPECT_EQ(first->size(), 10u);
  EXPECT_EQ(second->size(), 11u);
  EXPECT_TRUE(second->contains(100));
  EXPECT_FALSE(first->contains(100));
}

TEST(TombstoneSetTest, CountsRowsInARange) {
  Roaring rows;
  for (uint32_t row : {0u, 5u, 9u, 10u, 70000u}) rows.add(row);
  auto set = TombstoneSet::Empty()->With(rows);
  EXPECT_EQ(set->CountIn(0, 10), 3u);
  EXPECT_EQ(set->CountIn(9, 11), 2u);
  EXPECT_EQ(set->CountIn(11, 70000), 0u);
  EXPECT_EQ(set->CountIn(0, 100000), 5u);
  EXPECT_EQ(set->CountIn(10, 10), 0u);
}

TEST(TombstoneSetTest, DropDeletedFiltersByDatasetRowNumber) {
  auto batch = testing::MakeVectorBatch(100, 10, 4);  // dataset rows 20..29, ids 100..109
  Roaring rows;
  for (uint32_t row : {3u, 20u, 25u, 29u, 30u}) rows.add(row);
  auto set = TombstoneSet::Empty()->With(rows);
  auto kept = set->DropDeleted(batch, 20);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ((*kept)->num_rows(), 7);
  const auto& ids = static_cast<const arrow::Int64Array&>(*(*kept)->column(0));
  const std::vector<int64_t> expected = {101, 102, 103, 104, 106, 107, 108};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(ids.Value(i), expected[i]);
  // No deleted row in the batch: the batch itself, not a copy.
  auto untouched = set->DropDeleted(batch, 31);
  ASSERT_TRUE(untouched.ok());
  EXPECT_EQ(*untouched, batch);
}

}  // namespace
}  // namespace arbalest
