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

ShardDigestRequest Request(int32_t buckets, std::optional<std::set<int32_t>> ids_of = {},
                           int32_t version = kDigestVersionContent) {
  ShardDigestRequest request;
  request.dataset = "ds";
  request.buckets = buckets;
  request.version = version;
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

  // Tables of 64 and 4096 buckets, and the ids of some buckets, equal to a scan's (of
  // `version`); the "cache" part of the first table's answer.
  Json ExpectAllSameAsScan(const Dataset& dataset, int32_t version = kDigestVersionContent) {
    const Json first = ExpectSameAsScan(dataset, Request(64, {}, version));
    ExpectSameAsScan(dataset, Request(kDigestBuckets, {}, version));
    ExpectSameAsScan(dataset, Request(64, std::set<int32_t>{0, 5, 17, 63}, version));
    ExpectSameAsScan(dataset, Request(kDigestBuckets, std::set<int32_t>{1, 100, 4095}, version));
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

// A segment of at least kTableRowsPerBucket rows a bucket keeps the table of its rows: the next
// request of as many buckets adds it and sums only the rows stored since; a segment below that
// (here, every one at 64 buckets) sums its rows each time and keeps none. Answers equal a scan's.
TEST_F(DigestCacheTest, ALargeSegmentKeepsItsTableAndSumsOnlyTheRowsStoredSince) {
  constexpr int32_t kBuckets = 16;  // 64 rows a segment or more keep a table
  ASSERT_LE(DigestCache::kTableRowsPerBucket * kBuckets, kRowsPerSegment);
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 450; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  ASSERT_EQ(dataset->Snapshot().segments.size(), 5u);  // four sealed of 100 rows, 50 active
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 450);
  Json work = ExpectSameAsScan(*dataset, Request(kBuckets));
  EXPECT_EQ(work["rows_summed"], 50);  // the active segment's 50 rows, under 64
  EXPECT_EQ(work["bytes"], 450 * 16 + 4 * kBuckets * 16);
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(450, 480), 1)).ok());  // active: 80 rows
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 80);
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 0);
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(480, 490), 1)).ok());
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 10);

  // Deletes and upserts are taken away from the kept tables' sums.
  Delete(*dataset, {3, 150, 299, 460});
  ASSERT_TRUE(store_.Append(*dataset, Rows({10, 250}, 2)).ok());
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 2);
  // Another bucket count: every row summed (no segment is large enough at 64), no table
  // replaced: the next request of 16 buckets still adds the kept ones.
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(64))["rows_summed"], 492);
  EXPECT_EQ(ExpectSameAsScan(*dataset, Request(kBuckets))["rows_summed"], 0);
  ExpectAllSameAsScan(*dataset);
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

// The store's budget, not owned (it lives as long as the store).
std::shared_ptr<MemoryBudget> BudgetOf(VectorStore& store) {
  return std::shared_ptr<MemoryBudget>(std::shared_ptr<void>(), store.mutable_memory());
}

TEST_F(DigestCacheTest, ItsMemoryIsChargedToTheStoresBudgetAndReleasedAsEntriesLeave) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 300; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  int64_t reported = -1;
  DigestCache cache([&reported](int64_t bytes) { reported = bytes; });
  const MemoryBudget& budget = store_.memory();
  const int64_t before = budget.used();
  cache.ChargeTo(BudgetOf(store_));
  EXPECT_EQ(budget.used(), before);
  EXPECT_EQ(reported, 0);

  // Each entry's hashes are charged as they are kept.
  ASSERT_TRUE(cache.Answer(Request(64), "ds", dataset->Snapshot()).ok());
  DigestCache::Stats stats = cache.stats();
  EXPECT_GE(stats.bytes, 300 * 16);
  EXPECT_EQ(stats.charged, stats.bytes);
  EXPECT_EQ(budget.used(), before + stats.bytes);
  EXPECT_EQ(reported, stats.bytes);
  EXPECT_EQ(cache.stats().ToJson()["charged_bytes"], stats.bytes);

  // Rows appended and a compaction: the budget follows the entries (the store's own charges
  // change too: compare with what the cache holds).
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(300, 330), 1)).ok());
  Delete(*dataset, Range(0, 120));
  ASSERT_TRUE(store_.Compact(*dataset).ok());
  int64_t store_only = budget.used() - cache.stats().charged;
  ASSERT_TRUE(cache.Answer(Request(64), "ds", dataset->Snapshot()).ok());
  stats = cache.stats();
  EXPECT_EQ(stats.rows, dataset->Snapshot().num_rows);
  EXPECT_EQ(stats.charged, stats.bytes);
  EXPECT_EQ(budget.used(), store_only + stats.bytes);
  EXPECT_EQ(reported, stats.bytes);

  // Unused entries dropped: released.
  cache.DropUnused(std::chrono::seconds(0));
  EXPECT_EQ(cache.stats().charged, 0);
  EXPECT_EQ(budget.used(), store_only);
  EXPECT_EQ(reported, 0);

  // The dataset dropped: its entries go at the next DropUnused however recently used (their
  // graphs are gone), and so does their charge.
  ASSERT_TRUE(cache.Answer(Request(64), "ds", dataset->Snapshot()).ok());
  ASSERT_GT(cache.stats().charged, 0);
  ASSERT_TRUE(store_.Drop("ds").ok());
  dataset.reset();
  store_only = budget.used() - cache.stats().charged;
  cache.DropUnused(std::chrono::hours(1));
  EXPECT_EQ(cache.stats().segments, 0);
  EXPECT_EQ(budget.used(), store_only);
}

TEST_F(DigestCacheTest, ACacheGoneOrChargedElsewhereReleasesItsCharge) {
  auto dataset = Put(Rows(Range(0, 150), 1));
  const int64_t before = store_.memory().used();
  {
    DigestCache cache;
    cache.ChargeTo(BudgetOf(store_));
    ASSERT_TRUE(cache.Answer(Request(64), "ds", dataset->Snapshot()).ok());
    ASSERT_GT(store_.memory().used(), before);
    // Charged nowhere, then again: released, then charged at once.
    cache.ChargeTo(nullptr);
    EXPECT_EQ(store_.memory().used(), before);
    EXPECT_EQ(cache.stats().charged, 0);
    cache.ChargeTo(BudgetOf(store_));
    EXPECT_EQ(store_.memory().used(), before + cache.stats().bytes);
  }
  EXPECT_EQ(store_.memory().used(), before);
}

TEST_F(DigestCacheTest, IdDigestsEqualTheScansOverAHistoryAndHashOnlyNewRows) {
  auto dataset = Put(Rows(Range(0, 50), 1));
  for (int64_t first = 50; first < 450; first += 50) {
    ASSERT_TRUE(store_.Append(*dataset, Rows(Range(first, first + 50), 1)).ok());
  }
  Json work = ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  EXPECT_EQ(work["rows_hashed"], 450);
  // Version 1 hashes are the ids' own: a content request hashes the rows again, and each
  // version's entries answer later requests of it.
  work = ExpectSameAsScan(*dataset, Request(64));
  EXPECT_EQ(work["rows_hashed"], 450);
  EXPECT_EQ(work["segments"], 10);
  work = ExpectSameAsScan(*dataset, Request(64, {}, kDigestVersionIds));
  EXPECT_EQ(work["rows_hashed"], 0);
  EXPECT_EQ(work["rows_reused"], 450);

  // Appends, deletes in sealed and active segments, upserts (same ids, other contents: the
  // same id digest), a column added (ids hashed as before: nothing hashed again), a compaction.
  ASSERT_TRUE(store_.Append(*dataset, Rows(Range(450, 480), 1)).ok());
  Delete(*dataset, {3, 150, 151, 299, 460});
  work = ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  EXPECT_EQ(work["rows_hashed"], 30);
  const auto before_upsert =
      cache_.Answer(Request(64, {}, kDigestVersionIds), "ds", dataset->Snapshot());
  ASSERT_TRUE(before_upsert.ok());
  ASSERT_TRUE(store_.Append(*dataset, Rows({10, 11, 250, 470}, 2)).ok());
  work = ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  EXPECT_EQ(work["rows_hashed"], 4);
  EXPECT_EQ(
      Comparable(*cache_.Answer(Request(64, {}, kDigestVersionIds), "ds", dataset->Snapshot())),
      Comparable(*before_upsert));
  ASSERT_TRUE(store_.Append(*dataset, WithNote(Rows(Range(480, 490), 1))).ok());
  work = ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  EXPECT_EQ(work["rows_hashed"], 10);
  ASSERT_TRUE(store_.Compact(*dataset).ok());
  ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  ExpectAllSameAsScan(*dataset);
}

TEST_F(DigestCacheTest, IdDigestsOfAStringIdDatasetEqualTheScans) {
  arrow::StringBuilder ids;
  auto values = std::make_shared<arrow::FloatBuilder>();
  arrow::FixedSizeListBuilder vectors(arrow::default_memory_pool(), values, kDim);
  for (int i = 0; i < 120; ++i) {
    ASSERT_TRUE(ids.Append("id-" + std::to_string(i)).ok());
    ASSERT_TRUE(vectors.Append().ok());
    for (int j = 0; j < kDim; ++j) ASSERT_TRUE(values->Append(static_cast<float>(i + j)).ok());
  }
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("id", arrow::utf8(), false),
                     arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim))},
                    arrow::key_value_metadata({"index.segment_max_bytes"},
                                              {std::to_string(kRowsPerSegment * kDim * 4)})),
      120, {ids.Finish().ValueOrDie(), vectors.Finish().ValueOrDie()});
  auto dataset = Put(batch);
  const Json work = ExpectAllSameAsScan(*dataset, kDigestVersionIds);
  EXPECT_EQ(work["rows_hashed"], 120);
  auto answer = cache_.Answer(Request(64, {}, kDigestVersionIds), "ds", dataset->Snapshot());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ((*answer)["type"], "string");
  EXPECT_EQ((*answer)["version"], kDigestVersionIds);
}

TEST_F(DigestCacheTest, RefusesAnUnknownVersion) {
  auto dataset = Put(Rows(Range(0, 10), 1));
  auto answer = cache_.Answer(Request(64, {}, 3), "ds", dataset->Snapshot());
  ASSERT_FALSE(answer.ok());
  EXPECT_TRUE(answer.status().IsInvalid());
  EXPECT_NE(answer.status().message().find("no digest of version 3"), std::string::npos)
      << answer.status().ToString();
}

TEST_F(DigestCacheTest, AnEmptyViewHasAnEmptyTable) {
  auto dataset = Put(Rows(Range(0, 10), 1));
  Delete(*dataset, Range(0, 10));
  const Json work = ExpectAllSameAsScan(*dataset);
  EXPECT_EQ(work["rows_hashed"], 0);
  EXPECT_EQ(ExpectAllSameAsScan(*dataset, kDigestVersionIds)["rows_hashed"], 0);
  auto answer = cache_.Answer(Request(64), "ds", dataset->Snapshot());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ((*answer)["rows"], 0);
  EXPECT_TRUE((*answer)["type"].is_null());
}

}  // namespace
}  // namespace arbalest
