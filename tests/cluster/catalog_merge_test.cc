// The cluster catalog merged from members' own listings, without processes: a sharded dataset
// counted once per shard from one readable replica, unsharded datasets summed over members,
// missing shards named, stale shard copies and syncing copies never counted.
#include "cluster/catalog_merge.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace arbalest {
namespace {

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("id", arrow::int64()),
                        arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 4))});
}

CatalogEntry Entry(const std::string& name, int64_t rows, int64_t deleted = 0) {
  return CatalogEntry{name, Schema(), rows, deleted, rows * 100, 4, nullptr};
}

// Dataset "ds", two shards, replicas {a, b} (primary a) and {b, c} (primary b).
ShardMap TwoShards() {
  ShardMap map;
  map.dataset = "ds";
  map.shards = 2;
  map.replication = 2;
  map.placement = {ShardPlacement{{"a", "b"}, "a", 1, {}, {}, {}},
                   ShardPlacement{{"b", "c"}, "b", 1, {}, {}, {}}};
  return map;
}

// Every replica holds its shard's rows (replicas agree, as after replication).
std::vector<MemberCatalog> AllMembers() {
  return {MemberCatalog{"a", {Entry("ds.__shard0", 10)}},
          MemberCatalog{"b", {Entry("ds.__shard0", 10), Entry("ds.__shard1", 7, 2)}},
          MemberCatalog{"c", {Entry("ds.__shard1", 7, 2)}}};
}

TEST(MergeCatalogs, CountsEachShardOnceFromItsPrimary) {
  std::vector<MissingNode> missing;
  const auto entries = MergeCatalogs(AllMembers(), {TwoShards()}, &missing);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "ds");
  EXPECT_EQ(entries[0].rows, 17);  // not 34: each shard once, though two replicas hold it
  EXPECT_EQ(entries[0].deleted_rows, 2);
  EXPECT_EQ(entries[0].bytes, 1700);
  EXPECT_EQ(entries[0].dim, 4);
  ASSERT_TRUE(entries[0].schema);
  EXPECT_EQ(entries[0].cluster["shards"], 2);
  EXPECT_EQ(entries[0].cluster["replicas"][0]["node"], "a");
  EXPECT_EQ(entries[0].cluster["replicas"][1]["node"], "b");
  EXPECT_TRUE(missing.empty());
}

TEST(MergeCatalogs, FallsBackToAnotherReadableReplicaAndNamesShardsWithNone) {
  ShardMap map = TwoShards();
  std::vector<MemberCatalog> members = {MemberCatalog{"b", {Entry("ds.__shard0", 10)}}};
  std::vector<MissingNode> missing;
  auto entries = MergeCatalogs(members, {map}, &missing);
  ASSERT_EQ(entries.size(), 1u);
  // Shard 0 from b (a did not answer); shard 1: b answered without it, so it holds no row yet.
  EXPECT_EQ(entries[0].rows, 10);
  EXPECT_EQ(entries[0].cluster["replicas"][0]["node"], "b");
  EXPECT_EQ(entries[0].cluster["replicas"][1]["rows"], 0);
  EXPECT_TRUE(missing.empty());

  // Nobody readable for shard 1 answered: it is missing, not counted as empty.
  map.placement[1].syncing = {"b"};  // b's copy of shard 1 is still catching up: never read
  members = {MemberCatalog{"a", {Entry("ds.__shard0", 10)}},
             MemberCatalog{"b", {Entry("ds.__shard0", 10), Entry("ds.__shard1", 3)}}};
  entries = MergeCatalogs(members, {map}, &missing);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].rows, 10);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].shard, 1);
  EXPECT_EQ(missing[0].node, "c");
  ASSERT_TRUE(entries[0].cluster.contains("missing_shards"));
  EXPECT_EQ(entries[0].cluster["missing_shards"][0]["shard"], 1);
}

TEST(MergeCatalogs, SumsUnshardedDatasetsOverMembersAndHidesStaleShardCopies) {
  std::vector<MemberCatalog> members = AllMembers();
  members[0].entries.push_back(Entry("plain", 5));
  members[2].entries.push_back(Entry("plain", 6));
  members[2].entries.push_back(Entry("gone.__shard3", 9));  // a copy whose map is gone
  std::vector<MissingNode> missing;
  const auto entries = MergeCatalogs(members, {TwoShards()}, &missing);
  ASSERT_EQ(entries.size(), 2u);  // ordered by name
  EXPECT_EQ(entries[0].name, "ds");
  EXPECT_EQ(entries[1].name, "plain");
  EXPECT_EQ(entries[1].rows, 11);
  ASSERT_EQ(entries[1].cluster["nodes"].size(), 2u);
  EXPECT_EQ(entries[1].cluster["nodes"][0]["node"], "a");
  EXPECT_EQ(entries[1].cluster["nodes"][1]["rows"], 6);
}

TEST(MergeCatalogs, MapWithoutRowsAnywhereIsNotListed) {
  std::vector<MissingNode> missing;
  const std::vector<MemberCatalog> members = {MemberCatalog{"a", {}}, MemberCatalog{"b", {}},
                                              MemberCatalog{"c", {}}};
  EXPECT_TRUE(MergeCatalogs(members, {TwoShards()}, &missing).empty());
  EXPECT_TRUE(missing.empty());
}

TEST(CatalogEntryOf, RoundTripsThroughAFlightInfo) {
  CatalogEntry entry = Entry("ds", 17, 2);
  entry.cluster = Json{{"shards", 2}};
  auto info = MakeFlightInfo(entry);
  ASSERT_TRUE(info.ok()) << info.status();
  auto parsed = CatalogEntryOf(*info);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CatalogEntry& back = *parsed;
  EXPECT_EQ(back.name, "ds");
  EXPECT_EQ(back.rows, 17);
  EXPECT_EQ(back.deleted_rows, 2);
  EXPECT_EQ(back.bytes, 1700);
  EXPECT_EQ(back.dim, 4);
  EXPECT_TRUE(back.schema->Equals(*entry.schema));

  auto bare = arrow::flight::FlightInfo::Make(
      *Schema(), arrow::flight::FlightDescriptor::Path({"x"}), {}, 1, 1, true, "");
  ASSERT_TRUE(bare.ok());
  auto refused = CatalogEntryOf(*bare);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("app_metadata of member flight 'x'"),
            std::string::npos);
}

}  // namespace
}  // namespace arbalest
