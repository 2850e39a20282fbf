// Shard moves without etcd (shard_map.h's BalanceShardMap): a member that joins takes shards
// one step at a time (added syncing, then, once caught up, the busiest replica marked leaving,
// then removed), never more than one shard of a dataset moving at once, never fewer than R
// readable replicas; new maps start balanced so that nothing moves without a new member.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "cluster/shard_map.h"

namespace arbalest {
namespace {

std::map<std::string, int> Loads(const ShardMap& map) {
  std::map<std::string, int> loads;
  for (const auto& shard : map.placement) {
    for (const auto& node : shard.replicas) ++loads[node];
  }
  return loads;
}

bool Always(int32_t) { return true; }

TEST(PlaceShards, StartsBalancedSoThatNothingMoves) {
  for (const char* name : {"a", "bb", "ccc", "dddd", "eeeee"}) {
    for (int32_t shards : {1, 3, 4, 8, 17}) {
      ShardMap map = PlaceShards(name, shards, 2, {"n0", "n1", "n2"});
      const auto loads = Loads(map);
      int low = shards * 2, high = 0;
      for (const auto& [node, load] : loads) {
        low = std::min(low, load);
        high = std::max(high, load);
      }
      if (loads.size() < 3) low = 0;
      EXPECT_LE(high - low, 1) << name << " " << shards;
      EXPECT_FALSE(BalanceShardMap(&map, {"n0", "n1", "n2"}, Always)) << name << " " << shards;
    }
  }
}

TEST(BalanceShardMap, MovesShardsToAJoiningMemberOneStepAtATime) {
  ShardMap map = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  const std::set<std::string> live = {"a", "b", "c", "d"};
  int steps = 0;
  while (true) {
    const ShardMap before = map;
    // A leaving replica stays until it was marked long enough ago.
    bool leaving = false;
    for (const auto& shard : map.placement) leaving |= !shard.leaving.empty();
    if (leaving) {
      const ShardMap unchanged = map;
      EXPECT_FALSE(BalanceShardMap(&map, live, [](int32_t) { return false; }));
      EXPECT_EQ(map.ToJson(), unchanged.ToJson());
    }
    if (!BalanceShardMap(&map, live, Always)) break;
    ASSERT_LT(++steps, 100);
    int changed = 0, moving = 0;
    for (int32_t shard = 0; shard < map.shards; ++shard) {
      const ShardPlacement& now = map.placement[shard];
      const ShardPlacement& was = before.placement[shard];
      if (now.epoch != was.epoch) {
        ++changed;
        EXPECT_EQ(now.epoch, was.epoch + 1);
      }
      moving += !now.syncing.empty() || !now.leaving.empty();
      EXPECT_GE(now.Readable().size(), 2u) << shard;  // R full replicas answer reads throughout
      EXPECT_TRUE(now.HasReplica(now.primary));
      EXPECT_EQ(std::count(now.syncing.begin(), now.syncing.end(), now.primary), 0);
      EXPECT_EQ(std::count(now.leaving.begin(), now.leaving.end(), now.primary), 0);
    }
    EXPECT_EQ(changed, 1);
    EXPECT_LE(moving, 1);
    // Catch-up: the syncing replica flips (no epoch change), as shard_catchup does.
    for (auto& shard : map.placement) shard.syncing.clear();
  }
  const auto loads = Loads(map);
  ASSERT_EQ(loads.size(), 4u);
  for (const auto& [node, load] : loads) EXPECT_EQ(load, 4) << node;
  for (const auto& shard : map.placement) {
    EXPECT_EQ(shard.replicas.size(), 2u);
    EXPECT_TRUE(shard.leaving.empty());
  }
}

// Balances `map` for `live` until nothing moves, each syncing replica flipped at once.
void BalanceFully(ShardMap* map, const std::set<std::string>& live) {
  for (int steps = 0; BalanceShardMap(map, live, Always); ++steps) {
    ASSERT_LT(steps, 100);
    for (auto& shard : map->placement) shard.syncing.clear();
  }
}

TEST(BalanceShardMap, TheReplicaMoreRestsOnDifferentMembersAcrossDatasets) {
  // 5 shards (R 1) on 3 members, then a 4th joins: each dataset ends with one member holding 2
  // shards. Which one follows the dataset, not the members' names, so that across 60 datasets
  // no member carries them all (ties by name left them on "a" and "b", never on "c").
  std::map<std::string, int> extras;
  for (int d = 0; d < 60; ++d) {
    ShardMap map = PlaceShards("ds" + std::to_string(d), 5, 1, {"a", "b", "c"});
    BalanceFully(&map, {"a", "b", "c", "d"});
    for (const auto& [node, load] : Loads(map)) {
      ASSERT_LE(load, 2) << node;
      if (load == 2) ++extras[node];
    }
  }
  for (const char* node : {"a", "b", "c"}) EXPECT_GE(extras[node], 8) << node;
}

TEST(BalanceShardMap, WaitsWhileAShardIsSyncing) {
  ShardMap map = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  ASSERT_TRUE(BalanceShardMap(&map, {"a", "b", "c", "d"}, Always));
  const ShardMap syncing = map;
  EXPECT_FALSE(BalanceShardMap(&map, {"a", "b", "c", "d"}, Always));  // not caught up yet
  EXPECT_EQ(map.ToJson(), syncing.ToJson());
}

TEST(ShardMapJson, KeepsTheLeavingReplicas) {
  ShardMap map = PlaceShards("ds", 2, 2, {"a", "b", "c"});
  map.placement[0].leaving = {map.placement[0].replicas[1]};
  auto parsed = ParseShardMap(map.ToJson().dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->placement[0].leaving, map.placement[0].leaving);
  EXPECT_EQ(parsed->placement[0].Readable(), std::vector<std::string>{map.placement[0].primary});
}

}  // namespace
// A member that was away (its replicas removed by a repair, noted as `former`) is given back
// the shards it held by the moves, whose copies it may have kept; the list survives the JSON.
TEST(BalanceShardMap, GivesAReturningMemberBackTheShardsItHeld) {
  ShardMap map = PlaceShards("ds", 8, 2, {"a", "b", "c"});
  std::set<int32_t> held;
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    if (map.placement[shard].HasReplica("c")) held.insert(shard);
  }
  ASSERT_TRUE(RepairShardMap(&map, {"a", "b"}));
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    const auto& former = map.placement[shard].former;
    EXPECT_EQ(std::count(former.begin(), former.end(), "c"), held.contains(shard) ? 1 : 0);
    map.placement[shard].syncing.clear();  // caught up
  }
  auto parsed = ParseShardMap(map.ToJson().dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ToJson(), map.ToJson());
  // c returns: every shard it is given back is one it held, and no longer lists it as former.
  std::set<int32_t> given;
  for (int steps = 0; BalanceShardMap(&map, {"a", "b", "c"}, Always); ++steps) {
    ASSERT_LT(steps, 100);
    for (int32_t shard = 0; shard < map.shards; ++shard) {
      auto& placement = map.placement[shard];
      if (!placement.syncing.empty()) given.insert(shard);
      placement.syncing.clear();
      if (placement.HasReplica("c")) {
        EXPECT_EQ(std::count(placement.former.begin(), placement.former.end(), "c"), 0);
      }
    }
  }
  EXPECT_FALSE(given.empty());
  for (int32_t shard : given) EXPECT_TRUE(held.contains(shard)) << shard;
}

}  // namespace arbalest
