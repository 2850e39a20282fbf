// Hedged reads of one replica per shard, without processes: a replica that hangs is overtaken
// by the next after hedge_after (the race returns while the loser still hangs), a failed one is
// followed at once, "no rows here" ends a shard, and the deadline bounds the whole read.
#include "cluster/replica_race.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace arbalest {
namespace {

using std::chrono::milliseconds;

MemberInfo Member(const std::string& id) {
  MemberInfo member;
  member.node_id = id;
  member.flight = id + ":1";
  return member;
}

// A gate the test opens at its end: asks that wait on it hang until then.
struct Gate {
  std::mutex mutex;
  std::condition_variable opened_cv;
  bool opened = false;
  void Wait() {
    std::unique_lock lock(mutex);
    opened_cv.wait(lock, [this] { return opened; });
  }
  void Open() {
    {
      std::lock_guard lock(mutex);
      opened = true;
    }
    opened_cv.notify_all();
  }
};

std::string Reason(const arrow::Status& status, const MemberInfo& member) {
  return member.node_id + ": " + status.message();
}

TEST(RaceReplicas, HangingReplicaIsOvertakenByTheNextAfterHedgeAfter) {
  auto gate = std::make_shared<Gate>();
  auto asked = std::make_shared<std::atomic<int>>(0);
  AttemptsInFlight in_flight;
  ThreadCache threads("test-race");  // after in_flight: ends its attempts first
  const std::vector<std::vector<MemberInfo>> candidates = {{Member("slow"), Member("fast")},
                                                           {Member("fast")}};
  auto reads = RaceReplicas<std::string>(
      candidates, milliseconds(20), milliseconds(60000),
      [gate, asked](int32_t shard, const MemberInfo& member,
                    milliseconds) -> arrow::Result<std::string> {
        ++*asked;
        if (member.node_id == "slow") gate->Wait();
        return member.node_id + "/" + std::to_string(shard);
      },
      Reason, in_flight, threads);
  // Returned while "slow" still hangs: its answer is not waited for.
  ASSERT_EQ(reads.size(), 2u);
  ASSERT_TRUE(reads[0].part.has_value());
  EXPECT_EQ(*reads[0].part, "fast/0");
  EXPECT_TRUE(reads[0].answered);
  EXPECT_TRUE(reads[0].hedged);
  EXPECT_EQ(*reads[1].part, "fast/1");
  EXPECT_FALSE(reads[1].hedged);
  EXPECT_EQ(asked->load(), 3);
  gate->Open();
  in_flight.WaitIdle();  // the loser ends once let go
}

TEST(RaceReplicas, FailedReplicaIsFollowedAtOnceWithoutHedging) {
  AttemptsInFlight in_flight;
  ThreadCache threads("test-race");  // after in_flight: ends its attempts first
  auto reads = RaceReplicas<int>(
      {{Member("down"), Member("up")}}, milliseconds(0), milliseconds(60000),
      [](int32_t, const MemberInfo& member, milliseconds) -> arrow::Result<int> {
        if (member.node_id == "down") return arrow::Status::IOError("connection refused");
        return 7;
      },
      Reason, in_flight, threads);
  ASSERT_TRUE(reads[0].part.has_value());
  EXPECT_EQ(*reads[0].part, 7);
  EXPECT_FALSE(reads[0].hedged);
  in_flight.WaitIdle();
}

TEST(RaceReplicas, NoRowsHereEndsTheShardWithoutAskingAnother) {
  AttemptsInFlight in_flight;
  ThreadCache threads("test-race");  // after in_flight: ends its attempts first
  std::atomic<int> asked = 0;
  auto reads = RaceReplicas<int>(
      {{Member("a"), Member("b")}}, milliseconds(0), milliseconds(60000),
      [&asked](int32_t, const MemberInfo&, milliseconds) -> arrow::Result<int> {
        ++asked;
        return arrow::Status::KeyError("dataset 'x.__shard0' not found");
      },
      Reason, in_flight, threads);
  EXPECT_TRUE(reads[0].answered);
  EXPECT_FALSE(reads[0].part.has_value());
  EXPECT_EQ(asked.load(), 1);
  in_flight.WaitIdle();
}

TEST(RaceReplicas, EveryReplicaFailingNamesEachAndTheDeadlineBoundsAHang) {
  AttemptsInFlight in_flight;
  ThreadCache threads("test-race");  // after in_flight: ends its attempts first
  auto failed = RaceReplicas<int>(
      {{Member("a"), Member("b")}}, milliseconds(0), milliseconds(60000),
      [](int32_t, const MemberInfo& member, milliseconds) -> arrow::Result<int> {
        return arrow::Status::IOError("refused by ", member.node_id);
      },
      Reason, in_flight, threads);
  EXPECT_FALSE(failed[0].answered);
  EXPECT_NE(failed[0].reasons.find("a: refused by a"), std::string::npos);
  EXPECT_NE(failed[0].reasons.find("b: refused by b"), std::string::npos);
  EXPECT_EQ(failed[0].last_node, "b");

  // Without hedging, a hang holds the shard until the deadline; the call's timeout is what is
  // left of it.
  auto gate = std::make_shared<Gate>();
  auto timeouts = std::make_shared<std::vector<int64_t>>();
  auto hung = RaceReplicas<int>(
      {{Member("hung"), Member("never-asked")}}, milliseconds(0), milliseconds(300),
      [gate, timeouts](int32_t, const MemberInfo&, milliseconds left) -> arrow::Result<int> {
        timeouts->push_back(left.count());
        gate->Wait();
        return 1;
      },
      Reason, in_flight, threads);
  EXPECT_FALSE(hung[0].answered);
  EXPECT_NE(hung[0].reasons.find("hung: the read's deadline passed"), std::string::npos);
  EXPECT_EQ(hung[0].last_node, "hung");
  gate->Open();
  in_flight.WaitIdle();
  ASSERT_EQ(timeouts->size(), 1u);  // "never-asked" was not: no hedging, no failure
  EXPECT_LE(timeouts->front(), 300);
}

TEST(RaceReplicas, ShardWithoutCandidatesIsNotAnswered) {
  AttemptsInFlight in_flight;
  ThreadCache threads("test-race");  // after in_flight: ends its attempts first
  auto reads = RaceReplicas<int>(
      {{}}, milliseconds(20), milliseconds(1000),
      [](int32_t, const MemberInfo&, milliseconds) -> arrow::Result<int> { return 1; }, Reason,
      in_flight, threads);
  EXPECT_FALSE(reads[0].answered);
  EXPECT_TRUE(reads[0].reasons.empty());
}

}  // namespace
}  // namespace arbalest
