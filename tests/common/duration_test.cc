#include "common/duration.h"

#include <gtest/gtest.h>

#include "expect_refusal.h"

namespace arbalest {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesUnits) {
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("45"), milliseconds(45'000));
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30'000));
  EXPECT_EQ(*ParseDuration("10m"), milliseconds(600'000));
  EXPECT_EQ(*ParseDuration("1.5h"), milliseconds(5'400'000));
}

TEST(DurationTest, RejectsGarbageNamingIt) {
  testing::ExpectRefusedQuotingText(ParseDuration,
                                    {"", "abc", "-1s", "10 m", "5d", "1e30h", "nan", "10M"});
}

}  // namespace
}  // namespace arbalest
