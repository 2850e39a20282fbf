// Segments (store/segment.h) through a store logging to a real WAL: a dataset whose segment
// size (schema metadata index.segment_max_bytes) is 100 rows is sealed into several segments,
// each with its own graph; searches (plain, filtered, with deletes, by id, hybrid) return what
// an exact scan of the live rows returns, whether the rows are linked or not; indexing links
// sealed segments first and readiness means every segment's rows linked; a sealed segment's
// graph never changes once its rows are linked; a compaction keeps the graphs of the segments
// that lost no row, and the compaction thread's compacts only the segments past its deleted
// fraction; a restart (snapshot, then the log) searches alike. Merging (store/segment_merge.h):
// segments left small by a compaction, or by deletes, are merged to few, rows keeping their
// numbering and every live row found once, while puts, deletes and searches go on; the merge
// thread merges only when merging is on; sealed, linked segments free their build copies and
// the memory charged falls; a restart after merges loses nothing.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "logged_store_test.h"
#include "persist/snapshot_format.h"
#include "store/search.h"
#include "store/search_by_id.h"
#include "store/segment_merge.h"

namespace arbalest {
namespace {

constexpr int32_t kDim = 8;
constexpr int64_t kRowsPerSegment = 100;
constexpr int64_t kBatchRows = 50;

// `rows` random vectors with ids first_id.., a utf8 `tag` ("t<id % 3>") and a `text` column,
// and schema metadata sealing segments every kRowsPerSegment rows of float32 vectors.
std::shared_ptr<arrow::RecordBatch> RandomBatch(int64_t first_id, int64_t rows) {
  std::mt19937 random(static_cast<uint32_t>(first_id) + 7);
  std::normal_distribution<float> normal;
  arrow::Int64Builder ids;
  arrow::FloatBuilder values;
  arrow::StringBuilder tags, texts;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t id = first_id + i;
    EXPECT_TRUE(ids.Append(id).ok());
    for (int j = 0; j < kDim; ++j) EXPECT_TRUE(values.Append(normal(random)).ok());
    EXPECT_TRUE(tags.Append("t" + std::to_string(id % 3)).ok());
    EXPECT_TRUE(texts.Append(id % 5 == 0 ? "solar eclipse" : "vector index").ok());
  }
  auto vectors = arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(), kDim);
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()),
       arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim)),
       arrow::field("tag", arrow::utf8()), arrow::field("text", arrow::utf8())},
      arrow::key_value_metadata(
          {"index.segment_max_bytes"},
          {std::to_string(kRowsPerSegment * kDim * static_cast<int64_t>(sizeof(float)))}));
  return arrow::RecordBatch::Make(schema, rows,
                                  {ids.Finish().ValueOrDie(), vectors.ValueOrDie(),
                                   tags.Finish().ValueOrDie(), texts.Finish().ValueOrDie()});
}

class SegmentTest : public testing::LoggedStoreTest {
 protected:
  // Deletes the ids of rows [0, 900) (the nine sealed segments of Fill(1000)) whose id % 10 is
  // below `tenths`; returns them.
  static std::set<int64_t> DeleteInSealed(VectorStore& store, Dataset& dataset, int64_t tenths) {
    std::vector<int64_t> ids;
    for (int64_t id = 0; id < 900; ++id) {
      if (id % 10 < tenths) ids.push_back(id);
    }
    auto deleted = store.Delete(dataset, *Ids(ids));
    EXPECT_TRUE(deleted.ok() && *deleted == static_cast<int64_t>(ids.size()));
    return {ids.begin(), ids.end()};
  }

  static SegmentMergeReport Merge(Dataset& dataset) {
    auto report = dataset.MergeSegments(/*threads=*/2, [] { return false; });
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ValueOr(SegmentMergeReport{});
  }

  // Ids 0..rows-1 in batches of kBatchRows.
  static std::shared_ptr<Dataset> Fill(VectorStore& store, int64_t rows) {
    auto dataset = Put(store, "ds", RandomBatch(0, kBatchRows));
    for (int64_t first = kBatchRows; first < rows; first += kBatchRows) {
      EXPECT_TRUE(store.Append(*dataset, RandomBatch(first, kBatchRows)).ok());
    }
    return dataset;
  }

  // Every stored row's id, vector and tag, in dataset order.
  struct Row {
    int64_t id;
    std::vector<float> vector;
    std::string tag;
  };
  static std::vector<Row> Rows(const Dataset& dataset) {
    std::vector<Row> rows;
    for (const auto& batch : dataset.Snapshot().batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      const auto& list = static_cast<const arrow::FixedSizeListArray&>(*batch->column(1));
      const auto& values = static_cast<const arrow::FloatArray&>(*list.values());
      const auto& tags = static_cast<const arrow::StringArray&>(*batch->column(2));
      for (int64_t i = 0; i < batch->num_rows(); ++i) {
        const int64_t at = list.value_offset(i);
        rows.push_back(
            {ids.Value(i),
             std::vector<float>(values.raw_values() + at, values.raw_values() + at + kDim),
             tags.GetString(i)});
      }
    }
    return rows;
  }

  // The k ids nearest `query` (L2) among the rows whose id is not in `gone` and, with a tag,
  // whose tag is `tag`: the exact answer.
  static std::vector<int64_t> Exact(const Dataset& dataset, const std::vector<float>& query,
                                    int64_t k, const std::set<int64_t>& gone,
                                    const std::string& tag = "") {
    std::vector<std::pair<float, int64_t>> scored;
    for (const Row& row : Rows(dataset)) {
      if (gone.contains(row.id) || (!tag.empty() && row.tag != tag)) continue;
      float distance = 0;
      for (int j = 0; j < kDim; ++j) {
        distance += (row.vector[j] - query[j]) * (row.vector[j] - query[j]);
      }
      scored.emplace_back(distance, row.id);
    }
    std::sort(scored.begin(), scored.end());
    std::vector<int64_t> ids;
    for (size_t i = 0; i < scored.size() && static_cast<int64_t>(i) < k; ++i) {
      ids.push_back(scored[i].second);
    }
    return ids;
  }

  static std::vector<int64_t> Search(const Dataset& dataset, const std::vector<float>& query,
                                     int64_t k, const std::string& tag = "") {
    SearchRequest request;
    request.query = query;
    request.k = k;
    request.ef = 64;
    if (!tag.empty()) {
      FilterExpr expr;
      expr.kind = FilterExpr::Kind::kComparison;
      expr.field = "tag";
      expr.op = FilterOp::kEq;
      expr.value = std::make_shared<arrow::StringScalar>(tag);
      request.filter = std::make_shared<CachedFilter>(std::move(expr));
    }
    auto result = SearchDataset(dataset, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    std::vector<int64_t> ids;
    const auto& column = static_cast<const arrow::Int64Array&>(*(*result)->column(0));
    for (int64_t i = 0; i < column.length(); ++i) ids.push_back(column.Value(i));
    return ids;
  }

  static std::vector<float> Query(int seed) {
    std::mt19937 random(static_cast<uint32_t>(seed) + 1000);
    std::normal_distribution<float> normal;
    std::vector<float> query(kDim);
    for (float& value : query) value = normal(random);
    return query;
  }

  // Through the store's threads (index workers, the merge thread): segments left small by a
  // compaction are merged to 4 by the merge thread when merging is on, never when it is off.
  void MergeThread(bool merge) {
    constexpr auto kPoll = std::chrono::milliseconds(10);
    auto store = Open();
    store->StartIndexing(/*threads=*/1);
    CompactionOptions options;
    options.deleted_fraction = 0;  // compactions only when asked
    options.merge_segments = merge;
    store->StartCompaction(options);
    auto dataset = Fill(*store, 1000);
    DeleteInSealed(*store, *dataset, 7);
    // Compacted once every row is linked: the merge thread is asked after it.
    while (dataset->Snapshot().indexed_rows < 1000) std::this_thread::sleep_for(kPoll);
    ASSERT_TRUE(store->Compact(*dataset).ok());  // nine segments of 30 rows, the active 100
    if (merge) {
      // Until merged (the test's timeout fails it otherwise).
      while (dataset->Snapshot().segments.size() > 4) std::this_thread::sleep_for(kPoll);
    } else {
      ASSERT_EQ(dataset->Snapshot().segments.size(), 10u);
      // A merge thread would be asked after the compaction and after each indexing turn.
      ASSERT_TRUE(store->Append(*dataset, RandomBatch(1000, kBatchRows)).ok());
      while (dataset->Snapshot().indexed_rows < dataset->Snapshot().num_rows) {
        std::this_thread::sleep_for(kPoll);
      }
    }
    store->StopCompaction();  // a merge in progress is finished or abandoned
    store->StopIndexing();
    EXPECT_EQ(dataset->Snapshot().segments.size(), merge ? 4u : 11u);
    ExpectWholeSegmentsLinked(dataset->Snapshot());
  }

  // The segments of `view` cover its rows in order, each graph holding all its rows.
  static void ExpectWholeSegmentsLinked(const DatasetSnapshot& view) {
    int64_t next = 0;
    for (const SegmentView& segment : view.segments) {
      EXPECT_EQ(segment.first_row, next);
      EXPECT_EQ(static_cast<int64_t>(segment.graph->size()), segment.rows);
      EXPECT_EQ(segment.indexed_rows, segment.rows);
      next = segment.end_row();
    }
    EXPECT_EQ(next, view.num_rows);
  }

  // Recall@10 of the store's searches against the exact answers, over 30 queries, with and
  // without a filter.
  static double Recall(const Dataset& dataset, const std::set<int64_t>& gone,
                       const std::string& tag = "") {
    int64_t found = 0, wanted = 0;
    for (int q = 0; q < 30; ++q) {
      const auto exact = Exact(dataset, Query(q), 10, gone, tag);
      const auto got = Search(dataset, Query(q), 10, tag);
      const std::set<int64_t> got_set(got.begin(), got.end());
      for (const int64_t id : got) EXPECT_FALSE(gone.contains(id)) << "deleted id " << id;
      for (const int64_t id : exact) found += got_set.contains(id);
      wanted += static_cast<int64_t>(exact.size());
    }
    return static_cast<double>(found) / static_cast<double>(wanted);
  }
};

// Each segment's first row.
std::vector<int64_t> FirstRows(const DatasetSnapshot& view) {
  std::vector<int64_t> firsts;
  for (const SegmentView& segment : view.segments) firsts.push_back(segment.first_row);
  return firsts;
}

TEST_F(SegmentTest, SealsIntoSegmentsOfTheConfiguredSize) {
  auto store = Open();
  auto dataset = Fill(*store, 550);
  const DatasetSnapshot view = dataset->Snapshot();
  ASSERT_EQ(view.segments.size(), 6u);  // five sealed at 100 rows, the active one at 50
  for (size_t s = 0; s < view.segments.size(); ++s) {
    EXPECT_EQ(view.segments[s].first_row, static_cast<int64_t>(s) * kRowsPerSegment);
    EXPECT_EQ(view.segments[s].rows, s + 1 < view.segments.size() ? kRowsPerSegment : 50);
    EXPECT_NE(view.segments[s].graph, nullptr);
  }
  // A scan still returns every row in put order.
  const auto rows = Rows(*dataset);
  ASSERT_EQ(rows.size(), 550u);
  for (int64_t i = 0; i < 550; ++i) EXPECT_EQ(rows[i].id, i);
}

TEST_F(SegmentTest, SearchesEverySegmentLikeAnExactScan) {
  auto store = Open();
  auto dataset = Fill(*store, 600);
  // Nothing linked: every segment scanned exactly.
  EXPECT_EQ(Recall(*dataset, {}), 1.0);
  EXPECT_EQ(Recall(*dataset, {}, "t1"), 1.0);
  // Sealed segments are linked first: 250 rows fill segments 0 and 1 and half of 2.
  ASSERT_EQ(IndexRows(*dataset, 250), 250);
  DatasetSnapshot view = dataset->Snapshot();
  EXPECT_EQ(view.segments[0].indexed_rows, 100);
  EXPECT_EQ(view.segments[1].indexed_rows, 100);
  EXPECT_EQ(view.segments[2].indexed_rows, 50);
  EXPECT_EQ(view.segments[3].indexed_rows, 0);
  EXPECT_EQ(view.indexed_rows, 250);
  EXPECT_GE(Recall(*dataset, {}), 0.95);
  ASSERT_EQ(IndexRows(*dataset, 1000), 350);
  view = dataset->Snapshot();
  EXPECT_EQ(view.indexed_rows, view.num_rows);  // ready: every segment linked
  EXPECT_GE(Recall(*dataset, {}), 0.95);
  EXPECT_GE(Recall(*dataset, {}, "t2"), 0.95);
  // Deletes in several segments.
  std::vector<int64_t> deleted;
  for (int64_t id = 0; id < 600; id += 7) deleted.push_back(id);
  ASSERT_EQ(*store->Delete(*dataset, *Ids(deleted)), static_cast<int64_t>(deleted.size()));
  const std::set<int64_t> gone(deleted.begin(), deleted.end());
  EXPECT_GE(Recall(*dataset, gone), 0.95);
  EXPECT_GE(Recall(*dataset, gone, "t0"), 0.95);
}

TEST_F(SegmentTest, SearchByIdAndHybridSearchSpanSegments) {
  auto store = Open();
  auto dataset = Fill(*store, 400);
  ASSERT_EQ(IndexRows(*dataset, 250), 250);  // a mix of linked and unlinked segments
  for (const int64_t id : {5, 150, 260, 399}) {
    const auto row = Rows(*dataset)[static_cast<size_t>(id)];
    const auto exact = Exact(*dataset, row.vector, 6, {id});
    SearchRequest request;
    request.k = 5;
    request.ef = 64;
    auto result = SearchDatasetById(*dataset, *Ids({id}), request);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    const auto& ids = static_cast<const arrow::Int64Array&>(*(*result)->column(0));
    std::set<int64_t> got;
    for (int64_t i = 0; i < ids.length(); ++i) got.insert(ids.Value(i));
    EXPECT_FALSE(got.contains(id));
    int64_t hits = 0;
    for (size_t i = 0; i < 5; ++i) hits += got.contains(exact[i]);
    EXPECT_GE(hits, 4) << "search by id " << id;
  }
  SearchRequest hybrid;
  hybrid.query = Query(1);
  hybrid.k = 10;
  hybrid.text_query = "eclipse";
  hybrid.alpha = 0.0;  // text only: the rows whose text matches, from every segment
  auto result = SearchDataset(*dataset, hybrid);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const auto& ids = static_cast<const arrow::Int64Array&>(*(*result)->column(0));
  ASSERT_EQ(ids.length(), 10);
  for (int64_t i = 0; i < ids.length(); ++i) EXPECT_EQ(ids.Value(i) % 5, 0);
}

TEST_F(SegmentTest, ASealedSegmentsGraphNeverChangesOnceLinked) {
  auto store = Open();
  auto dataset = Fill(*store, 200);
  ASSERT_EQ(IndexRows(*dataset, 1000), 200);
  const DatasetSnapshot before = dataset->Snapshot();
  ASSERT_EQ(before.segments.size(), 2u);
  const auto graph = before.segments[0].graph;
  const size_t size = graph->size();
  for (int64_t first = 200; first < 500; first += kBatchRows) {
    ASSERT_TRUE(store->Append(*dataset, RandomBatch(first, kBatchRows)).ok());
  }
  ASSERT_EQ(IndexRows(*dataset, 1000), 300);
  const DatasetSnapshot after = dataset->Snapshot();
  EXPECT_EQ(after.segments.size(), 5u);
  EXPECT_EQ(after.segments[0].graph, graph);
  EXPECT_EQ(graph->size(), size);
  EXPECT_EQ(after.segments[1].graph, before.segments[1].graph);
  EXPECT_EQ(after.segments[1].graph->size(), 100u);  // sealed at 100, never took more
  EXPECT_EQ(after.indexed_rows, 500);
}

TEST_F(SegmentTest, CompactionKeepsTheGraphsOfSegmentsThatLostNoRow) {
  auto store = Open();
  auto dataset = Fill(*store, 500);
  ASSERT_EQ(IndexRows(*dataset, 1000), 500);
  const int64_t shared = dataset->shared_vector_rows();  // the sealed segments' rows at least
  ASSERT_GE(shared, 400);
  const DatasetSnapshot before = dataset->Snapshot();
  std::vector<int64_t> deleted;
  for (int64_t id = 100; id < 200; id += 3) deleted.push_back(id);  // segment 1 only
  ASSERT_EQ(*store->Delete(*dataset, *Ids(deleted)), static_cast<int64_t>(deleted.size()));
  auto report = store->Compact(*dataset);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->reclaimed_rows, static_cast<int64_t>(deleted.size()));
  const DatasetSnapshot after = dataset->Snapshot();
  ASSERT_EQ(after.segments.size(), 5u);
  EXPECT_EQ(after.segments[0].graph, before.segments[0].graph);
  EXPECT_NE(after.segments[1].graph, before.segments[1].graph);
  EXPECT_EQ(after.segments[1].rows, 100 - static_cast<int64_t>(deleted.size()));
  for (size_t s = 2; s < 5; ++s) {
    EXPECT_EQ(after.segments[s].graph, before.segments[s].graph);
    EXPECT_EQ(after.segments[s].first_row,
              before.segments[s].first_row - static_cast<int64_t>(deleted.size()));
  }
  EXPECT_EQ(after.indexed_rows, after.num_rows);
  // The other segments' batches are the same objects (not copied), and still share their
  // graphs' vectors: sharing starts again at the compacted segment.
  const std::set<std::shared_ptr<arrow::RecordBatch>> kept(before.batches.begin(),
                                                           before.batches.end());
  int64_t first_row = 0, in_segment_1 = 0;
  for (const auto& batch : before.batches) {
    in_segment_1 += first_row >= 100 && first_row < 200;
    first_row += batch->num_rows();
  }
  EXPECT_EQ(std::count_if(after.batches.begin(), after.batches.end(),
                          [&](const auto& batch) { return kept.contains(batch); }),
            static_cast<int64_t>(before.batches.size()) - in_segment_1);
  EXPECT_EQ(dataset->shared_vector_rows(), 100);
  ASSERT_EQ(IndexRows(*dataset, 1000), 0);
  EXPECT_EQ(dataset->shared_vector_rows(), shared - static_cast<int64_t>(deleted.size()));
  const std::set<int64_t> gone(deleted.begin(), deleted.end());
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

TEST_F(SegmentTest, TheCompactionThreadCompactsOnlySegmentsPastTheFraction) {
  auto store = Open();
  auto dataset = Fill(*store, 500);
  ASSERT_EQ(IndexRows(*dataset, 1000), 500);
  const DatasetSnapshot before = dataset->Snapshot();
  std::vector<int64_t> deleted;
  for (int64_t id = 100; id < 200; id += 2) deleted.push_back(id);  // 50% of segment 1
  for (int64_t id = 300; id < 305; ++id) deleted.push_back(id);     // 5% of segment 3
  ASSERT_EQ(*store->Delete(*dataset, *Ids(deleted)), static_cast<int64_t>(deleted.size()));
  auto report = store->Compact(
      *dataset, [] { return false; }, /*segment_fraction=*/0.2);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->reclaimed_rows, 50);  // segment 1's only
  const DatasetSnapshot after = dataset->Snapshot();
  ASSERT_EQ(after.segments.size(), 5u);
  EXPECT_NE(after.segments[1].graph, before.segments[1].graph);
  EXPECT_EQ(after.segments[1].rows, 50);
  EXPECT_EQ(after.segments[3].graph, before.segments[3].graph);  // below the fraction
  EXPECT_EQ(after.segments[3].first_row, 250);
  EXPECT_EQ(after.deleted_rows, 5);  // segment 3's deleted rows, still deleted
  EXPECT_EQ(after.num_rows, 450);
  const std::set<int64_t> gone(deleted.begin(), deleted.end());
  EXPECT_GE(Recall(*dataset, gone), 0.95);
  // The `compact` action (no fraction) drops the rest.
  report = store->Compact(*dataset);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->reclaimed_rows, 5);
  EXPECT_EQ(dataset->Snapshot().deleted_rows, 0);
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

TEST_F(SegmentTest, ARestartSearchesAlike) {
  std::vector<std::vector<int64_t>> before;
  {
    auto store = Open();
    auto dataset = Fill(*store, 400);
    ASSERT_EQ(IndexRows(*dataset, 1000), 400);
    SnapshotAll(*store);
    for (int64_t first = 400; first < 500; first += kBatchRows) {  // in the log only
      ASSERT_TRUE(store->Append(*dataset, RandomBatch(first, kBatchRows)).ok());
    }
    for (int q = 0; q < 10; ++q) before.push_back(Exact(*dataset, Query(q), 10, {}));
  }
  auto store = Open();
  auto dataset = store->Get("ds").ValueOrDie();
  // Every segment's graph mapped from its own file, the segments cut where they were; the
  // rows of the log sealed the snapshot's active segment (full) and went to a new one.
  EXPECT_EQ(dataset->index().restored_rows(), 400);
  const DatasetSnapshot loaded = dataset->Snapshot();
  EXPECT_EQ(loaded.indexed_rows, 400);
  EXPECT_EQ(FirstRows(loaded), (std::vector<int64_t>{0, 100, 200, 300, 400}));
  EXPECT_EQ(dataset->num_rows(), 500);
  EXPECT_EQ(IndexRows(*dataset, 1000), 100);  // only the log's rows
  EXPECT_EQ(dataset->Snapshot().indexed_rows, 500);
  for (int q = 0; q < 10; ++q) EXPECT_EQ(Exact(*dataset, Query(q), 10, {}), before[q]);
  EXPECT_GE(Recall(*dataset, {}), 0.95);
}

// Each segment's graph file in the newest snapshot of "ds", with its inode.
std::vector<std::pair<std::string, ino_t>> GraphFiles(const std::string& root) {
  const SnapshotListing listing = ListSnapshotDirs(root).ValueOrDie();
  EXPECT_EQ(listing.complete.size(), 1u);
  const std::string dir = listing.complete.back().path;
  std::vector<std::pair<std::string, ino_t>> files;
  for (const SegmentGraphFile& segment : ReadManifest(dir).ValueOrDie().segments) {
    struct stat info {};
    EXPECT_EQ(stat((std::filesystem::path(dir) / segment.graph.name).c_str(), &info), 0);
    files.emplace_back(segment.graph.name, info.st_ino);
  }
  return files;
}

TEST_F(SegmentTest, ASnapshotLinksTheGraphFilesOfUnchangedSealedSegments) {
  auto store = Open();
  auto dataset = Fill(*store, 400);
  IndexRows(*dataset, 1000);
  SnapshotAll(*store);
  const auto first = GraphFiles(snapshot_dir());
  ASSERT_EQ(first.size(), 4u);

  // Segment 3 (active then, full) seals; segment 4 takes the rows. The sealed graphs are the
  // same objects with the same rows: their files are linked, segment 4's written.
  for (int64_t row = 400; row < 450; row += kBatchRows) {
    ASSERT_TRUE(store->Append(*dataset, RandomBatch(row, kBatchRows)).ok());
  }
  IndexRows(*dataset, 1000);
  SnapshotAll(*store);
  const auto second = GraphFiles(snapshot_dir());
  ASSERT_EQ(second.size(), 5u);
  for (size_t s = 0; s < 4; ++s) EXPECT_EQ(second[s], first[s]) << "segment " << s;

  // The active segment's graph is rewritten by each snapshot, under a new name.
  ASSERT_TRUE(store->Append(*dataset, RandomBatch(450, kBatchRows)).ok());
  IndexRows(*dataset, 1000);
  SnapshotAll(*store);
  const auto third = GraphFiles(snapshot_dir());
  ASSERT_EQ(third.size(), 5u);
  for (size_t s = 0; s < 4; ++s) EXPECT_EQ(third[s], first[s]) << "segment " << s;
  EXPECT_NE(third[4].first, second[4].first);
  EXPECT_NE(third[4].second, second[4].second);

  // A compaction replaces a segment's graph with a new object: written afresh.
  ASSERT_EQ(*store->Delete(*dataset, *Ids({110, 120, 130})), 3);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  SnapshotAll(*store);
  const auto compacted = GraphFiles(snapshot_dir());
  ASSERT_EQ(compacted.size(), 5u);
  EXPECT_NE(compacted[1].second, first[1].second);

  // And a restart from it maps every segment's graph, rebuilding none.
  dataset.reset();  // before its store: the store's memory budget must outlive it
  store.reset();
  store = Open();
  dataset = store->Get("ds").ValueOrDie();
  EXPECT_EQ(dataset->index().restored_rows(), 497);
  EXPECT_EQ(IndexRows(*dataset, 1000), 0);
  EXPECT_EQ(FirstRows(dataset->Snapshot()), (std::vector<int64_t>{0, 100, 197, 297, 397}));
  EXPECT_GE(Recall(*dataset, {110, 120, 130}), 0.95);
}

// Every file of each segment of the newest snapshot of "ds" (manifest version 4): its rows
// files, vectors file and graph file, by name, with their inodes; and its first row.
struct SavedSegment {
  int64_t first_row = 0;
  std::map<std::string, ino_t> files;
};
std::vector<SavedSegment> SegmentFiles(const std::string& root) {
  const SnapshotListing listing = ListSnapshotDirs(root).ValueOrDie();
  EXPECT_EQ(listing.complete.size(), 1u);
  const std::string dir = listing.complete.back().path;
  const SnapshotManifest manifest = ReadManifest(dir).ValueOrDie();
  EXPECT_EQ(manifest.format_version(), kSnapshotFormatVersion);
  std::vector<SavedSegment> segments;
  for (const SegmentGraphFile& segment : manifest.segments) {
    std::vector<std::string> names{segment.graph.name};
    for (const RowFile& row_file : segment.row_files) names.push_back(row_file.file.name);
    if (segment.vectors) names.push_back(segment.vectors->name);
    SavedSegment saved{segment.first_row, {}};
    for (const std::string& name : names) {
      struct stat info {};
      EXPECT_EQ(stat((std::filesystem::path(dir) / name).c_str(), &info), 0) << name;
      saved.files[name] = info.st_ino;
    }
    segments.push_back(std::move(saved));
  }
  return segments;
}

// No file of `segment` is one of `before`'s (by inode; `before` must be the previous
// snapshot, whose files all still existed while `segment`'s were written: the inodes of
// removed files are reused).
void ExpectAllNew(const SavedSegment& segment, const std::vector<SavedSegment>& before) {
  for (const auto& [name, inode] : segment.files) {
    for (const SavedSegment& old : before) {
      for (const auto& [old_name, old_inode] : old.files) {
        EXPECT_NE(inode, old_inode) << name << " is " << old_name;
      }
    }
  }
}

// Segment files do not depend on where a segment starts: a compaction of two segments of ten
// and then their merge rewrite only the changed segments' files; every other segment's rows,
// vectors and graph files are the same files (inodes) as before, only their first rows move in
// the manifest. A restart restores the rows, ids and boundaries and maps every graph.
TEST_F(SegmentTest, ACompactionOrAMergeRewritesOnlyTheChangedSegmentsFiles) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  ASSERT_EQ(IndexRows(*dataset, 10000), 1000);
  SnapshotAll(*store);
  const std::vector<SavedSegment> first = SegmentFiles(snapshot_dir());
  ASSERT_EQ(first.size(), 10u);
  for (const SavedSegment& segment : first) EXPECT_EQ(segment.files.size(), 3u);

  // 60% of segments 4 and 5 deleted and compacted: 40 rows each.
  std::vector<int64_t> deleted;
  for (int64_t id = 400; id < 600; ++id) {
    if (id % 10 < 6) deleted.push_back(id);
  }
  ASSERT_EQ(*store->Delete(*dataset, *Ids(deleted)), 120);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  SnapshotAll(*store);
  const std::vector<SavedSegment> compacted = SegmentFiles(snapshot_dir());
  ASSERT_EQ(compacted.size(), 10u);
  for (size_t s = 0; s < 10; ++s) {
    if (s == 4 || s == 5) {
      ExpectAllNew(compacted[s], first);
      continue;
    }
    EXPECT_EQ(compacted[s].files, first[s].files) << "segment " << s;
    EXPECT_EQ(compacted[s].first_row, first[s].first_row - (s > 5 ? 120 : 0)) << "segment " << s;
  }

  // Merged: one segment of 80 rows, new files; the others still the first snapshot's. (A
  // merge logs nothing: the rows put after it, in a new active segment, make the next
  // snapshot.)
  EXPECT_EQ(Merge(*dataset).merges, 1);
  ASSERT_TRUE(store->Append(*dataset, RandomBatch(1000, kBatchRows)).ok());
  ASSERT_EQ(IndexRows(*dataset, 10000), kBatchRows);
  ASSERT_EQ(dataset->Snapshot().segments.size(), 10u);
  SnapshotAll(*store);
  const std::vector<SavedSegment> merged = SegmentFiles(snapshot_dir());
  ASSERT_EQ(merged.size(), 10u);
  for (size_t s = 0; s < 10; ++s) {
    if (s == 4 || s == 9) {  // the merged segment, the new active one
      ExpectAllNew(merged[s], compacted);
      continue;
    }
    EXPECT_EQ(merged[s].files, first[s < 4 ? s : s + 1].files) << "segment " << s;
  }

  const DatasetSnapshot view = dataset->Snapshot();
  const std::vector<Row> rows = Rows(*dataset);
  dataset.reset();  // before its store: the store's memory budget must outlive it
  store.reset();
  store = Open();
  dataset = store->Get("ds").ValueOrDie();
  EXPECT_EQ(dataset->index().restored_rows(), 930);  // every graph mapped
  EXPECT_EQ(IndexRows(*dataset, 10000), 0);          // nothing reindexed
  EXPECT_EQ(FirstRows(dataset->Snapshot()), FirstRows(view));
  const std::vector<Row> loaded = Rows(*dataset);
  ASSERT_EQ(loaded.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(loaded[i].id, rows[i].id);
    EXPECT_EQ(loaded[i].vector, rows[i].vector);
    EXPECT_EQ(loaded[i].tag, rows[i].tag);
  }
  const std::set<int64_t> gone(deleted.begin(), deleted.end());
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

TEST_F(SegmentTest, MergesSegmentsLeftSmallByACompaction) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  ASSERT_EQ(IndexRows(*dataset, 2000), 1000);
  const std::set<int64_t> gone = DeleteInSealed(*store, *dataset, 7);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  ASSERT_EQ(dataset->Snapshot().segments.size(), 10u);  // nine of 30 rows, the active 100
  const auto rows_before = Rows(*dataset);
  const SegmentMergeReport report = Merge(*dataset);
  const DatasetSnapshot view = dataset->Snapshot();
  // Smallest first, into its larger neighbour: 30+30, +30, then again twice: 90 90 90 | 100.
  EXPECT_EQ(report.merges, 6);
  EXPECT_EQ(report.inserted_rows, 180);
  ASSERT_EQ(view.segments.size(), 4u);
  EXPECT_EQ(view.segments[2].rows, 90);
  ExpectWholeSegmentsLinked(view);
  EXPECT_EQ(view.num_rows, 370);
  // The rows and their numbering are unchanged; nothing was logged.
  const auto rows_after = Rows(*dataset);
  ASSERT_EQ(rows_after.size(), rows_before.size());
  for (size_t i = 0; i < rows_after.size(); ++i) EXPECT_EQ(rows_after[i].id, rows_before[i].id);
  EXPECT_GE(Recall(*dataset, gone), 0.95);
  EXPECT_GE(Recall(*dataset, gone, "t1"), 0.95);
  EXPECT_EQ(Merge(*dataset).merges, 0);  // nothing fits any more
}

TEST_F(SegmentTest, AMergeWaitsUntilItsGraphFitsTheMemoryLimit) {
  constexpr int64_t kLimit = int64_t{1} << 30;
  auto opened = TryOpen(kLimit);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto store = std::move(*opened);
  auto dataset = Fill(*store, 1000);
  ASSERT_EQ(IndexRows(*dataset, 2000), 1000);
  DeleteInSealed(*store, *dataset, 7);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  ASSERT_EQ(dataset->Snapshot().segments.size(), 10u);
  // The largest merged graph (90 rows): what each merge charges before building it.
  const int64_t graph_bytes =
      dataset->Snapshot().segments.front().graph->memory_model().BytesFor(90);
  MemoryBudget& budget = *store->mutable_memory();
  // Leaves `headroom` bytes under the limit, for as long as the result lives.
  auto leave = [&](int64_t headroom) {
    budget.ReturnFreed();
    auto filler = MemoryReservation::Make(&budget, kLimit - budget.used() - headroom,
                                          ChargeMode::kRefusable, "the test");
    EXPECT_TRUE(filler.ok()) << filler.status().ToString();
    return std::move(filler).ValueOr(MemoryReservation{});
  };
  {
    MemoryReservation full = leave(graph_bytes / 2);
    const SegmentMergeReport report = Merge(*dataset);
    EXPECT_EQ(report.merges, 0);
    EXPECT_EQ(report.deferred, 1);
    EXPECT_EQ(dataset->Snapshot().segments.size(), 10u);
  }
  // Room for one merged graph at a time: each merge's charge is released once it is swapped in,
  // or the second would not fit.
  MemoryReservation almost_full = leave(graph_bytes + graph_bytes / 2);
  const int64_t used_before = budget.used(), index_before = dataset->index_memory();
  const SegmentMergeReport report = Merge(*dataset);
  EXPECT_EQ(report.merges, 6);
  EXPECT_EQ(report.deferred, 0);
  EXPECT_EQ(dataset->Snapshot().segments.size(), 4u);
  // Nothing stays charged but the merged graphs: the budget moved as the index charge did.
  budget.ReturnFreed();
  EXPECT_EQ(budget.used() - used_before, dataset->index_memory() - index_before);
}

TEST_F(SegmentTest, MergedSegmentsKeepTheirDeletedRowsTombstoned) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  ASSERT_EQ(IndexRows(*dataset, 2000), 1000);
  const std::set<int64_t> gone = DeleteInSealed(*store, *dataset, 6);  // 40 live of 100
  const DatasetSnapshot before = dataset->Snapshot();
  EXPECT_EQ(Merge(*dataset).merges, 4);  // 40+40 four times; the ninth stays
  const DatasetSnapshot view = dataset->Snapshot();
  ASSERT_EQ(view.segments.size(), 6u);
  // The merged graph holds every row of both segments, deleted ones included.
  EXPECT_EQ(view.segments[0].rows, 200);
  EXPECT_EQ(view.segments[0].graph->size(), 200u);
  EXPECT_NE(view.segments[0].graph, before.segments[0].graph);
  EXPECT_EQ(view.segments[4].graph, before.segments[8].graph);  // not merged: the same graph
  ExpectWholeSegmentsLinked(view);
  EXPECT_EQ(view.deleted_rows, static_cast<int64_t>(gone.size()));
  EXPECT_EQ(view.num_rows, 1000);
  EXPECT_GE(Recall(*dataset, gone), 0.95);
  EXPECT_GE(Recall(*dataset, gone, "t2"), 0.95);
  // A compaction drops them later.
  ASSERT_TRUE(store->Compact(*dataset).ok());
  EXPECT_EQ(dataset->Snapshot().num_rows, 1000 - static_cast<int64_t>(gone.size()));
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

TEST_F(SegmentTest, MergesWhilePutsDeletesAndSearchesGoOn) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  ASSERT_EQ(IndexRows(*dataset, 2000), 1000);
  std::set<int64_t> gone = DeleteInSealed(*store, *dataset, 7);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  std::atomic<bool> done{false};
  int64_t merges = 0;
  std::thread merger([&] {
    // Merge again each time a round finds nothing yet, while the other thread goes on.
    while (!done.load()) merges += Merge(*dataset).merges;
  });
  for (int64_t first = 1000; first < 1600; first += kBatchRows) {
    ASSERT_TRUE(store->Append(*dataset, RandomBatch(first, kBatchRows)).ok());
    IndexRows(*dataset, 2000);
    std::vector<int64_t> ids = {first - 1, first - 7};  // in segments old and new
    ASSERT_TRUE(store->Delete(*dataset, *Ids(ids)).ok());
    gone.insert(ids.begin(), ids.end());
    EXPECT_GE(Recall(*dataset, gone), 0.9);  // 30 queries on rows half linked, half not
  }
  done = true;
  merger.join();
  merges += Merge(*dataset).merges;
  IndexRows(*dataset, 2000);
  EXPECT_GE(merges, 5);
  // Every live row once, in put order.
  std::vector<int64_t> live;
  const DatasetSnapshot view = dataset->Snapshot();
  int64_t row = 0;
  for (const Row& r : Rows(*dataset)) {
    if (!view.IsDeleted(row++)) live.push_back(r.id);
  }
  std::vector<int64_t> expected;
  for (int64_t id = 0; id < 1600; ++id) {
    if (!gone.contains(id)) expected.push_back(id);
  }
  EXPECT_EQ(live, expected);
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

// Through the store's threads (index workers, the merge thread): segments left small by a
// compaction are merged by the merge thread when merging is on, never when it is off.
TEST_F(SegmentTest, TheMergeThreadMergesSmallSegments) { MergeThread(/*merge=*/true); }

TEST_F(SegmentTest, TheMergeThreadDoesNothingWithMergingOff) { MergeThread(/*merge=*/false); }

TEST_F(SegmentTest, SealedLinkedSegmentsFreeTheirBuildCopies) {
  auto store = Open();
  auto dataset = Fill(*store, 500);
  ASSERT_EQ(IndexRows(*dataset, 1000), 500);
  const int64_t charged = dataset->ChargeIndexMemory();
  const DatasetSnapshot view = dataset->Snapshot();
  size_t vector_bytes = GraphMemory(view.segments).vector_bytes;
  // The next turn finds the four sealed segments all linked: their float16 copies go.
  EXPECT_EQ(IndexRows(*dataset, 1000), 0);
  for (size_t s = 0; s < 4; ++s) {
    EXPECT_EQ(view.segments[s].graph->rows_without_build_copies(), 100) << "segment " << s;
  }
  EXPECT_EQ(view.segments[4].graph->rows_without_build_copies(), 0);  // active: kept
  EXPECT_LT(GraphMemory(view.segments).vector_bytes, vector_bytes);
  EXPECT_LT(dataset->index_memory(), charged);
  EXPECT_GE(Recall(*dataset, {}), 0.95);
  // A merge inserts into a copy, whose copies are made and freed again.
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < 400; id += 2) ids.push_back(id);
  ASSERT_TRUE(store->Delete(*dataset, *Ids(ids)).ok());
  EXPECT_EQ(Merge(*dataset).merges, 2);
  for (const SegmentView& segment : dataset->Snapshot().segments) {
    if (segment.rows == 200) {
      EXPECT_EQ(segment.graph->rows_without_build_copies(), 200);
    }
  }
}

TEST_F(SegmentTest, ARestartAfterMergesLosesNothing) {
  std::set<int64_t> gone;
  std::vector<std::vector<int64_t>> before;
  {
    auto store = Open();
    auto dataset = Fill(*store, 1000);
    ASSERT_EQ(IndexRows(*dataset, 2000), 1000);
    gone = DeleteInSealed(*store, *dataset, 6);
    ASSERT_EQ(Merge(*dataset).merges, 4);
    SnapshotAll(*store);
    for (int64_t first = 1000; first < 1100; first += kBatchRows) {  // in the log only
      ASSERT_TRUE(store->Append(*dataset, RandomBatch(first, kBatchRows)).ok());
    }
    ASSERT_TRUE(store->Delete(*dataset, *Ids({1001, 950})).ok());
    gone.insert({1001, 950});
    for (int q = 0; q < 10; ++q) before.push_back(Exact(*dataset, Query(q), 10, gone));
  }
  auto store = Open();
  auto dataset = store->Get("ds").ValueOrDie();
  EXPECT_EQ(dataset->num_rows(), 1100);
  EXPECT_EQ(dataset->Snapshot().live_rows(), 1100 - static_cast<int64_t>(gone.size()));
  IndexRows(*dataset, 2000);
  for (int q = 0; q < 10; ++q) EXPECT_EQ(Exact(*dataset, Query(q), 10, gone), before[q]);
  EXPECT_GE(Recall(*dataset, gone), 0.95);
}

}  // namespace
}  // namespace arbalest
