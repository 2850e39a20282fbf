// Snapshots of a store logging to a real WAL: written from live datasets, loaded at restart with
// the log records after them, and the log checkpointed behind them.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "logged_store_test.h"
#include "persist/snapshot_format.h"
#include "persist/staging_dir.h"
#include "persist/wal_segments.h"
#include "store/recovery.h"
#include "store/scan.h"
#include "store/search.h"
#include "store/snapshot_io.h"
#include "testing/batches.h"
#include "testing/wait.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::ConstantVectors;
using testing::MakeVectorBatch;
using testing::WithoutIds;

// The path of the first file in `dir` whose name starts with `prefix` ("" when none).
std::string FileStartingWith(const std::string& dir, std::string_view prefix) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with(prefix)) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.front();
}

class SnapshotTest : public testing::LoggedStoreTest {
 protected:
  std::vector<std::string> SnapshotDirs() const {
    std::vector<std::string> names;
    const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
    for (const auto& entry : listing.complete) {
      names.push_back(fs::path(entry.path).filename().string());
    }
    return names;
  }
};

TEST_F(SnapshotTest, RestartLoadsRowsAndGraphThenReplaysOnlyLaterRecords) {
  std::shared_ptr<arrow::Table> before;
  int64_t indexed = 0;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 300, 8));
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(300, 200, 8)).ok());
    ASSERT_EQ(IndexRows(*dataset, 1000), 500);
    auto reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].dataset, "docs");
    EXPECT_EQ(reports[0].rows, 500);
    EXPECT_EQ(reports[0].indexed_rows, 500);
    EXPECT_EQ(reports[0].lsn, dataset->last_lsn());
    EXPECT_GT(reports[0].bytes, 500 * 8 * 4);
    indexed = reports[0].indexed_rows;
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(500, 50, 8)).ok());  // after it
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.snapshots, 1);
  EXPECT_EQ(recovered_.snapshot_rows, 500);
  EXPECT_EQ(recovered_.rows, 50);             // only the append after the snapshot was replayed
  EXPECT_EQ(recovered_.skipped_records, 3u);  // create + two appends
  auto dataset = *store->Get("docs");
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  EXPECT_EQ(dataset->index().restored_rows(), indexed);
  EXPECT_EQ(dataset->index().indexed_rows(), indexed);  // mapped, not rebuilt
  ASSERT_EQ(IndexRows(*dataset, 1000), 50);             // the replayed rows are indexed on top
  SearchRequest request;
  for (int64_t id : {17, 499, 530}) {
    request.query.assign(8, 0);
    for (int j = 0; j < 8; ++j) request.query[j] = static_cast<float>(id) + j / 1000.0f;
    request.k = 3;
    auto result = SearchDataset(*dataset, request);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(static_cast<const arrow::Int64Array&>(*(*result)->column(0)).Value(0), id);
  }
  EXPECT_EQ(dataset->saved_snapshot().lsn, recovered_.next_lsn - 2);
}

TEST_F(SnapshotTest, EvolvedSchemasNarrowVectorsAndAssignedIdsSurvive) {
  auto vectors = [](const std::shared_ptr<arrow::DataType>& type, int64_t rows, double value) {
    return arrow::RecordBatch::Make(
        arrow::schema({arrow::field("vector", arrow::fixed_size_list(type, 4))}), rows,
        {ConstantVectors(type, rows, 4, value)});
  };
  auto with_note = [](const std::shared_ptr<arrow::RecordBatch>& batch, const char* note) {
    arrow::StringBuilder notes;
    for (int64_t i = 0; i < batch->num_rows(); ++i) EXPECT_TRUE(notes.Append(note).ok());
    return *batch->AddColumn(batch->num_columns(), arrow::field("note", arrow::utf8()),
                             *notes.Finish());
  };
  std::shared_ptr<arrow::Table> half_before, bytes_before;
  {
    auto store = Open();
    auto half = Put(*store, "half", vectors(arrow::float16(), 10, 0.5));
    ASSERT_TRUE(store->Append(*half, with_note(vectors(arrow::float16(), 5, 1.5), "x")).ok());
    auto bytes = Put(*store, "bytes", vectors(arrow::int8(), 7, -3));
    Put(*store, "empty", MakeVectorBatch(0, 1, 2));
    ASSERT_TRUE(store->Drop("empty").ok());
    ASSERT_TRUE(store->GetOrCreate("empty", *MakeVectorBatch(0, 1, 2)->schema()).ok());
    IndexRows(*half, 12);
    ASSERT_EQ(SnapshotAll(*store).size(), 3u);
    half_before = Contents(*store, "half");
    bytes_before = Contents(*store, "bytes");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.rows, 0);
  EXPECT_TRUE(Contents(*store, "half")->Equals(*half_before))
      << Contents(*store, "half")->ToString();
  EXPECT_TRUE(Contents(*store, "bytes")->Equals(*bytes_before));
  EXPECT_EQ((*store->Get("empty"))->Snapshot().num_rows, 0);
  auto half = *store->Get("half");
  EXPECT_EQ(half->index().indexed_rows(), 12);
  EXPECT_EQ(half->schema()->num_fields(), 3);  // id, vector, note
  // Ids continue where the snapshot left off, and the evolved schema is enforced.
  EXPECT_TRUE(store->Append(*half, vectors(arrow::float16(), 2, 2)).status().IsInvalid());
  ASSERT_TRUE(store->Append(*half, with_note(vectors(arrow::float16(), 2, 2), "y")).ok());
  auto snapshot = half->Snapshot();
  const auto& ids = static_cast<const arrow::UInt64Array&>(*snapshot.batches.back()->column(0));
  EXPECT_EQ(ids.Value(0), 15u);
  EXPECT_EQ(ids.Value(1), 16u);
}

TEST_F(SnapshotTest, UnchangedDatasetIsNotWrittenAgainButIndexProgressIs) {
  auto store = Open();
  auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, 4));
  IndexRows(*dataset, 40);
  auto first = SnapshotAll(*store);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].indexed_rows, 40);
  auto again = SnapshotAll(*store, "docs");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seconds, 0.0);  // the existing snapshot, reported
  EXPECT_EQ(again[0].lsn, first[0].lsn);
  EXPECT_EQ(again[0].bytes, first[0].bytes);
  EXPECT_EQ(SnapshotDirs(), (std::vector<std::string>{SnapshotDirName("docs", first[0].lsn, 40)}));
  IndexRows(*dataset, 100);
  auto indexed = SnapshotAll(*store);
  ASSERT_EQ(indexed.size(), 1u);
  EXPECT_EQ(indexed[0].lsn, first[0].lsn);
  EXPECT_EQ(indexed[0].indexed_rows, 100);
  EXPECT_EQ(SnapshotDirs(), (std::vector<std::string>{SnapshotDirName("docs", first[0].lsn, 100)}));
  auto missing = store->snapshotter()->SnapshotNow("nope");
  EXPECT_TRUE(missing.status().IsKeyError());
}

class DamagedSnapshotTest : public SnapshotTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(DamagedSnapshotTest, StartupFailsNamingTheFile) {
  std::string damaged;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 200, 8));
    IndexRows(*dataset, 200);
    auto reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    const std::string dir =
        (fs::path(snapshot_dir()) / SnapshotDirName("docs", reports[0].lsn, 200)).string();
    const std::string& how = GetParam();
    damaged = how.starts_with("manifest")  ? (fs::path(dir) / kManifestFile).string()
              : how.starts_with("index")   ? FileStartingWith(dir, "seg-0-graph-")
              : how.starts_with("vectors") ? FileStartingWith(dir, "seg-0-vectors")
                                           : FileStartingWith(dir, "seg-0-rows-");
    const auto size = fs::file_size(damaged);
    if (how.ends_with("truncated")) {
      fs::resize_file(damaged, size / 2);
    } else if (how.ends_with("missing")) {
      fs::remove(damaged);
    } else {
      std::fstream file_stream(damaged, std::ios::in | std::ios::out | std::ios::binary);
      file_stream.seekp(static_cast<std::streamoff>(size / 2));
      file_stream.put('\x5a');
    }
  }
  auto store = TryOpen();
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(damaged), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("'docs' is still live"), std::string::npos)
      << store.status().message();
  if (!GetParam().starts_with("manifest")) {  // a segment's file: the segment is named too
    EXPECT_NE(store.status().message().find("segment 0 (seg-0)"), std::string::npos)
        << store.status().message();
  }
}

// A crash while an older build removed a dropped dataset's snapshot file by file left a
// directory without its data file; the log drops the dataset after that snapshot, so the
// snapshot is garbage: startup removes it instead of refusing to start.
TEST_F(SnapshotTest, DamagedSnapshotOfADatasetTheLogDropsIsRemoved) {
  std::shared_ptr<arrow::Table> before;
  std::string dropped_dir;
  {
    auto store = Open();
    Put(*store, "docs", MakeVectorBatch(0, 50, 4));
    auto reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    dropped_dir = (fs::path(snapshot_dir()) / SnapshotDirName("docs", reports[0].lsn, 0)).string();
    ASSERT_TRUE(store->Drop("docs").ok());
    Put(*store, "docs", MakeVectorBatch(100, 7, 6));  // created again, with another width
    before = Contents(*store, "docs");
  }
  ASSERT_TRUE(fs::remove(FileStartingWith(dropped_dir, "seg-0-rows-")));
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  EXPECT_FALSE(fs::exists(dropped_dir));
}

// The same damage to the snapshot of a dataset the log does not drop still stops startup.
TEST_F(SnapshotTest, DamagedSnapshotOfADatasetTheLogChangesLaterIsNeeded) {
  std::string damaged;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 50, 4));
    auto reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    damaged = (fs::path(snapshot_dir()) / SnapshotDirName("docs", reports[0].lsn, 0)).string();
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(50, 5, 4)).ok());
  }
  ASSERT_TRUE(fs::remove(FileStartingWith(damaged, "seg-0-rows-")));
  auto store = TryOpen();
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("the WAL changes it at LSN"), std::string::npos)
      << store.status().message();
  EXPECT_TRUE(fs::exists(damaged));
}

// A crash in the middle of removing a snapshot (RemoveDirectoryDurably renames the directory
// to its trash name first): startup finishes the removal and reads nothing from it.
TEST_F(SnapshotTest, InterruptedRemovalLeavesATrashDirectoryThatStartupFinishes) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    Put(*store, "docs", MakeVectorBatch(0, 20, 4));
    SnapshotAll(*store);
    before = Contents(*store, "docs");
  }
  const fs::path trash =
      fs::path(snapshot_dir()) / (SnapshotDirName("docs", 999, 0) + std::string(kTrashSuffix));
  fs::create_directories(trash);
  std::ofstream(trash / kManifestFile) << "{}";
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(SnapshotDirs().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Files, DamagedSnapshotTest,
                         ::testing::Values("manifest truncated", "manifest missing", "data corrupt",
                                           "data truncated", "data missing", "index corrupt",
                                           "index missing", "vectors corrupt", "vectors truncated",
                                           "vectors missing"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), ' ', '_');
                           return name;
                         });

TEST_F(SnapshotTest, LeftoverStagingDirectoryIsIgnoredAndRemoved) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    Put(*store, "docs", MakeVectorBatch(0, 20, 4));
    SnapshotAll(*store);
    Put(*store, "docs", MakeVectorBatch(20, 5, 4));
    before = Contents(*store, "docs");
  }
  // A crash in the middle of the next snapshot: a staging directory with a partial file.
  const std::string staging = (fs::path(snapshot_dir()) / SnapshotStagingName("docs")).string();
  fs::create_directories(staging);
  std::ofstream(fs::path(staging) / SegmentRowsFileName(0, 20, 5)) << "PAR1 partial";
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  EXPECT_FALSE(fs::exists(staging));
}

TEST_F(SnapshotTest, CheckpointDeletesSegmentsAndRestartStillHasEverything) {
  segment_bytes_ = 1;  // a segment per write: every record can be checkpointed away
  std::map<std::string, std::shared_ptr<arrow::Table>> before;
  {
    auto store = Open();
    auto kept = Put(*store, "kept", MakeVectorBatch(0, 10, 4));
    auto gone = Put(*store, "gone", MakeVectorBatch(0, 10, 4));
    Put(*store, "reborn", MakeVectorBatch(0, 10, 4));
    SnapshotAll(*store);
    auto segments = *ListWalSegments(wal_dir());
    EXPECT_EQ(segments.size(), 1u);  // every record is in a snapshot
    EXPECT_GT(segments.front().first_lsn, 1u);
    // After the snapshots: more rows for `kept` and `gone`, `gone` deleted, `reborn` deleted
    // and created again with another width.
    ASSERT_TRUE(store->Append(*kept, MakeVectorBatch(10, 10, 4)).ok());
    ASSERT_TRUE(store->Append(*gone, MakeVectorBatch(10, 10, 4)).ok());
    ASSERT_TRUE(store->Drop("gone").ok());
    ASSERT_TRUE(store->Drop("reborn").ok());
    Put(*store, "reborn", MakeVectorBatch(100, 3, 6));
    // A snapshot of another dataset checkpoints too: the snapshots of `gone` and the first
    // `reborn` go, while the log after `kept`'s snapshot stays (with `gone`'s records, whose
    // creation is no longer in it).
    Put(*store, "other", MakeVectorBatch(0, 1, 4));
    SnapshotAll(*store, "other");
    const auto dirs = SnapshotDirs();
    ASSERT_EQ(dirs.size(), 2u) << ::testing::PrintToString(dirs);
    EXPECT_TRUE(dirs[0].starts_with("kept@"));
    EXPECT_TRUE(dirs[1].starts_with("other@")) << dirs[1];
    for (const char* name : {"kept", "reborn", "other"}) before[name] = Contents(*store, name);
  }
  {
    auto store = Open();
    EXPECT_GT(recovered_.skipped_records, 0u);
    EXPECT_TRUE(store->Get("gone").status().IsKeyError());
    ASSERT_EQ(store->List().size(), 3u);
    for (const auto& [name, table] : before) {
      EXPECT_TRUE(Contents(*store, name)->Equals(*table)) << name;
    }
    EXPECT_EQ((*store->Get("reborn"))->layout().vector.dim, 6);
    SnapshotAll(*store);  // now everything is in snapshots: the log shrinks to one segment
    EXPECT_EQ(ListWalSegments(wal_dir())->size(), 1u);
    EXPECT_EQ(SnapshotDirs().size(), 3u);
  }
  auto store = Open();
  EXPECT_EQ(recovered_.rows, 0);
  EXPECT_LE(recovered_.log.records, 2u);  // the last write, in the segment being written
  for (const auto& [name, table] : before) EXPECT_TRUE(Contents(*store, name)->Equals(*table));
  // LSNs go on from the snapshots, never reused.
  auto dataset = *store->Get("kept");
  const uint64_t saved = dataset->saved_snapshot().lsn;
  auto ack = store->Append(*dataset, MakeVectorBatch(20, 1, 4));
  ASSERT_TRUE(ack.ok());
  EXPECT_GT(ack->seq, saved);
}

TEST_F(SnapshotTest, DeletedRowsStayDeletedThroughSnapshots) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, 4));
    ASSERT_EQ(*store->Delete(*dataset, *Ids({3, 50, 50, 1000})), 2);
    auto reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].rows, 98);
    EXPECT_EQ(reports[0].deleted_rows, 2);
    ASSERT_EQ(*store->Delete(*dataset, *Ids({60})), 1);  // after the snapshot: from the WAL
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.deleted_rows, 1);
  auto dataset = *store->Get("docs");
  EXPECT_EQ(dataset->Snapshot().live_rows(), 97);
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  EXPECT_EQ(*store->Delete(*dataset, *Ids({3, 50, 60})), 0);  // already deleted
  SnapshotAll(*store);
  const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
  ASSERT_EQ(listing.complete.size(), 1u);
  auto manifest = ReadManifest(listing.complete[0].path);
  // Version 5: the deleted rows are the (one) segment's deleted-rows file.
  ASSERT_TRUE(manifest.ok() && manifest->segments.size() == 1u &&
              manifest->segments[0].deleted.has_value());
  auto tombstones = ReadTombstones(
      (fs::path(listing.complete[0].path) / manifest->segments[0].deleted->name).string());
  EXPECT_EQ(tombstones->cardinality(), 3u);
}

TEST_F(SnapshotTest, SnapshotsDuringPutsAndDeletesAreConsistentCuts) {
  std::set<int64_t> live;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 10, 4));
    Workload workload(*store, *dataset, 10, 10, 4);
    for (int i = 0; i < 20; ++i) {
      auto reports = SnapshotAll(*store);
      ASSERT_EQ(reports.size(), 1u);
      EXPECT_LE(reports[0].indexed_rows, reports[0].rows + reports[0].deleted_rows);
    }
    workload.Stop();
    EXPECT_FALSE(workload.deleted().empty());
    live = workload.Live();
  }
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "docs")), live);
}

TEST_F(SnapshotTest, WalGrowthAndIntervalTriggerSnapshots) {
  auto wait_for_snapshot = [](const Dataset& dataset) {
    testing::WaitUntil([&] { return dataset.saved_snapshot().lsn != 0; });
    return dataset.saved_snapshot().lsn;
  };
  {
    auto store = Open(SnapshotOptions{"", std::chrono::milliseconds(0), /*wal_bytes=*/1024});
    auto dataset = Put(*store, "by_bytes", MakeVectorBatch(0, 100, 4));
    EXPECT_EQ(wait_for_snapshot(*dataset), dataset->last_lsn());
  }
  auto store = Open(SnapshotOptions{"", std::chrono::milliseconds(50), 0});
  auto dataset = Put(*store, "by_time", MakeVectorBatch(0, 1, 4));
  EXPECT_EQ(wait_for_snapshot(*dataset), dataset->last_lsn());
}

TEST_F(SnapshotTest, ShutdownSnapshotsWhatChangedUnlessOutOfTime) {
  {
    auto store = Open();
    Put(*store, "late", MakeVectorBatch(0, 10, 4));
    store->snapshotter()->Shutdown(std::chrono::steady_clock::now());  // no time left
    EXPECT_TRUE(SnapshotDirs().empty());
    auto refused = store->snapshotter()->SnapshotNow(std::nullopt);
    EXPECT_TRUE(refused.status().IsCancelled());
  }
  {
    auto store = Open();
    store->snapshotter()->AbandonAt(std::chrono::steady_clock::now());  // SIGTERM came
    auto abandoned = store->snapshotter()->SnapshotNow("late");
    EXPECT_TRUE(abandoned.status().IsCancelled()) << abandoned.status().ToString();
    EXPECT_TRUE(SnapshotDirs().empty());
  }
  {
    auto store = Open();
    EXPECT_EQ(recovered_.rows, 10);  // from the log
    Put(*store, "late", MakeVectorBatch(10, 10, 4));
    store->snapshotter()->Shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(30));
    EXPECT_EQ(SnapshotDirs().size(), 1u);
  }
  auto store = Open();
  EXPECT_EQ(recovered_.snapshot_rows, 20);
  EXPECT_EQ(recovered_.rows, 0);
}

TEST_F(SnapshotTest, LoadingChargesTheMemoryBudget) {
  {
    auto store = Open();
    Put(*store, "docs", MakeVectorBatch(0, 1000, 16));
    SnapshotAll(*store);
  }
  auto refused = TryOpen(/*max_memory=*/4096);
  EXPECT_TRUE(refused.status().IsCapacityError()) << refused.status().ToString();
  auto store = TryOpen(/*max_memory=*/int64_t{1} << 30);
  ASSERT_TRUE(store.ok());
  EXPECT_GT((*store)->memory().used(), 1000 * 16 * 4);
}

}  // namespace
}  // namespace arbalest
