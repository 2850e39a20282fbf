// The fence over a shard's writes (shard_fence.h) that a catch-up closes: a close waits for the
// writes under way and holds new ones back; it opens again when released or when its hold
// expires, and a release or check by a stale token does not vouch for a fence that did not hold.
#include "cluster/shard_fence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace arbalest {
namespace {

using std::chrono::milliseconds;

TEST(ShardFence, CloseWaitsForWritesUnderWayAndHoldsNewOnesBack) {
  ShardFence fence;
  ASSERT_TRUE(fence.Enter(milliseconds(100), "shard").ok());
  // A write under way: the close gives up after its wait, and the fence is open again.
  auto refused = fence.Close(milliseconds(60000), milliseconds(50));
  EXPECT_FALSE(refused.ok());
  fence.Exit();
  auto token = fence.Close(milliseconds(60000), milliseconds(1000));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_GT(fence.Remaining(*token).count(), 0);
  // A new write waits, and is refused (UNAVAILABLE, naming the shard) after its timeout.
  auto status = fence.Enter(milliseconds(20), "shard 3 of 'x'");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("shard 3 of 'x'"), std::string::npos);
  // Another close is refused while this one holds.
  EXPECT_FALSE(fence.Close(milliseconds(60000), milliseconds(10)).ok());
  std::atomic<bool> entered{false};
  std::thread writer([&] {
    if (fence.Enter(milliseconds(60000), "shard").ok()) {
      entered = true;
      fence.Exit();
    }
  });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(entered.load());
  EXPECT_TRUE(fence.Release(*token));  // it held throughout
  writer.join();
  EXPECT_TRUE(entered.load());
  EXPECT_LE(fence.Remaining(*token).count(), 0);
  EXPECT_FALSE(fence.Release(*token));  // released already
}

TEST(ShardFence, AnExpiredHoldLetsWritesInAndDoesNotVouch) {
  ShardFence fence;
  auto token = fence.Close(milliseconds(30), milliseconds(10));
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(fence.Enter(milliseconds(5000), "shard").ok());  // once the hold expired
  fence.Exit();
  EXPECT_LE(fence.Remaining(*token).count(), 0);
  EXPECT_FALSE(fence.Release(*token));
  EXPECT_LE(fence.Remaining(12345).count(), 0);  // a token it never gave
}

TEST(ShardFences, OpenAFenceWhoseHolderLeft) {
  ShardFences fences;
  auto token = fences.Of("x.__shard1")->Close(milliseconds(60000), milliseconds(10), "n2");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(fences.Of("x.__shard2")->Close(milliseconds(60000), milliseconds(10)).ok());
  EXPECT_EQ(fences.ReleaseAbandoned([](const std::string& node) { return node == "n9"; }), 0);
  EXPECT_GT(fences.Of("x.__shard1")->Remaining(*token).count(), 0);
  // n2 left: its close goes; this node's own close (no holder) stays.
  EXPECT_EQ(fences.ReleaseAbandoned([](const std::string& node) { return node == "n2"; }), 1);
  EXPECT_LE(fences.Of("x.__shard1")->Remaining(*token).count(), 0);
  EXPECT_TRUE(fences.Of("x.__shard1")->Enter(milliseconds(10), "shard").ok());
  EXPECT_FALSE(fences.Of("x.__shard2")->Enter(milliseconds(10), "shard").ok());
}

}  // namespace
}  // namespace arbalest
