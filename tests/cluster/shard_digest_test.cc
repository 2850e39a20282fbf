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
// Rows of (id, vector of 2 floats, tag) in the column order given; a null tag for odd ids.
std::shared_ptr<arrow::RecordBatch> ContentBatch(
    const std::vector<std::pair<int64_t, std::vector<float>>>& rows, bool tag_first) {
  arrow::Int64Builder ids;
  auto floats = std::make_shared<arrow::FloatBuilder>();
  arrow::FixedSizeListBuilder vectors(arrow::default_memory_pool(), floats, 2);
  arrow::StringBuilder tags;
  for (const auto& [id, vector] : rows) {
    EXPECT_TRUE(ids.Append(id).ok());
    EXPECT_TRUE(vectors.Append().ok());
    EXPECT_TRUE(floats->AppendValues(vector).ok());
    EXPECT_TRUE((id % 2 ? tags.AppendNull() : tags.Append("t" + std::to_string(id))).ok());
  }
  auto id = arrow::field("id", arrow::int64());
  auto vector = arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 2));
  auto tag = arrow::field("tag", arrow::utf8());
  auto id_array = ids.Finish().ValueOrDie();
  auto vector_array = vectors.Finish().ValueOrDie();
  auto tag_array = tags.Finish().ValueOrDie();
  if (tag_first) {
    return arrow::RecordBatch::Make(arrow::schema({tag, vector, id}), id_array->length(),
                                    {tag_array, vector_array, id_array});
  }
  return arrow::RecordBatch::Make(arrow::schema({id, vector, tag}), id_array->length(),
                                  {id_array, vector_array, tag_array});
}

BucketTable ContentTableOf(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  BucketTable table(64, kDigestVersionContent);
  for (const auto& batch : batches) EXPECT_TRUE(table.AddRows(*batch).ok());
  return table;
}

TEST(ShardDigest, ContentTablesAgreeInAnyOrderAndSeeAVectorPutAgain) {
  std::vector<std::pair<int64_t, std::vector<float>>> rows;
  for (int64_t id = 0; id < 500; ++id) rows.push_back({id, {id * 0.5f, -1.0f * id}});
  auto reversed = rows;
  std::reverse(reversed.begin(), reversed.end());
  const BucketTable table = ContentTableOf({ContentBatch(rows, false)});
  // Rows in another order, split in batches, columns in another order: the same table.
  const BucketTable same =
      ContentTableOf({ContentBatch({reversed.begin(), reversed.begin() + 200}, true),
                      ContentBatch({reversed.begin() + 200, reversed.end()}, false)});
  EXPECT_TRUE(table.Differing(same).empty());
  EXPECT_EQ(table.version(), kDigestVersionContent);
  // Id 77 deleted and put again with another vector: same ids, same count, its bucket differs.
  auto changed = rows;
  changed[77].second[1] = 3.0f;
  const BucketTable other = ContentTableOf({ContentBatch(changed, false)});
  const int32_t bucket = HashId(*Int64Ids({77}), 0, 64).ValueOrDie().bucket;
  EXPECT_EQ(table.Differing(other), std::vector<int32_t>{bucket});
  EXPECT_EQ(table.count(bucket), other.count(bucket));
  // Version 1 (ids only) cannot see it.
  BucketTable ids(64);
  BucketTable ids_changed(64);
  ASSERT_TRUE(ids.Add(*ContentBatch(rows, false)->GetColumnByName("id")).ok());
  ASSERT_TRUE(ids_changed.Add(*ContentBatch(changed, false)->GetColumnByName("id")).ok());
  EXPECT_TRUE(ids.Differing(ids_changed).empty());
  // The rows of a bucket carry their content hashes: equal rows, equal hashes.
  auto reader = arrow::RecordBatchReader::Make({ContentBatch(rows, false)}).ValueOrDie();
  auto found = IdsInBuckets(*reader, {bucket}, 64, kDigestVersionContent);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->ids.size(), found->hashes.size());
  EXPECT_EQ(static_cast<int64_t>(found->ids.size()), table.count(bucket));
  auto again = arrow::RecordBatchReader::Make({ContentBatch(changed, false)}).ValueOrDie();
  auto found_again = IdsInBuckets(*again, {bucket}, 64, kDigestVersionContent);
  ASSERT_TRUE(found_again.ok());
  EXPECT_EQ(found_again->ids, found->ids);
  EXPECT_NE(found_again->hashes, found->hashes);
  // A version 2 table survives its JSON; one without a version is of version 1.
  auto parsed = BucketTable::FromJson(table.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version(), kDigestVersionContent);
  EXPECT_TRUE(parsed->Differing(table).empty());
  Json old = ids.ToJson();
  old.erase("version");
  EXPECT_EQ(BucketTable::FromJson(old).ValueOrDie().version(), kDigestVersionIds);
  old["version"] = 7;
  EXPECT_FALSE(BucketTable::FromJson(old).ok());
}

TEST(ShardDigest, AContentRequestCarriesItsVersionAndAnOldNodesRefusalIsRecognised) {
  auto request = ParseShardDigestRequest(ShardDigestBody("d", 1, 64, nullptr).dump());
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->version, kDigestVersionIds);
  EXPECT_FALSE(ShardDigestBody("d", 1, 64, nullptr).contains("version"));  // as before
  const Json body = ShardDigestBody("d", 1, 64, nullptr, kDigestVersionContent);
  EXPECT_EQ(body["version"], 2);
  request = ParseShardDigestRequest(body.dump());
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->version, kDigestVersionContent);
  EXPECT_EQ(ParseShardDigestRequest(R"({"dataset":"d","shard":0,"version":3})").status().message(),
            "shard-digest: version must be 1 (ids) or 2 (content), got 3");
  EXPECT_FALSE(ParseShardDigestRequest(R"({"dataset":"d","shard":0,"version":"2"})").ok());
  // What a node of a build before content digests answers a version 2 request.
  EXPECT_TRUE(IsWithoutContentDigests(arrow::Status::Invalid(
      "unknown key 'version' in shard-digest (known keys: dataset, shard, buckets, ids_of, ",
      "local_only)")));
  EXPECT_FALSE(IsWithoutContentDigests(arrow::Status::Invalid("something else")));
}

}  // namespace arbalest
