#include "store/index_catch_up.h"

#include <gtest/gtest.h>

#include <chrono>

namespace arbalest {
namespace {

using std::chrono::seconds;

// A line at most every interval with the rows done, the rate and the time left; one line when
// the rows to catch up are indexed; nothing after.
TEST(CatchUpProgressTest, SaysHowFarThenThatItCaughtUp) {
  const auto start = CatchUpProgress::Clock::time_point();
  CatchUpProgress progress(/*rows_to_index=*/1000, /*indexed_at_start=*/500, seconds(5), start);
  EXPECT_EQ(progress.Note(600, 900, start + seconds(1)), "");
  const std::string line = progress.Note(750, 750, start + seconds(5));  // 250 rows in 5 s
  EXPECT_EQ(line,
            "index catch-up: 250 of 1000 rows indexed (25%) in 5 s at 50 rows/s, about 15 s left "
            "(searches scan the rest exactly meanwhile)");
  EXPECT_EQ(progress.Note(800, 700, start + seconds(6)), "");  // the next one 5 s later
  EXPECT_FALSE(progress.done());
  // New puts keep rows waiting: caught up once as many rows as were waiting are indexed.
  const std::string caught_up = progress.Note(1500, 300, start + seconds(7));
  EXPECT_EQ(caught_up, "index caught up: the 1000 rows waiting at startup are indexed, in 7.0 s");
  EXPECT_TRUE(progress.done());
  EXPECT_EQ(progress.Note(2000, 0, start + seconds(20)), "");
}

// A compaction can leave fewer rows to index than were waiting: nothing waiting is caught up.
TEST(CatchUpProgressTest, NothingWaitingIsCaughtUp) {
  const auto start = CatchUpProgress::Clock::time_point();
  CatchUpProgress progress(1000, 0, seconds(5), start);
  EXPECT_NE(progress.Note(400, 0, start + seconds(2)).find("index caught up"), std::string::npos);
  EXPECT_TRUE(progress.done());
}

TEST(CatchUpProgressTest, NoRateYetSaysSo) {
  const auto start = CatchUpProgress::Clock::time_point();
  CatchUpProgress progress(10, 0, seconds(1), start);
  EXPECT_NE(progress.Note(0, 10, start + seconds(1)).find("about an unknown time left"),
            std::string::npos);
  EXPECT_TRUE(CatchUpProgress(0, 0).done());  // nothing to catch up: no line at all
}

}  // namespace
}  // namespace arbalest
