#include "persist/row_bitmap.h"

#include <gtest/gtest.h>

#include <string>

#include "damaged_bitmaps.h"

namespace arbalest {
namespace {

std::string Serialized(const Roaring& rows) {
  std::string bytes(rows.getSizeInBytes(/*portable=*/true), '\0');
  rows.write(bytes.data(), /*portable=*/true);
  return bytes;
}

TEST(RowBitmapTest, ReadsWhatRoaringWrites) {
  Roaring rows;
  for (uint32_t row = 0; row < 200000; row += 3) rows.add(row);  // array and bitset containers
  rows.addRange(300000, 400000);
  rows.add(4000000000u);
  for (bool runs : {false, true}) {
    if (runs) rows.runOptimize();
    auto read = ReadRowBitmap(Serialized(rows));
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_TRUE(*read == rows);
  }
  auto empty = ReadRowBitmap(Serialized(Roaring()));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->isEmpty());
  EXPECT_TRUE(ReadRowBitmap(testing::ArrayBitmap({1, 5, 9})).ok());
}

// Found by fuzz_tombstones: CRoaring's reader accepted these, and the bitmap's count then
// disagreed with its rows.
TEST(RowBitmapTest, RefusesContainersThatDisagreeWithTheirCounts) {
  for (const std::string& bytes : {testing::MiscountedBitsetBitmap(),
                                   testing::ArrayBitmap({5, 3, 9}), testing::ArrayBitmap({4, 4})}) {
    auto read = ReadRowBitmap(bytes);
    ASSERT_TRUE(read.status().IsInvalid()) << read.status().ToString();
    EXPECT_NE(read.status().message().find("containers disagree"), std::string::npos)
        << read.status().ToString();
  }
}

TEST(RowBitmapTest, RefusesTruncatedAndTrailingBytes) {
  const std::string bytes = Serialized(Roaring::bitmapOf(3, 1, 70000, 5));
  EXPECT_TRUE(ReadRowBitmap(bytes.substr(0, bytes.size() - 1)).status().IsInvalid());
  EXPECT_TRUE(ReadRowBitmap("").status().IsInvalid());
  auto longer = ReadRowBitmap(bytes + "xy");
  ASSERT_TRUE(longer.status().IsInvalid());
  EXPECT_NE(longer.status().message().find("2 bytes follow"), std::string::npos)
      << longer.status().ToString();
}

}  // namespace
}  // namespace arbalest
