#include "text/row_filter.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

TEST(RowFilterTest, Bitmap) {
  Roaring64Map rows;
  rows.add(uint64_t{3});
  rows.add(uint64_t{1} << 40);
  const RowFilter filter = RowFilter::FromBitmap(rows);
  EXPECT_TRUE(filter.Allows(3));
  EXPECT_TRUE(filter.Allows(uint64_t{1} << 40));
  EXPECT_FALSE(filter.Allows(4));
}

TEST(RowFilterTest, Predicate) {
  const RowFilter filter = RowFilter::FromPredicate([](uint64_t row) { return row % 2 == 0; });
  EXPECT_TRUE(filter.Allows(10));
  EXPECT_FALSE(filter.Allows(11));
}

}  // namespace
}  // namespace arbalest
