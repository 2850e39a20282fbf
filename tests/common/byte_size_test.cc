#include "common/byte_size.h"

#include <gtest/gtest.h>

#include "expect_refusal.h"

namespace arbalest {
namespace {

TEST(ByteSizeTest, ParsesUnits) {
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512LL << 20);
  EXPECT_EQ(*ParseByteSize("8G"), 8LL << 30);
  EXPECT_EQ(*ParseByteSize("8gb"), 8'000'000'000LL);
  EXPECT_EQ(*ParseByteSize("1.5KiB"), 1536);
  EXPECT_EQ(*ParseByteSize("2TiB"), 2LL << 40);
}

TEST(ByteSizeTest, RejectsGarbageNamingIt) {
  testing::ExpectRefusedQuotingText(ParseByteSize,
                                    {"", "abc", "-1", "12XB", "1e30", "5 MiB", "nan"});
}

}  // namespace
}  // namespace arbalest
