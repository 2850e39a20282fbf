// The shard map without etcd: placement by rendezvous hashing, repair for the live members
// (failover: a surviving replica becomes primary, the epoch bumps), the stored JSON, the hash of
// ids to shards, and the etcd transactions that store maps.
#include "cluster/shard_map.h"

#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "cluster/etcd_json.h"

namespace arbalest {
namespace {

const std::vector<std::string> kNodes = {"a", "b", "c"};

TEST(PlaceShards, GivesEachShardDistinctReplicasAndSpreadsPrimaries) {
  const ShardMap map = PlaceShards("ds", 64, 2, kNodes);
  ASSERT_EQ(map.placement.size(), 64u);
  std::map<std::string, int> primaries;
  for (const auto& shard : map.placement) {
    ASSERT_EQ(shard.replicas.size(), 2u);
    EXPECT_NE(shard.replicas[0], shard.replicas[1]);
    EXPECT_EQ(shard.primary, shard.replicas[0]);
    EXPECT_EQ(shard.epoch, 1);
    ++primaries[shard.primary];
  }
  EXPECT_EQ(primaries.size(), 3u);  // 64 shards: every node is some shard's primary
  for (const auto& [node, count] : primaries) EXPECT_GT(count, 5) << node;
  // Rendezvous: the same inputs place the same way, whatever the order of the members.
  EXPECT_EQ(PlaceShards("ds", 64, 2, {"c", "a", "b"}).ToJson(), map.ToJson());
  // At most the members there are.
  EXPECT_EQ(PlaceShards("ds", 2, 5, kNodes).placement[0].replicas.size(), 3u);
}

// Primaries take the writes: whatever the dataset, no member is primary of 2 shards more than
// another, so each is some primary once there are as many shards as members; replicas stay
// spread as evenly.
TEST(PlaceShards, SpreadsPrimariesWithinOneOfEachOther) {
  for (int members = 2; members <= 6; ++members) {
    std::vector<std::string> nodes;
    for (int i = 0; i < members; ++i) nodes.push_back("node" + std::to_string(i));
    for (int replication = 1; replication <= 3; ++replication) {
      for (int shards = 1; shards <= 20; ++shards) {
        for (int name = 0; name < 20; ++name) {
          const std::string dataset = "ds" + std::to_string(name);
          const ShardMap map = PlaceShards(dataset, shards, replication, nodes);
          std::map<std::string, int> primaries, replicas;
          for (const auto& node : nodes) primaries[node] = replicas[node] = 0;
          for (const auto& shard : map.placement) {
            ASSERT_FALSE(shard.replicas.empty());
            EXPECT_EQ(shard.primary, shard.replicas.front());
            ++primaries[shard.primary];
            for (const auto& node : shard.replicas) ++replicas[node];
          }
          auto spread = [](const std::map<std::string, int>& counts) {
            auto [low, high] = std::minmax_element(
                counts.begin(), counts.end(),
                [](const auto& a, const auto& b) { return a.second < b.second; });
            return high->second - low->second;
          };
          const std::string where = dataset + " shards=" + std::to_string(shards) +
                                    " R=" + std::to_string(replication) +
                                    " members=" + std::to_string(members);
          EXPECT_LE(spread(primaries), 1) << where;
          EXPECT_LE(spread(replicas), 1) << where;
        }
      }
    }
  }
}

TEST(RepairShardMap, PromotesASurvivorBumpsTheEpochAndAddsASyncingReplica) {
  ShardMap map = PlaceShards("ds", 16, 2, kNodes);
  const ShardMap before = map;
  EXPECT_FALSE(RepairShardMap(&map, {"a", "b", "c"}));  // everyone alive: nothing changes
  ASSERT_TRUE(RepairShardMap(&map, {"b", "c"}));        // "a" is gone
  for (int shard = 0; shard < 16; ++shard) {
    const ShardPlacement& was = before.placement[shard];
    const ShardPlacement& now = map.placement[shard];
    if (!was.HasReplica("a")) {
      EXPECT_EQ(now.epoch, 1);
      continue;
    }
    EXPECT_EQ(now.epoch, 2) << shard;
    EXPECT_FALSE(now.HasReplica("a"));
    EXPECT_NE(now.primary, "a");
    // The survivor holds every row; the member added to reach R=2 holds the new ones only.
    const std::string survivor = was.replicas[0] == "a" ? was.replicas[1] : was.replicas[0];
    EXPECT_EQ(now.primary, survivor);
    EXPECT_EQ(now.Readable(), std::vector<std::string>{survivor});
    ASSERT_EQ(now.syncing.size(), 1u);
    EXPECT_EQ(now.replicas.size(), 2u);
  }
}

TEST(RepairShardMap, LeavesAShardWithoutSurvivorsAsItIs) {
  ShardMap map = PlaceShards("ds", 8, 1, kNodes);
  const ShardMap before = map;
  RepairShardMap(&map, {"b"});
  for (int shard = 0; shard < 8; ++shard) {
    if (before.placement[shard].primary == "b") continue;
    EXPECT_EQ(map.placement[shard].replicas, before.placement[shard].replicas);
    EXPECT_EQ(map.placement[shard].epoch, 1);
  }
}

TEST(ShardMapJson, RoundTripsAndRefusesMalformedMaps) {
  ShardMap map = PlaceShards("ns/ds", 4, 2, kNodes);
  RepairShardMap(&map, {"a", "b"});
  auto parsed = ParseShardMap(map.ToJson().dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ToJson(), map.ToJson());
  EXPECT_FALSE(parsed->assigned_ids);
  map.assigned_ids = true;  // a dataset created without ids (id_blocks.h)
  EXPECT_TRUE(ParseShardMap(map.ToJson().dump())->assigned_ids);
  EXPECT_TRUE(
      ParseShardMap(R"({"dataset": "d", "shards": 2, "placement": []})").status().IsInvalid());
  EXPECT_TRUE(ParseShardMap("[]").status().IsInvalid());
  EXPECT_EQ(ShardMapKey("c", "ns/ds"), "/c/shards/ns/ds");
}

TEST(ShardDatasetName, SuffixesTheShardAndRefusesTooLongNames) {
  EXPECT_EQ(*ShardDatasetName("ns/ds", 3), "ns/ds.__shard3");
  EXPECT_TRUE(ShardDatasetName(std::string(125, 'x'), 0).status().IsInvalid());
}

TEST(ShardsOfIds, HashesEachIdTypeStablyAndRefusesNullsAndOtherTypes) {
  arrow::Int64Builder ints;
  for (int64_t i = 0; i < 1000; ++i) ASSERT_TRUE(ints.Append(i).ok());
  auto int_ids = *ints.Finish();
  auto shards = ShardsOfIds(*int_ids, 4);
  ASSERT_TRUE(shards.ok());
  std::vector<int> counts(4);
  for (int32_t shard : *shards) ++counts[shard];
  for (int count : counts) EXPECT_GT(count, 150);  // about 250 each
  EXPECT_EQ(*ShardsOfIds(*int_ids, 4), *shards);   // the same every time
  // uint64 ids hash the same bytes as int64 ones.
  arrow::UInt64Builder uints;
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(uints.Append(i).ok());
  EXPECT_EQ(*ShardsOfIds(**uints.Finish(), 4), *shards);
  arrow::StringBuilder strings;
  ASSERT_TRUE(strings.AppendValues({"a", "b", "c"}).ok());
  EXPECT_EQ(ShardsOfIds(**strings.Finish(), 4)->size(), 3u);
  arrow::Int64Builder with_null;
  ASSERT_TRUE(with_null.AppendNull().ok());
  EXPECT_TRUE(ShardsOfIds(**with_null.Finish(), 4).status().IsInvalid());
  arrow::Int32Builder int32s;
  ASSERT_TRUE(int32s.Append(1).ok());
  EXPECT_TRUE(ShardsOfIds(**int32s.Finish(), 4).status().IsInvalid());
}

TEST(MetadataCount, ReadsTheSchemaKeyOrTheDefault) {
  auto schema = arrow::schema({arrow::field("id", arrow::int64())});
  EXPECT_EQ(*MetadataCount(*schema, kShardsMetadataKey, 4, kMaxShards), 4);
  auto with = schema->WithMetadata(arrow::key_value_metadata({kShardsMetadataKey}, {"8"}));
  EXPECT_EQ(*MetadataCount(*with, kShardsMetadataKey, 4, kMaxShards), 8);
  for (const char* bad : {"0", "x", "2000", "-1"}) {
    auto refused = schema->WithMetadata(arrow::key_value_metadata({kShardsMetadataKey}, {bad}));
    EXPECT_TRUE(MetadataCount(*refused, kShardsMetadataKey, 4, kMaxShards).status().IsInvalid())
        << bad;
  }
}

TEST(EtcdTxn, ComparesOnCreateOrModRevisionAndParsesTheOutcome) {
  EXPECT_EQ(etcd::PutIfRequest("k", "v", 0).dump(),
            R"({"compare":[{"create_revision":"0","key":"aw==","result":"EQUAL",)"
            R"("target":"CREATE"}],"success":[{"request_put":{"key":"aw==","value":"dg=="}}]})");
  EXPECT_EQ(etcd::PutIfRequest("k", "v", 9).dump(),
            R"({"compare":[{"key":"aw==","mod_revision":"9","result":"EQUAL",)"
            R"("target":"MOD"}],"success":[{"request_put":{"key":"aw==","value":"dg=="}}]})");
  EXPECT_TRUE(*etcd::ParseTxnReply(R"({"header":{"revision":"5"},"succeeded":true})"));
  EXPECT_FALSE(*etcd::ParseTxnReply(R"({"header":{"revision":"5"}})"));
  EXPECT_TRUE(
      etcd::ParseTxnReply(R"({"error":"x","code":3,"message":"bad"})").status().IsIOError());
}

}  // namespace
}  // namespace arbalest
