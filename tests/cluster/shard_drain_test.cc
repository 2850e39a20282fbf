// Draining a member from shard maps without etcd (shard_map.h's DrainShard, and what repairs
// and moves leave to a drain): a shard with another full replica is handed over at once (its
// primary moved, syncing replicas added up to R on members that are not draining); a shard the
// member alone holds is first copied to another member, then handed over once that copy is
// full; a draining member gets no replica from repairs or moves.
#include <gtest/gtest.h>

#include "cluster/shard_map.h"

namespace arbalest {
namespace {

bool Always(int32_t) { return true; }

// Repeats DrainShard on every shard, flipping every syncing replica to full after each
// round (as catch-up does), until no shard names `node`; the rounds it took.
int DrainAll(ShardMap* map, const std::string& node, const std::set<std::string>& placeable) {
  for (int round = 1; round < 10; ++round) {
    bool held = false;
    for (int32_t shard = 0; shard < map->shards; ++shard) {
      const DrainStep step = DrainShard(map, shard, node, placeable);
      held |= step != DrainStep::kNotHeld && step != DrainStep::kHandOver;
      EXPECT_NE(step, DrainStep::kNoTarget);
    }
    for (auto& placement : map->placement) placement.syncing.clear();
    if (!held) return round;
  }
  return -1;
}

TEST(DrainShard, HandsAShardWithAnotherFullReplicaOverAtOnce) {
  ShardMap map = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    const ShardPlacement before = map.placement[shard];
    const DrainStep step = DrainShard(&map, shard, "c", {"a", "b"});
    const ShardPlacement& now = map.placement[shard];
    if (!before.HasReplica("c")) {
      EXPECT_EQ(step, DrainStep::kNotHeld);
      EXPECT_EQ(now.epoch, before.epoch);
      continue;
    }
    EXPECT_EQ(step, DrainStep::kHandOver);
    EXPECT_FALSE(now.HasReplica("c"));
    EXPECT_NE(now.primary, "c");
    EXPECT_TRUE(std::find(before.replicas.begin(), before.replicas.end(), now.primary) !=
                before.replicas.end());  // a replica that held every row
    EXPECT_EQ(now.replicas.size(), 2u);  // back to R with a syncing replica
    EXPECT_EQ(now.syncing.size(), 1u);
    EXPECT_EQ(now.epoch, before.epoch + 1);
  }
}

TEST(DrainShard, CopiesAShardItAloneHoldsBeforeHandingItOver) {
  ShardMap map = PlaceShards("ds", 4, 1, {"a", "b", "c"});
  int32_t shard = 0;
  while (map.placement[shard].primary != "c") ++shard;
  EXPECT_EQ(DrainShard(&map, shard, "c", {"a", "b"}), DrainStep::kCopy);
  ShardPlacement placement = map.placement[shard];
  ASSERT_EQ(placement.replicas.size(), 2u);
  EXPECT_EQ(placement.primary, "c");  // it keeps the writes until the copy is full
  ASSERT_EQ(placement.syncing.size(), 1u);
  const std::string target = placement.syncing.front();
  EXPECT_NE(target, "c");
  // While the copy runs, nothing changes.
  EXPECT_EQ(DrainShard(&map, shard, "c", {"a", "b"}), DrainStep::kWaitCopy);
  EXPECT_EQ(map.placement[shard].epoch, placement.epoch);
  map.placement[shard].syncing.clear();  // caught up
  EXPECT_EQ(DrainShard(&map, shard, "c", {"a", "b"}), DrainStep::kHandOver);
  EXPECT_EQ(map.placement[shard].replicas, std::vector<std::string>{target});
  EXPECT_EQ(map.placement[shard].primary, target);
  EXPECT_EQ(DrainShard(&map, shard, "c", {"a", "b"}), DrainStep::kNotHeld);
}

TEST(DrainShard, LeavesTheMapBalancedSoThatNoMoveFollows) {
  for (int32_t replication : {1, 2}) {
    for (const char* name : {"a", "bb", "ccc", "dddd"}) {
      ShardMap map = PlaceShards(name, 8, replication, {"a", "b", "c", "d"});
      ASSERT_GT(DrainAll(&map, "d", {"a", "b", "c"}), 0);
      EXPECT_FALSE(BalanceShardMap(&map, {"a", "b", "c"}, Always)) << name << " " << replication;
    }
  }
}

TEST(DrainShard, SaysWhenNoMemberCanTakeTheOnlyCopy) {
  ShardMap map = PlaceShards("ds", 2, 1, {"a"});
  const ShardMap before = map;
  EXPECT_EQ(DrainShard(&map, 0, "a", {}), DrainStep::kNoTarget);
  EXPECT_EQ(DrainShard(&map, 0, "a", {"a"}), DrainStep::kNoTarget);  // not to itself
  EXPECT_EQ(map.ToJson(), before.ToJson());
}

TEST(DrainShard, DrainsEveryShardInTwoRoundsAtMost) {
  for (int32_t replication : {1, 2, 3}) {
    ShardMap map = PlaceShards("ds", 16, replication, {"a", "b", "c", "d"});
    EXPECT_EQ(DrainAll(&map, "d", {"a", "b", "c"}), replication == 1 ? 2 : 1) << replication;
    for (const auto& placement : map.placement) {
      EXPECT_FALSE(placement.HasReplica("d"));
      EXPECT_EQ(placement.replicas.size(), static_cast<size_t>(replication));
    }
  }
}

TEST(DrainShard, RepairsAndMovesGiveADrainingMemberNothing) {
  ShardMap map = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  // "b" died and "d" is draining: repairs add only "a" or "c".
  EXPECT_TRUE(RepairShardMap(&map, {"a", "c", "d"}, {"d"}));
  for (const auto& placement : map.placement) EXPECT_FALSE(placement.HasReplica("d"));
  for (auto& placement : map.placement) placement.syncing.clear();
  // A draining member holding shards: moves leave them to its drain, and add none to it.
  ShardMap drained = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  const ShardMap before = drained;
  EXPECT_FALSE(BalanceShardMap(&drained, {"a", "b", "c", "d"}, Always, {"c"}));
  EXPECT_EQ(drained.ToJson(), before.ToJson());
}

TEST(ShardOfDatasetName, ParsesShardDatasets) {
  EXPECT_EQ(ShardOfDatasetName("ds.__shard3"), (std::pair<std::string, int32_t>{"ds", 3}));
  EXPECT_EQ(ShardOfDatasetName("a.b.__shard12"), (std::pair<std::string, int32_t>{"a.b", 12}));
  EXPECT_FALSE(ShardOfDatasetName("ds"));
  EXPECT_FALSE(ShardOfDatasetName("ds.__shard"));
  EXPECT_FALSE(ShardOfDatasetName("ds.__shard1x"));
}

}  // namespace
}  // namespace arbalest
