#include "store/replay_progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace arbalest {
namespace {

using std::chrono::seconds;

// A line at most every interval, with the fraction done, the rate and the time left.
TEST(ReplayProgressTest, SaysHowFarAndHowLongLeftAtMostEveryInterval) {
  const auto start = ReplayProgress::Clock::time_point();
  ReplayProgress progress(100 << 20, seconds(5), start);
  EXPECT_EQ(progress.Note(10 << 20, start + seconds(1)), "");
  EXPECT_EQ(progress.Note(15 << 20, start + seconds(4)), "");
  const std::string line = progress.Note(25 << 20, start + seconds(5));  // 50 MiB in 5 s
  EXPECT_EQ(line,
            "recovery: replayed 3 WAL records, 50 of 100 MiB (50%) in 5 s at 10 MB/s, about 5 s "
            "left");
  EXPECT_EQ(progress.Note(1 << 20, start + seconds(6)), "");  // the next one 5 s later
  EXPECT_NE(progress.Note(1 << 20, start + seconds(10)), "");
  EXPECT_EQ(progress.records(), 5);
}

// Records' bytes may pass the files' total (a log read twice, framing): never past 100%.
TEST(ReplayProgressTest, NeverPastAHundredPercent) {
  const auto start = ReplayProgress::Clock::time_point();
  ReplayProgress progress(1 << 20, seconds(1), start);
  const std::string line = progress.Note(2 << 20, start + seconds(2));
  EXPECT_NE(line.find("2 of 2 MiB (100%)"), std::string::npos) << line;
  EXPECT_NE(line.find("about 0 s left"), std::string::npos) << line;
}

TEST(ReplayProgressTest, WalBytesOnDiskSumsTheFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "arbalest_replay_progress_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  std::ofstream(dir / "wal-1") << std::string(1000, 'x');
  std::ofstream(dir / "wal-2") << std::string(234, 'y');
  std::ofstream(dir / "sub" / "ignored") << std::string(99, 'z');
  EXPECT_EQ(WalBytesOnDisk(dir.string()), 1234);
  EXPECT_EQ(WalBytesOnDisk((dir / "missing").string()), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace arbalest
