// The wait of a catch-up for its copy's snapshot (cluster/shard_catchup.h, AwaitSnapshot): the
// report once written; {"error"} when the snapshot failed or was not written within the wait;
// and, when its node stops meanwhile, an end within a slice of the wait instead of the whole
// wait (a shutdown during a catch-up must not wait up to a minute for a snapshot).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cluster/shard_catchup.h"

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A snapshot written `after` from now (never: Clock::time_point::max()); each wait sleeps
// until then or for its slice, as the store's future does.
LocalPuts::SnapshotWait WrittenAt(Clock::time_point at) {
  return [at](milliseconds wait) -> arrow::Result<std::optional<Json>> {
    const auto now = Clock::now();
    if (at != Clock::time_point::max() && at <= now + wait) {
      std::this_thread::sleep_until(at);
      return std::optional<Json>(Json{{"lsn", 42}});
    }
    std::this_thread::sleep_for(wait);
    return std::nullopt;
  };
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(AwaitSnapshotTest, ReturnsTheReportOnceWritten) {
  const std::atomic<bool> stopping{false};
  const auto start = Clock::now();
  const Json report =
      AwaitSnapshot(WrittenAt(start + milliseconds(200)), "ds", milliseconds(10000), stopping);
  EXPECT_EQ(report, (Json{{"lsn", 42}}));
  EXPECT_GE(SecondsSince(start), 0.19);
}

TEST(AwaitSnapshotTest, GivesUpAfterTheWait) {
  const std::atomic<bool> stopping{false};
  const auto start = Clock::now();
  const Json report =
      AwaitSnapshot(WrittenAt(Clock::time_point::max()), "ds", milliseconds(300), stopping);
  const double seconds = SecondsSince(start);
  ASSERT_TRUE(report.contains("error")) << report.dump();
  EXPECT_NE(report["error"].get<std::string>().find("not written within 300 ms"), std::string::npos)
      << report.dump();
  EXPECT_GE(seconds, 0.29);
  EXPECT_LT(seconds, 5.0);
}

TEST(AwaitSnapshotTest, EndsSoonAfterItsNodeStops) {
  std::atomic<bool> stopping{false};
  std::thread stopper([&stopping] {
    std::this_thread::sleep_for(milliseconds(200));
    stopping = true;
  });
  const auto start = Clock::now();
  const Json report =
      AwaitSnapshot(WrittenAt(Clock::time_point::max()), "ds", milliseconds(60000), stopping);
  const double seconds = SecondsSince(start);
  stopper.join();
  ASSERT_TRUE(report.contains("error")) << report.dump();
  EXPECT_NE(report["error"].get<std::string>().find("this node is stopping"), std::string::npos)
      << report.dump();
  EXPECT_GE(seconds, 0.19);
  EXPECT_LT(seconds, 5.0);  // not the minute it was given
}

TEST(AwaitSnapshotTest, ReportsAFailedSnapshot) {
  const std::atomic<bool> stopping{false};
  const Json report = AwaitSnapshot(
      [](milliseconds) -> arrow::Result<std::optional<Json>> {
        return arrow::Status::IOError("disk full");
      },
      "ds", milliseconds(1000), stopping);
  EXPECT_EQ(report, (Json{{"error", "disk full"}}));
}

}  // namespace
}  // namespace arbalest
