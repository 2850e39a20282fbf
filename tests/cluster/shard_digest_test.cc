// The bucket table of a shard copy (shard_digest.h): equal for equal multisets of ids in any
// order; a missing, extra or duplicated id changes exactly its bucket; the ids of some buckets;
// the requests of action shard-digest, malformed ones refused with a clear error.
#include "cluster/shard_digest.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace arbalest {
namespace {

std::shared_ptr<arrow::Array> Int64Ids(const std::vector<int64_t>& ids) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendValues(ids).ok());
  return builder.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> StringIds(const std::vector<std::string>& ids) {
  arrow::StringBuilder builder;
  EXPECT_TRUE(builder.AppendValues(ids).ok());
  return builder.Finish().ValueOrDie();
}

BucketTable TableOf(const std::vector<int64_t>& ids, int32_t buckets = kDigestBuckets) {
  BucketTable table(buckets);
  EXPECT_TRUE(table.Add(*Int64Ids(ids)).ok());
  return table;
}

int32_t BucketOf(int64_t id, int32_t buckets = kDigestBuckets) {
  return HashId(*Int64Ids({id}), 0, buckets).ValueOrDie().bucket;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> ids;
  for (int64_t id = from; id < to; ++id) ids.push_back(id);
  return ids;
}

TEST(ShardDigest, EqualMultisetsInAnyOrderGiveEqualTables) {
  std::vector<int64_t> ids = Range(0, 20000);
  ids.push_back(17);  // an id held twice, on both copies
  std::vector<int64_t> shuffled = ids;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(7));
  // The second copy's ids in several batches.
  BucketTable batched(kDigestBuckets);
  for (size_t at = 0; at < shuffled.size(); at += 999) {
    const auto end = shuffled.begin() + std::min(shuffled.size(), at + 999);
    ASSERT_TRUE(batched.Add(*Int64Ids(std::vector<int64_t>(shuffled.begin() + at, end))).ok());
  }
  const BucketTable table = TableOf(ids);
  EXPECT_TRUE(table.Differing(batched).empty());
  EXPECT_EQ(table.rows(), 20001);
  EXPECT_EQ(table.type(), "int64");
  // The ids of one shard (all with the same XXH3 modulo the shard count) spread over every
  // bucket: the bucket hash is not the shard hash.
  int32_t used = 0;
  for (int32_t bucket = 0; bucket < table.buckets(); ++bucket) used += table.count(bucket) > 0;
  EXPECT_GT(used, kDigestBuckets * 9 / 10);
}

TEST(ShardDigest, AMissingExtraOrDuplicatedIdChangesExactlyItsBucket) {
  const std::vector<int64_t> ids = Range(0, 5000);
  const BucketTable table = TableOf(ids);
  std::vector<int64_t> missing = ids;
  missing.erase(std::find(missing.begin(), missing.end(), 1234));
  EXPECT_EQ(table.Differing(TableOf(missing)), std::vector<int32_t>{BucketOf(1234)});
  std::vector<int64_t> extra = ids;
  extra.push_back(-99);
  EXPECT_EQ(table.Differing(TableOf(extra)), std::vector<int32_t>{BucketOf(-99)});
  std::vector<int64_t> duplicated = ids;
  duplicated.push_back(4321);
  EXPECT_EQ(table.Differing(TableOf(duplicated)), std::vector<int32_t>{BucketOf(4321)});
  // One id swapped for another of the same bucket: the count is equal, the digest is not.
  int64_t twin = 5000;
  while (BucketOf(twin) != BucketOf(10)) ++twin;
  std::vector<int64_t> swapped = ids;
  *std::find(swapped.begin(), swapped.end(), 10) = twin;
  const BucketTable other = TableOf(swapped);
  EXPECT_EQ(table.count(BucketOf(10)), other.count(BucketOf(10)));
  EXPECT_EQ(table.Differing(other), std::vector<int32_t>{BucketOf(10)});
}

TEST(ShardDigest, StringIdsAndTheirTypeAreDigestedToo) {
  BucketTable a(64), b(64);
  ASSERT_TRUE(a.Add(*StringIds({"x", "y", "z"})).ok());
  ASSERT_TRUE(b.Add(*StringIds({"z", "x", "y"})).ok());
  EXPECT_TRUE(a.Differing(b).empty());
  EXPECT_EQ(a.type(), "string");
  ASSERT_TRUE(b.Add(*StringIds({"y"})).ok());
  EXPECT_EQ(a.Differing(b).size(), 1u);
  // One table never mixes id types.
  const auto mixed = a.Add(*Int64Ids({1}));
  EXPECT_TRUE(mixed.IsInvalid());
  EXPECT_NE(mixed.message().find("ids of type int64 after ids of type string"), std::string::npos);
}

TEST(ShardDigest, TheTableSurvivesItsJson) {
  const BucketTable table = TableOf(Range(-500, 500), 128);
  auto back = BucketTable::FromJson(Json::parse(table.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(table.Differing(*back).empty());
  EXPECT_EQ(back->rows(), 1000);
  EXPECT_EQ(back->type(), "int64");
  Json cut = table.ToJson();
  cut["sums"].erase(cut["sums"].begin());
  const auto refused = BucketTable::FromJson(cut);
  EXPECT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("a shard digest's table is malformed"),
            std::string::npos);
}

class IdsReader : public arrow::RecordBatchReader {
 public:
  explicit IdsReader(std::vector<std::shared_ptr<arrow::Array>> columns)
      : columns_(std::move(columns)) {}
  std::shared_ptr<arrow::Schema> schema() const override {
    return arrow::schema({arrow::field("id", arrow::int64())});
  }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (next_ == columns_.size()) {
      *batch = nullptr;
      return arrow::Status::OK();
    }
    const auto& column = columns_[next_++];
    *batch = arrow::RecordBatch::Make(schema(), column->length(), {column});
    return arrow::Status::OK();
  }

 private:
  std::vector<std::shared_ptr<arrow::Array>> columns_;
  size_t next_ = 0;
};

TEST(ShardDigest, TheIdsOfSomeBucketsAreThoseThatFallInThem) {
  IdsReader reader({Int64Ids(Range(0, 300)), Int64Ids({7, 7})});
  const std::set<int32_t> buckets{BucketOf(7, 32), BucketOf(100, 32)};
  auto found = IdsInBuckets(reader, buckets, 32);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->type, "int64");
  std::vector<int64_t> expected;
  for (int64_t id : Range(0, 300)) {
    if (buckets.contains(BucketOf(id, 32))) expected.push_back(id);
  }
  expected.push_back(7);
  expected.push_back(7);
  std::vector<int64_t> got;
  for (const Json& id : found->ids) got.push_back(id.get<int64_t>());
  EXPECT_EQ(got, expected);
  EXPECT_LT(got.size(), 100u);
}

TEST(ShardDigest, ARequestIsParsedAndAMalformedOneRefusedClearly) {
  auto request = ParseShardDigestRequest(ShardDigestBody("d", 3, 64, nullptr).dump());
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->dataset, "d");
  EXPECT_EQ(request->shard, 3);
  EXPECT_EQ(request->buckets, 64);
  EXPECT_FALSE(request->ids_of);
  const std::vector<int32_t> ids_of{1, 5};
  request = ParseShardDigestRequest(ShardDigestBody("d", 0, 64, &ids_of).dump());
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request->ids_of, (std::set<int32_t>{1, 5}));
  EXPECT_EQ(ParseShardDigestRequest(R"({"dataset":"d","shard":0})")->buckets, kDigestBuckets);

  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"shard":0})", "needs dataset (a string) and shard"},
      {R"({"dataset":"d","shard":"1"})", "needs dataset (a string) and shard"},
      {R"({"dataset":"d","shard":-1})", "shard must be >= 0, got -1"},
      {R"({"dataset":"d","shard":0,"buckets":0})", "buckets must be in [1, 1048576], got 0"},
      {R"({"dataset":"d","shard":0,"buckets":4,"ids_of":[4]})", "not a bucket in [0, 4)"},
      {R"({"dataset":"d","shard":0,"ids_of":3})", "ids_of must be an array of buckets"},
      {R"({"dataset":"d","shard":0,"bucket":3})", "bucket"},
      {R"([1])", "shard-digest"},
  };
  for (const auto& [body, message] : refused) {
    const auto parsed = ParseShardDigestRequest(body);
    ASSERT_TRUE(parsed.status().IsInvalid()) << body;
    EXPECT_NE(parsed.status().message().find(message), std::string::npos)
        << body << ": " << parsed.status().message();
  }
}

}  // namespace
}  // namespace arbalest
