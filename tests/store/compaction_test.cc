// Compaction through a store logging to a real WAL: what it reclaims, the renumbering seen by
// scans, searches (in flight too), deletes and the text index, its replay at restart with and
// without snapshots around it, puts and deletes running during compactions, and the
// automatic trigger.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iomanip>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doc_batches.h"
#include "logged_store_test.h"
#include "store/search.h"
#include "testing/batches.h"
#include "testing/wait.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

constexpr int32_t kDim = 4;

// The query vector of MakeVectorBatch's row with id `id`.
std::vector<float> VectorOf(int64_t id) {
  std::vector<float> vector;
  for (int j = 0; j < kDim; ++j) vector.push_back(static_cast<float>(id) + j / 1000.0f);
  return vector;
}

std::set<int64_t> Range(int64_t begin, int64_t end, const std::set<int64_t>& less = {}) {
  std::set<int64_t> ids;
  for (int64_t id = begin; id < end; ++id) {
    if (!less.contains(id)) ids.insert(id);
  }
  return ids;
}

class CompactionTest : public testing::LoggedStoreTest {
 protected:
  // Ids 0..99 in five batches of 20.
  static std::shared_ptr<Dataset> Fill(VectorStore& store) {
    auto dataset = Put(store, "ds", MakeVectorBatch(0, 20, kDim));
    for (int64_t first = 20; first < 100; first += 20) {
      EXPECT_TRUE(store.Append(*dataset, MakeVectorBatch(first, 20, kDim)).ok());
    }
    return dataset;
  }

  static int64_t Delete(VectorStore& store, Dataset& dataset, const std::vector<int64_t>& ids) {
    auto deleted = store.Delete(dataset, *Ids(ids));
    EXPECT_TRUE(deleted.ok()) << deleted.status().ToString();
    return deleted.ValueOr(-1);
  }

  static CompactionReport Compact(VectorStore& store, Dataset& dataset) {
    auto report = store.Compact(dataset);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ValueOr(CompactionReport{});
  }

  static std::set<int64_t> Search(const Dataset& dataset, int64_t near, int64_t k) {
    SearchRequest request;
    request.query = VectorOf(near);
    request.k = k;
    auto result = SearchDataset(dataset, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return IdsIn(*arrow::Table::FromRecordBatches({*result}).ValueOrDie());
  }
};

TEST_F(CompactionTest, DropsDeletedRowsAndRenumbersTheRest) {
  auto store = Open();
  auto dataset = Fill(*store);
  ASSERT_EQ(IndexRows(*dataset, 50), 50);
  const std::set<int64_t> gone = {0, 19, 20, 30, 31, 55, 99};
  ASSERT_EQ(Delete(*store, *dataset, {gone.begin(), gone.end()}), 7);
  const int64_t bytes = dataset->Snapshot().num_bytes;
  const int64_t memory = store->memory().used();

  const CompactionReport report = Compact(*store, *dataset);
  EXPECT_EQ(report.reclaimed_rows, 7);
  EXPECT_GT(report.reclaimed_bytes, 0);
  EXPECT_EQ(report.rows, 93);
  const DatasetSnapshot snapshot = dataset->Snapshot();
  EXPECT_EQ(snapshot.num_rows, 93);
  EXPECT_EQ(snapshot.deleted_rows, 0);
  EXPECT_EQ(snapshot.batches.size(), 1u);  // five small batches coalesced
  EXPECT_EQ(snapshot.num_bytes, bytes - report.reclaimed_bytes);
  // The budget holds the rows and the indexes built over them, both smaller now.
  EXPECT_EQ(store->memory().used(), snapshot.num_bytes + dataset->index_memory());
  EXPECT_LE(store->memory().used(), memory - report.reclaimed_bytes);
  EXPECT_EQ(snapshot.indexed_rows, 45);  // 5 of the first 50 rows were dropped
  EXPECT_EQ(snapshot.segments.front().graph->size(), 45u);
  // Not logged (the log names rows by key): the snapshot thread sees it by the layout.
  EXPECT_EQ(report.lsn, 0u);
  EXPECT_EQ(dataset->layout_generation(), 1u);
  EXPECT_EQ(dataset->compaction_totals().compactions, 1);
  EXPECT_EQ(dataset->compaction_totals().reclaimed_rows, 7);

  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 100, gone));
  EXPECT_EQ(Search(*dataset, 30, 5), (std::set<int64_t>{27, 28, 29, 32, 33}));  // graph
  EXPECT_EQ(Search(*dataset, 60, 5), (std::set<int64_t>{58, 59, 60, 61, 62}));  // tail
  ASSERT_EQ(IndexRows(*dataset, 1000), 48);  // indexing goes on from the compacted graph
  EXPECT_EQ(Search(*dataset, 60, 5), (std::set<int64_t>{58, 59, 60, 61, 62}));
  EXPECT_EQ(Search(*dataset, 99, 2), (std::set<int64_t>{97, 98}));
  // Ids resolve to their renumbered rows.
  EXPECT_EQ(Delete(*store, *dataset, {56, 55}), 1);
  std::set<int64_t> less = gone;
  less.insert(56);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 100, less));
}

TEST_F(CompactionTest, TheCompactedGraphSharesItsVectorsWithTheBatches) {
  auto store = Open();
  auto dataset = Put(*store, "ds", MakeVectorBatch(0, 3000, kDim));
  ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(3000, 3000, kDim)).ok());
  ASSERT_EQ(IndexRows(*dataset, 10000), 6000);
  EXPECT_EQ(dataset->shared_vector_rows(), 4096);  // the graph's first chunk
  std::vector<int64_t> gone;
  for (int64_t id = 100; id < 1100; ++id) gone.push_back(id);
  ASSERT_EQ(Delete(*store, *dataset, gone), 1000);
  EXPECT_EQ(Compact(*store, *dataset).reclaimed_rows, 1000);
  EXPECT_EQ(dataset->shared_vector_rows(), 0);  // the compacted graph holds its own copy
  ASSERT_EQ(IndexRows(*dataset, 10000), 0);
  EXPECT_EQ(dataset->shared_vector_rows(), 4096);
  const DatasetSnapshot snapshot = dataset->Snapshot();
  const auto& values =
      static_cast<const arrow::FixedSizeListArray&>(*snapshot.batches[0]->column(1)).values();
  EXPECT_EQ(values->data()->buffers[1]->data(), snapshot.segments.front().graph->rows().Row(0));
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 6000, {gone.begin(), gone.end()}));
  EXPECT_EQ(Search(*dataset, 4000, 3), (std::set<int64_t>{3999, 4000, 4001}));
  // The budget's data: the replaced batches' memory, held for reuse, is charged apart.
  EXPECT_EQ(store->memory().data_bytes(), snapshot.num_bytes + dataset->index_memory());
}

TEST_F(CompactionTest, NothingDeletedIsNothingToDo) {
  auto store = Open();
  auto dataset = Fill(*store);
  const uint64_t lsn = dataset->last_lsn();
  const CompactionReport report = Compact(*store, *dataset);
  EXPECT_EQ(report.reclaimed_rows, 0);
  EXPECT_EQ(dataset->last_lsn(), lsn);  // nothing logged
  EXPECT_EQ(dataset->Snapshot().batches.size(), 5u);
  EXPECT_EQ(dataset->compaction_totals().compactions, 0);
}

TEST_F(CompactionTest, SearchesInFlightKeepTheirNumbering) {
  auto store = Open();
  auto dataset = Fill(*store);
  ASSERT_EQ(IndexRows(*dataset, 100), 100);
  ASSERT_EQ(Delete(*store, *dataset, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 29}), 11);
  SearchRequest request;
  request.query = VectorOf(30);
  request.k = 2;
  auto scope = OpenSearchScope(*dataset, request).ValueOrDie();  // before the compaction
  ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 11);
  const auto hits = NearestRows(*dataset, scope, request.query, 2, 0).ValueOrDie();
  std::vector<ResultRow> rows;
  for (const DenseHit& hit : hits) rows.push_back({hit.row, hit.score, hit.distance});
  auto result = MakeSearchResult(scope, rows, /*nullable_distance=*/false).ValueOrDie();
  EXPECT_EQ(IdsIn(*arrow::Table::FromRecordBatches({result}).ValueOrDie()),
            (std::set<int64_t>{30, 31}));
  EXPECT_EQ(Search(*dataset, 30, 2), (std::set<int64_t>{30, 31}));  // and after it
}

TEST_F(CompactionTest, TextIndexFollowsTheRenumbering) {
  auto store = Open();
  std::vector<testing::Doc> docs;
  for (int i = 0; i < 40; ++i) {
    docs.push_back({i % 4 == 0 ? "solar eclipse" : "lunar tide", {static_cast<float>(i), 0}, 0});
  }
  auto dataset = Put(*store, "ds", testing::DocBatch(0, docs));
  ASSERT_EQ(Delete(*store, *dataset, {0, 1, 2, 3, 4, 5, 6, 7, 8, 20}), 10);
  ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 10);
  ASSERT_TRUE(store->Append(*dataset, testing::DocBatch(100, {{"solar flare", {1, 1}, 0}})).ok());
  ASSERT_EQ(Delete(*store, *dataset, {12}), 1);
  SearchRequest request;
  request.text_query = "solar";
  request.alpha = 0.0;
  request.k = 20;
  auto result = SearchDataset(*dataset, request).ValueOrDie();
  EXPECT_EQ(IdsIn(*arrow::Table::FromRecordBatches({result}).ValueOrDie()),
            (std::set<int64_t>{16, 24, 28, 32, 36, 100}));
  EXPECT_EQ(dataset->text()->Stats().live_rows, 30u);
}

// Words of a small vocabulary, drawn so that terms have different document frequencies and
// documents different lengths: BM25's N, df and avgdl all matter to the ranking.
std::string Body(int i) {
  static const char* const kWords[] = {"amber", "basalt",  "cedar",  "delta", "ember",
                                       "fjord", "glacier", "harbor", "iris",  "juniper"};
  std::ostringstream body;
  for (int j = 0; j <= (i * 7) % 5; ++j) body << kWords[(i * (j + 3) + j * j) % 10] << ' ';
  return body.str();
}

// Rows of ids [first, first + count), 20 rows to a segment.
std::shared_ptr<arrow::RecordBatch> SegmentedDocs(int first, int count) {
  std::vector<testing::Doc> docs;
  for (int i = first; i < first + count; ++i) {
    // Distinct distances to any query, so that the dense side has no ties to break.
    const auto x = static_cast<float>(i);
    docs.push_back({Body(i), {static_cast<float>(i % 13) + 0.0137f * x, 0.0071f * x * x}, 0});
  }
  return testing::DocBatch(
      first, docs,
      arrow::key_value_metadata({"index.segment_max_bytes"}, {"160"}));  // 20 rows of 2 floats
}

// The text ranking (rows and BM25 scores) and the hybrid ranking (ids) of `dataset` for a
// few queries.
std::vector<std::string> Rankings(const Dataset& dataset) {
  std::vector<std::string> out;
  const RowFilter any = RowFilter::FromPredicate([](uint64_t) { return true; });
  for (const std::string query : {"amber", "basalt cedar", "glacier iris juniper", "delta"}) {
    std::ostringstream text;
    text << std::setprecision(17) << query << ':';
    for (const ScoredRow& hit : dataset.text()->Search(query, 50, any)) {
      text << ' ' << hit.row << '=' << hit.score;
    }
    out.push_back(text.str());
    SearchRequest request;
    request.text_query = query;
    request.query = {3, 3};
    request.alpha = 0.5;
    request.k = 30;
    auto result = SearchDataset(dataset, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    const auto& ids = static_cast<const arrow::Int64Array&>(*(*result)->GetColumnByName("id"));
    std::ostringstream hybrid;
    hybrid << query << " hybrid:";
    for (int64_t i = 0; i < ids.length(); ++i) hybrid << ' ' << ids.Value(i);
    out.push_back(hybrid.str());
  }
  return out;
}

// A compaction renumbers the text index without indexing it again (DatasetText::Compacted):
// after compacting one segment of ten, then two more segments on either side of it, with
// rows appended and deleted between, every query ranks the rows (BM25 scores included) and
// the hybrid search returns them exactly as a dataset that only ever held the surviving rows,
// before and after a restart that replays the compactions.
TEST_F(CompactionTest, TextIndexAfterSegmentCompactionsRanksAsAFreshOne) {
  std::set<int64_t> gone;
  int64_t end = 200;  // ids [0, end) were put
  auto fresh_rankings = [&](VectorStore& store, const std::string& name) {
    const std::set<int64_t> live = Range(0, end, gone);
    std::shared_ptr<Dataset> fresh;
    // The surviving rows in order, in batches of one segment's worth.
    std::vector<int64_t> ids(live.begin(), live.end());
    for (size_t at = 0; at < ids.size(); at += 20) {
      arrow::RecordBatchVector parts;
      for (size_t i = at; i < std::min(ids.size(), at + 20); ++i) {
        parts.push_back(SegmentedDocs(static_cast<int>(ids[i]), 1));
      }
      auto batch = arrow::ConcatenateRecordBatches(parts).ValueOrDie();
      if (!fresh) {
        fresh = Put(store, name, batch);
      } else {
        EXPECT_TRUE(store.Append(*fresh, batch).ok());
      }
    }
    return Rankings(*fresh);
  };
  std::vector<std::string> compacted;
  {
    auto store = Open();
    auto dataset = Put(*store, "ds", SegmentedDocs(0, 20));
    for (int first = 20; first < 200; first += 20) {
      ASSERT_TRUE(store->Append(*dataset, SegmentedDocs(first, 20)).ok());
    }
    ASSERT_EQ(dataset->Snapshot().segments.size(), 10u);
    // 30% of the fifth segment.
    const std::vector<int64_t> fifth = {81, 84, 88, 90, 95, 99};
    ASSERT_EQ(Delete(*store, *dataset, fifth), 6);
    gone.insert(fifth.begin(), fifth.end());
    ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 6);
    EXPECT_EQ(Rankings(*dataset), fresh_rankings(*store, "fresh1"));
    // Rows appended after it, deletes below, inside and above the compacted rows, and a
    // second compaction of segments on both sides of the first.
    ASSERT_TRUE(store->Append(*dataset, SegmentedDocs(200, 60)).ok());
    end = 260;
    // 98: the last row below the last compacted one (the edge of DatasetText::KeyOf).
    const std::vector<int64_t> more = {20, 25, 39, 82, 98, 150, 151, 159, 230};
    ASSERT_EQ(Delete(*store, *dataset, more), 9);
    gone.insert(more.begin(), more.end());
    ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 9);
    compacted = Rankings(*dataset);
    EXPECT_EQ(compacted, fresh_rankings(*store, "fresh3"));
  }
  // No snapshot: the restart replays the rows uncompacted; compacted again, they rank alike.
  auto store = Open();
  ASSERT_TRUE(store->Compact(**store->Get("ds")).ok());
  EXPECT_EQ(Rankings(**store->Get("ds")), compacted);
}

// A compaction is not logged (records name rows by key): a restart before a snapshot replays the
// rows uncompacted, with every acked put and delete, and compacting again gives the same rows.
TEST_F(CompactionTest, RestartBeforeASnapshotReplaysTheRowsUncompacted) {
  std::shared_ptr<arrow::Table> before;
  const std::set<int64_t> gone = {1, 2, 3, 50, 4, 101, 60};
  {
    auto store = Open();
    auto dataset = Fill(*store);
    IndexRows(*dataset, 30);
    ASSERT_EQ(Delete(*store, *dataset, {1, 2, 3, 50}), 4);
    ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 4);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(100, 20, kDim)).ok());
    // Logged by key after the compaction: the same rows in either numbering.
    ASSERT_EQ(Delete(*store, *dataset, {4, 101, 60}), 3);
    before = Contents(*store, "ds");
  }
  auto store = Open();
  auto dataset = *store->Get("ds");
  EXPECT_TRUE(Contents(*store, "ds")->Equals(*before));
  EXPECT_EQ(IdsIn(*before), Range(0, 120, gone));
  EXPECT_EQ(dataset->Snapshot().num_rows, 120);
  EXPECT_EQ(dataset->Snapshot().deleted_rows, 7);
  EXPECT_EQ(dataset->compaction_totals().compactions, 0);
  EXPECT_EQ(Delete(*store, *dataset, {5, 60}), 1);
  EXPECT_EQ(Compact(*store, *dataset).reclaimed_rows, 8);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 120, {1, 2, 3, 4, 5, 50, 60, 101}));
  EXPECT_EQ(Search(*dataset, 100, 2), (std::set<int64_t>{99, 100}));
}

TEST_F(CompactionTest, SnapshotsBeforeAndAfterACompactionRestoreTheSameRows) {
  {
    auto store = Open();
    auto dataset = Fill(*store);
    ASSERT_EQ(Delete(*store, *dataset, {5, 6}), 2);
    ASSERT_EQ(SnapshotAll(*store).at(0).deleted_rows, 2);
    ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 2);  // not logged: lost at the restart
    ASSERT_EQ(Delete(*store, *dataset, {7}), 1);
  }
  {
    auto store = Open();
    EXPECT_EQ(recovered_.snapshot_rows, 100);
    auto dataset = *store->Get("ds");
    EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 100, {5, 6, 7}));
    ASSERT_EQ(Compact(*store, *dataset).reclaimed_rows, 3);  // compacted again
    EXPECT_EQ(dataset->index().restored_rows(), 0);          // the mapped graph was replaced
    IndexRows(*dataset, 1000);
    const SnapshotReport report = SnapshotAll(*store).at(0);
    EXPECT_EQ(report.rows, 97);
    EXPECT_EQ(report.deleted_rows, 0);
    EXPECT_EQ(report.indexed_rows, 97);
  }
  auto store = Open();
  EXPECT_EQ(recovered_.snapshot_rows, 97);  // the snapshot holds the survivors only
  auto dataset = *store->Get("ds");
  EXPECT_EQ(dataset->index().restored_rows(), 97);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 100, {5, 6, 7}));
  EXPECT_EQ(Search(*dataset, 6, 2), (std::set<int64_t>{4, 8}));
}

TEST_F(CompactionTest, ReplayRefusesToCompactLiveRows) {
  {
    WalOptions options;
    options.dir = wal_dir();
    auto writer = WalWriter::Open(options, 1).ValueOrDie();
    auto batch = MakeVectorBatch(0, 4, kDim);
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(*EncodeAppend("ds", *batch, 0)).ok());
    Roaring rows;
    rows.add(1);
    ASSERT_TRUE(writer->Append(*EncodeCompact("ds", rows, 4)).ok());
  }
  auto failed = TryOpen();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("WAL record 3: compaction of dataset 'ds' drops row 1, "
                                           "which is not deleted"),
            std::string::npos)
      << failed.status().message();
}

TEST_F(CompactionTest, PutsDeletesIndexingAndSearchesGoOnDuringCompactions) {
  std::set<int64_t> live;
  {
    auto store = Open();
    auto dataset = Fill(*store);
    Workload workload(*store, *dataset, 100, 20, kDim);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> bad_searches{0};
    std::thread searcher([&] {
      while (!stop) {
        // The nearest rows to a row's own vector are rows with ids next to it.
        for (int64_t id : Search(*dataset, 50, 3)) bad_searches += std::abs(id - 50) > 20;
      }
    });
    // Ten compactions, and more until one has reclaimed rows: on a loaded machine (fsyncs of
    // the log slowed by other processes' I/O) the deleter's first delete was not published
    // before ten compactions 20 ms apart had run, and the test failed with nothing reclaimed
    // (1 run in ~200 with two copies running beside four compiling processes).
    int64_t reclaimed = 0;
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      reclaimed += Compact(*store, *dataset).reclaimed_rows;
    }
    EXPECT_TRUE(testing::WaitUntil([&] {
      reclaimed += Compact(*store, *dataset).reclaimed_rows;
      return reclaimed > 0;
    }));
    stop = true;
    searcher.join();
    workload.Stop();
    EXPECT_EQ(bad_searches, 0);
    live = workload.Live();
    EXPECT_EQ(IdsIn(*Contents(*store, "ds")), live);
    IndexRows(*dataset, 1 << 20);
    EXPECT_EQ(dataset->Snapshot().indexed_rows, dataset->Snapshot().num_rows);
  }
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), live);
}

TEST_F(CompactionTest, DeletesPastTheThresholdCompactInTheBackground) {
  auto store = Open();
  store->StartCompaction({.deleted_fraction = 0.2, .min_deleted_rows = 10, .threads = 1});
  auto dataset = Fill(*store);
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < 19; ++id) ids.push_back(id * 5);
  ASSERT_EQ(Delete(*store, *dataset, ids), 19);  // 19%: below the threshold
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(dataset->compaction_totals().compactions, 0);
  ASSERT_EQ(Delete(*store, *dataset, {1}), 1);  // 20%
  // The store's counters are the last thing a compaction updates (after the dataset's totals
  // and handing memory back): wait for them.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return store->compaction_counters().reclaimed_rows.load() != 0; }));
  EXPECT_EQ(dataset->compaction_totals().compactions, 1);
  EXPECT_EQ(dataset->Snapshot().num_rows, 80);
  EXPECT_EQ(store->compaction_counters().reclaimed_rows, 20);
}

}  // namespace
}  // namespace arbalest
