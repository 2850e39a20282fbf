// The content digests kept per segment (cluster/digest_cache.h) against the same digests
// computed over a scan of the same view (AnswerShardDigest, shard_digest.h), through a real
// store whose dataset is sealed into segments of 100 rows: equal tables and equal ids of some
// buckets after puts, deletes (in sealed and active segments), upserts, a compaction, a merge,
// a drop and a new dataset of the same name, a column added by a later put; a request after a
// put hashes only the new rows; the entries of segments that left the view, or that no request
// used lately, are dropped.
#include "cluster/digest_cache.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/scan.h"
#include "store/vector_store.h"

namespace arbalest {
namespace {

constexpr int32_t kDim = 4;
constexpr int64_t kRowsPerSegment = 100;

// Rows with `ids`, unique ids (a put replaces the rows of its ids), sealed every
// kRowsPerSegment rows; their vectors and tags change with `version`.
std::shared_ptr<arrow::RecordBatch> Rows(const std::vector<int64_t>& ids, int64_t version) {
  arrow::Int64Builder id_builder;
  arrow::StringBuilder tags;
  auto values = std::make_shared<arrow::FloatBuilder>();
  arrow::FixedSizeListBuilder vectors(arrow::default_memory_pool(), values, kDim);
  for (const int64_t id : ids) {
    EXPECT_TRUE(id_builder.Append(id).ok());
    EXPECT_TRUE(tags.Append("v" + std::to_string(version)).ok());
    EXPECT_TRUE(vectors.Append().ok());
    for (int j = 0; j < kDim; ++j) {
      EXPECT_TRUE(values->Append(static_cast<float>(id * 10 + version) + j / 1000.0f).ok());
    }
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64(), false),
       arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim)),
       arrow::field("tag", arrow::utf8())},
      arrow::key_value_metadata({"arbalest.unique_id", "index.segment_max_bytes"},
                                {"true", std::to_string(kRowsPerSegment * kDim * 4)}));
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()),
                                  {id_builder.Finish().ValueOrDie(), vectors.Finish().ValueOrDie(),
                                   tags.Finish().ValueOrDie()});
}

std::vector<int64_t> Range(int64_t begin, int64_t end, int64_t step = 1) {
  std::vector<int64_t> ids;
  for (int64_t id = begin; id < end; id += step) ids.push_back(id);
  return ids;
}

ShardDigestRequest Request(int32_t buckets, std::optional<std::set<int32_t>> ids_of = {}) {
  ShardDigestRequest request;
  request.dataset = "ds";
  request.buckets = buckets;
  request.version = kDigestVersionContent;
  request.ids_of = std::move(ids_of);
  return request;
}

// An answer without what differs between two computations of it (the time, the cache's work).
Json Comparable(Json answer) {
  answer.erase("seconds");
  answer.erase("cache");
  return answer;
}

class DigestCacheTest : public ::testing::Test {
 protected:
  std::shared_ptr<Dataset> Put(const std::shared_ptr<arrow::RecordBatch>& batch) {
    std::shared_ptr<Dataset> dataset;
    auto ack = store_.Put("ds", batch, &dataset);
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    return dataset;
  }

  void Delete(Dataset& dataset, const std::vector<int64_t>& ids) {
    arrow::Int64Builder builder;
    ASSERT_TRUE(builder.AppendValues(ids).ok());
    auto deleted = store_.Delete(dataset, *builder.Finish().ValueOrDie());
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  }

  // The cache's answer to `request` for `dataset`'s view, checked equal to a scan's; its
  // "cache" part.
  Json ExpectSameAsScan(const Dataset& dataset, const ShardDigestRequest& request) {
    const DatasetSnapshot snapshot = dataset.Snapshot();
    auto cached = cache_.Answer(request, "ds", snapshot);
    EXPECT_TRUE(cached.ok()) << cached.status().ToString();
    if (!cached.ok()) return Json();
    auto reader = ScanSnapshot(snapshot, ScanOptions{});
    EXPECT_TRUE(reader.ok());
    auto scanned = AnswerShardDigest(request, **reader);
    EXPECT_TRUE(scanned.ok()) << scanned.status().ToString();
    if (!scanned.ok()) return Json();
    EXPECT_EQ(Comparable(*cached), Comparable(*scanned));
    return (*cached)["cache"];
  }

  // Tables of 64 and 4096 buckets, and the ids of some buckets, equal to a scan's; the "cache"
  // part of the first table's answer.
  Json ExpectAllSameAsScan(const Dataset& dataset) {
    const Json first = ExpectSameAsScan(dataset, Request(64));
    ExpectSameAsScan(dataset, Request(kDigestBuckets));
    ExpectSameAsScan(dataset, Request(64, std::set<int32_t>{0, 5, 17, 63}));
    ExpectSameAsScan(dataset, Request(kDigestBuckets, std::set<int32_t>{1, 100, 4095}));
    return first;
  }

  VectorStore store_{0};
  DigestCache cache_;
};

TEST_F(DigestCacheTest, EqualsTheScansDigestsOverAHistoryAndHashesOnlyNewRows) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 450; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  ASSERT_EQ(dataset->Snapshot().segments.size(), 5u);  // four sealed, the active one
  Json work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 450);
  EXPECT_EQ(work["segments"], 5);
  EXPECT_EQ(work["bytes"], 450 * 16);

  // Nothing new: nothing hashed. Rows appended: only they are.
  work = ExpectSameAsScan(*dataset, Request(64));
  EXPECT_EQ(work["rows_hashed"], 0);
  EXPECT_EQ(work["rows_reused"], 450);
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(450, 480), 1)).ok());
  work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 30);

  // Deletes in sealed segments and in the active one: taken away, nothing hashed.
  Delete(*dataset, {3, 150, 151, 299, 460});
  work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 0);

  // Upserts: the old rows deleted, the new ones (another vector and tag) appended.
  ASSERT_TRUE(store_.Append(*dataset, Rows({10, 11, 250, 470}, 2)).ok());
  work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 4);
  const auto before_compaction = cache_.Answer(Request(64), "ds", dataset->Snapshot());
  ASSERT_TRUE(before_compaction.ok());

  // A compaction renumbers and rewrites the segments: their entries go, the new ones come.
  ASSERT_TRUE(store_.Compact(*dataset).ok());
  ASSERT_EQ(dataset->Snapshot().deleted_rows, 0);
  work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["segments"], static_cast<int64_t>(dataset->Snapshot().segments.size()));
  // Same live rows, same table.
  EXPECT_EQ(Comparable(*cache_.Answer(Request(64), "ds", dataset->Snapshot())),
            Comparable(*before_compaction));
  EXPECT_EQ(cache_.stats().rows, dataset->Snapshot().num_rows);
}

TEST_F(DigestCacheTest, EqualsTheScansDigestsAcrossAMergeAndANewDatasetOfTheSameName) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 1000; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  auto linked = dataset->CatchUpIndex(1000, /*threads=*/1, [] { return false; });
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  // Segments 3 and 4 left small: the merge policy's pick.
  std::vector<int64_t> doomed;
  for (int64_t id = 300; id < 500; ++id) {
    if (id % 5 != 0) doomed.push_back(id);
  }
  Delete(*dataset, doomed);
  ASSERT_TRUE(store_.Compact(*dataset).ok());
  Delete(*dataset, {305, 900});
  ExpectAllSameAsScan(*dataset);
  const size_t segments = dataset->Snapshot().segments.size();
  auto merged = dataset->MergeSegments(/*threads=*/1, [] { return false; });
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  ASSERT_GE(merged->merges, 1);
  ASSERT_LT(dataset->Snapshot().segments.size(), segments);
  Json work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["segments"], static_cast<int64_t>(dataset->Snapshot().segments.size()));
  EXPECT_EQ(cache_.stats().rows, dataset->Snapshot().num_rows);

  // Dropped and put again with other rows: no entry of the old one answers.
  ASSERT_TRUE(store_.Drop("ds").ok());
  dataset.reset();
  dataset = Put(Rows(Range(0, 50), 3));
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(50, 120), 3)).ok());
  work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 120);
  EXPECT_EQ(cache_.stats().rows, 120);
}

// `batch` with a trailing nullable column "note" ("n<id>"): a put of it evolves the schema.
std::shared_ptr<arrow::RecordBatch> WithNote(const std::shared_ptr<arrow::RecordBatch>& batch) {
  const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
  arrow::StringBuilder notes;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    EXPECT_TRUE(notes.Append("n" + std::to_string(ids.Value(row))).ok());
  }
  return batch
      ->AddColumn(batch->num_columns(), arrow::field("note", arrow::utf8()),
                  notes.Finish().ValueOrDie())
      .ValueOrDie();
}

TEST_F(DigestCacheTest, AColumnAddedLaterIsHashedAsAScanPadsTheOlderRows) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 250; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  ExpectAllSameAsScan(*dataset);
  // The older rows now scan with a null note: their hashes change, the kept ones no longer
  // answer.
  ASSERT_TRUE(store_.Append(*dataset, WithNote(Rows(Range(250, 270), 1))).ok());
  ASSERT_EQ(dataset->Snapshot().schema->num_fields(), 4);
  const Json work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 270);
  EXPECT_EQ(cache_.stats().rows, 270);
}

TEST_F(DigestCacheTest, EntriesNoRequestUsedLatelyAreDropped) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(50, 100), 1)).ok());
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(100, 150), 1)).ok());
  ExpectSameAsScan(*dataset, Request(64));
  const int64_t segments = cache_.stats().segments;
  ASSERT_EQ(segments, 2);
  cache_.DropUnused(std::chrono::hours(1));
  EXPECT_EQ(cache_.stats().segments, segments);
  cache_.DropUnused(std::chrono::seconds(0));
  EXPECT_EQ(cache_.stats().segments, 0);
  EXPECT_EQ(cache_.stats().bytes, 0);
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(64))["rows_hashed"], 150);
}

TEST_F(DigestCacheTest, AnswersContentDigestsOnly) {
  auto dataset = Put(Rows(Range(0, 10), 1));
  ShardDigestRequest request = Request(64);
  request.version = kDigestVersionIds;
  auto answer = cache_.Answer(request, "ds", dataset->Snapshot());
  ASSERT_FALSE(answer.ok());
  EXPECT_TRUE(answer.status().IsInvalid());
  EXPECT_NE(answer.status().message().find("content digests (version 2) only"), std::string::npos)
      << answer.status().ToString();
}

TEST_F(DigestCacheTest, AnEmptyViewHasAnEmptyTable) {
  auto dataset = Put(Rows(Range(0, 10), 1));
  Delete(*dataset, Range(0, 10));
  const Json work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 0);
  auto answer = cache_.Answer(Request(64), "ds", dataset->Snapshot());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ((*answer)["rows"], 0);
  EXPECT_TRUE((*answer)["type"].is_null());
}

}  // namespace
}  // namespace arbalest
