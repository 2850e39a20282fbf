// The fence over a shard's writes (shard_fence.h) that a catch-up closes: a close waits for the
// writes under way and holds new ones back; it opens again when released or when its hold
// expires, and a release or check by a stale token does not vouch for a fence that did not hold.
#include "cluster/shard_fence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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

// A delete holds the gate shared (DeleteEntry) for as long as it runs; a batch of a bulk copy,
// which takes it exclusively, waits until the delete ended, and a delete that comes while a
// batch holds it waits for the batch. The fence itself stays open for writes meanwhile.
TEST(ShardFence, TheGateKeepsDeletesAndBulkBatchesApart) {
  auto fence = std::make_shared<ShardFence>();
  ASSERT_TRUE(fence->Enter(milliseconds(100), "shard").ok());
  auto deleting = std::make_unique<DeleteEntry>(fence);
  std::atomic<bool> stored{false};
  std::thread batch([&] {
    WriterLock gate(fence->gate());
    stored = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(stored.load());                                // waits for the delete
  EXPECT_TRUE(fence->Enter(milliseconds(10), "shard").ok());  // writes do not
  fence->Exit();
  deleting.reset();  // the delete ran: the batch goes on, and the delete left the fence
  batch.join();
  EXPECT_TRUE(stored.load());
  EXPECT_TRUE(fence->Close(milliseconds(1000), milliseconds(10)).ok());

  auto open = std::make_shared<ShardFence>();
  std::atomic<bool> admitted{false};
  std::unique_ptr<WriterLock> holding = std::make_unique<WriterLock>(open->gate());
  std::thread deleter([&] {
    ASSERT_TRUE(open->Enter(milliseconds(100), "shard").ok());
    DeleteEntry entry(open);
    admitted = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(admitted.load());
  holding.reset();
  deleter.join();
  EXPECT_TRUE(admitted.load());
}

}  // namespace
}  // namespace arbalest
