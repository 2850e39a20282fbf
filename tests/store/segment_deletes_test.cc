// Deleted rows per segment (store/segment.h, store/tombstones.h) through a store logging to a
// real WAL and snapshotting to real files: a dataset sealed into ten segments of 100 rows.
// A delete replaces only the deleted sets of the segments holding its rows, and a compaction
// of one segment only that segment's set (every other set is the same object); scans, searches
// and counts read each segment's own set. A snapshot writes a segment's deleted rows as its own
// file only when they changed (hard-linked otherwise), and no dataset-wide tombstones file; a
// restart restores each segment's set; a damaged deleted-rows file is named with its segment.
// A merge logs nothing, yet the next snapshot round writes the merged layout (a layout
// generation in the directory name), so a restart maps the merged segment.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "logged_store_test.h"
#include "persist/snapshot_format.h"
#include "store/search.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kDim = 4;
constexpr int64_t kRowsPerSegment = 100;
constexpr int64_t kBatchRows = 50;

// MakeVectorBatch's rows (vector j of id i: i + j / 1000), sealing a segment every
// kRowsPerSegment rows.
std::shared_ptr<arrow::RecordBatch> Batch(int64_t first_id, int64_t rows) {
  return testing::MakeVectorBatch(first_id, rows, kDim)
      ->ReplaceSchemaMetadata(arrow::key_value_metadata(
          {"index.segment_max_bytes"}, {std::to_string(kRowsPerSegment * kDim * 4)}));
}

class SegmentDeletesTest : public testing::LoggedStoreTest {
 protected:
  // Ids 0..rows-1 in batches of kBatchRows, all linked.
  static std::shared_ptr<Dataset> Fill(VectorStore& store, int64_t rows) {
    auto dataset = Put(store, "ds", Batch(0, kBatchRows));
    for (int64_t first = kBatchRows; first < rows; first += kBatchRows) {
      EXPECT_TRUE(store.Append(*dataset, Batch(first, kBatchRows)).ok());
    }
    EXPECT_EQ(IndexRows(*dataset, rows), rows);
    return dataset;
  }

  static void Delete(VectorStore& store, Dataset& dataset, const std::vector<int64_t>& ids) {
    auto deleted = store.Delete(dataset, *Ids(ids));
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
    ASSERT_EQ(*deleted, static_cast<int64_t>(ids.size()));
  }

  // The ids of the k rows nearest the vector of id `id` (a deleted one, maybe).
  static std::vector<int64_t> Nearest(const Dataset& dataset, int64_t id, int64_t k) {
    SearchRequest request;
    for (int j = 0; j < kDim; ++j) request.query.push_back(static_cast<float>(id) + j / 1000.0f);
    request.k = k;
    auto result = SearchDataset(dataset, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    std::vector<int64_t> ids;
    if (!result.ok()) return ids;
    const auto& column = static_cast<const arrow::Int64Array&>(*(*result)->column(0));
    for (int64_t i = 0; i < column.length(); ++i) ids.push_back(column.Value(i));
    return ids;
  }

  // The newest snapshot directory of "ds".
  std::string NewestSnapshot() const {
    const SnapshotListing listing = ListSnapshotDirs(snapshot_dir()).ValueOrDie();
    EXPECT_FALSE(listing.complete.empty());
    return listing.complete.empty() ? "" : listing.complete.back().path;
  }

  // The files of a snapshot directory whose names contain `part`: name -> inode.
  static std::map<std::string, ino_t> FilesWith(const std::string& dir, const std::string& part) {
    std::map<std::string, ino_t> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.find(part) == std::string::npos) continue;
      struct stat info {};
      EXPECT_EQ(stat(entry.path().c_str(), &info), 0);
      files[name] = info.st_ino;
    }
    return files;
  }
};

TEST_F(SegmentDeletesTest, DeletesAndACompactionReplaceOnlyTheSetsOfTheSegmentsTheyTouch) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  const DatasetSnapshot before = dataset->Snapshot();
  ASSERT_EQ(before.segments.size(), 10u);

  // 50% of segment 2 and 5% of segment 7: only their sets are new, in local numbering.
  std::vector<int64_t> doomed;
  for (int64_t id = 200; id < 300; id += 2) doomed.push_back(id);
  for (int64_t id = 700; id < 705; ++id) doomed.push_back(id);
  Delete(*store, *dataset, doomed);
  const DatasetSnapshot deleted = dataset->Snapshot();
  for (size_t s = 0; s < 10; ++s) {
    if (s == 2 || s == 7) continue;
    EXPECT_EQ(deleted.segments[s].deleted, before.segments[s].deleted) << "segment " << s;
  }
  EXPECT_EQ(deleted.segments[2].deleted->size(), 50u);
  EXPECT_TRUE(deleted.segments[2].deleted->contains(0));   // id 200
  EXPECT_FALSE(deleted.segments[2].deleted->contains(1));  // id 201
  EXPECT_EQ(deleted.segments[7].deleted->size(), 5u);
  EXPECT_TRUE(deleted.segments[7].deleted->contains(4));  // id 704
  EXPECT_EQ(deleted.deleted_rows, 55);
  EXPECT_EQ(deleted.live_rows(), 945);
  EXPECT_TRUE(deleted.IsDeleted(704));
  EXPECT_FALSE(deleted.IsDeleted(705));

  // One more row of segment 7: segment 2's set stays the same object.
  Delete(*store, *dataset, {705});
  const DatasetSnapshot more = dataset->Snapshot();
  EXPECT_EQ(more.segments[2].deleted, deleted.segments[2].deleted);
  EXPECT_NE(more.segments[7].deleted, deleted.segments[7].deleted);
  EXPECT_EQ(more.segments[7].deleted->size(), 6u);

  // Compacting the segments past 20% compacts segment 2 only: its set is replaced (empty: its
  // deleted rows are gone), every other segment keeps its set object, segment 7's included.
  auto report = store->Compact(
      *dataset, [] { return false; }, /*segment_fraction=*/0.2);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->reclaimed_rows, 50);
  const DatasetSnapshot after = dataset->Snapshot();
  ASSERT_EQ(after.segments.size(), 10u);
  for (size_t s = 0; s < 10; ++s) {
    if (s == 2) continue;
    EXPECT_EQ(after.segments[s].deleted, more.segments[s].deleted) << "segment " << s;
  }
  EXPECT_TRUE(after.segments[2].deleted->empty());
  EXPECT_EQ(after.segments[7].first_row, 650);
  EXPECT_EQ(after.deleted_rows, 6);
  EXPECT_TRUE(after.IsDeleted(650 + 5));  // id 705, segment 7's local row 5
  EXPECT_FALSE(after.IsDeleted(650 + 6));

  // Scans, searches and counts read each segment's own set.
  std::set<int64_t> live;
  for (int64_t id = 0; id < 1000; ++id) live.insert(id);
  for (const int64_t id : doomed) live.erase(id);
  live.erase(705);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), live);
  const std::vector<int64_t> nearest = Nearest(*dataset, 702, 10);
  ASSERT_EQ(nearest.size(), 10u);
  EXPECT_EQ(nearest.front(), 699);  // 700..705 deleted
  for (const int64_t id : nearest) EXPECT_TRUE(live.contains(id)) << id;
  const std::vector<int64_t> in_segment_2 = Nearest(*dataset, 220, 4);
  for (const int64_t id : in_segment_2) EXPECT_TRUE(live.contains(id)) << id;
  EXPECT_EQ(dataset->Snapshot().live_rows(), static_cast<int64_t>(live.size()));
}

TEST_F(SegmentDeletesTest, ASnapshotWritesOnlyTheDeletedRowsFilesThatChanged) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  Delete(*store, *dataset, {205, 705});
  SnapshotAll(*store);
  std::string dir = NewestSnapshot();
  EXPECT_FALSE(fs::exists(fs::path(dir) / "tombstones.roaring"));
  const auto first = FilesWith(dir, "-deleted-");
  ASSERT_EQ(first.size(), 2u);  // segments 2 and 7, one row each
  EXPECT_TRUE(first.contains("seg-2-deleted-1.roaring"));
  EXPECT_TRUE(first.contains("seg-7-deleted-1.roaring"));
  const auto graphs = FilesWith(dir, "-graph-");

  // A delete in segment 7 only: its file is written again (two rows), segment 2's linked.
  Delete(*store, *dataset, {706});
  SnapshotAll(*store);
  dir = NewestSnapshot();
  const auto second = FilesWith(dir, "-deleted-");
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second.at("seg-2-deleted-1.roaring"), first.at("seg-2-deleted-1.roaring"));
  ASSERT_TRUE(second.contains("seg-7-deleted-2.roaring"));
  EXPECT_EQ(FilesWith(dir, "-graph-"), graphs);  // nothing else changed

  // A restart restores each segment's set; a delete in segment 2 then rewrites only its file.
  dataset.reset();  // before its store: the store's memory budget must outlive it
  store.reset();
  store = Open();
  dataset = store->Get("ds").ValueOrDie();
  const DatasetSnapshot loaded = dataset->Snapshot();
  ASSERT_EQ(loaded.segments.size(), 10u);
  EXPECT_EQ(loaded.deleted_rows, 3);
  EXPECT_EQ(loaded.segments[2].deleted->size(), 1u);
  EXPECT_TRUE(loaded.segments[2].deleted->contains(5));
  EXPECT_EQ(loaded.segments[7].deleted->size(), 2u);
  EXPECT_TRUE(loaded.segments[7].deleted->contains(6));
  EXPECT_FALSE(IdsIn(*Contents(*store, "ds")).contains(706));
  Delete(*store, *dataset, {210});
  SnapshotAll(*store);
  const auto third = FilesWith(NewestSnapshot(), "-deleted-");
  ASSERT_EQ(third.size(), 2u);
  EXPECT_EQ(third.at("seg-7-deleted-2.roaring"), second.at("seg-7-deleted-2.roaring"));
  EXPECT_TRUE(third.contains("seg-2-deleted-2.roaring"));
}

TEST_F(SegmentDeletesTest, ADamagedDeletedRowsFileIsNamedWithItsSegment) {
  std::string file;
  {
    auto store = Open();
    auto dataset = Fill(*store, 1000);
    Delete(*store, *dataset, {700, 702, 703});
    SnapshotAll(*store);
    file = (fs::path(NewestSnapshot()) / "seg-7-deleted-3.roaring").string();
  }
  ASSERT_TRUE(fs::exists(file));
  {
    std::fstream damage(file, std::ios::in | std::ios::out | std::ios::binary);
    damage.seekp(4);
    damage.put('\x7f');
  }
  auto store = TryOpen();
  ASSERT_FALSE(store.ok());
  const std::string message = store.status().message();
  EXPECT_NE(message.find("segment 7 (seg-7)"), std::string::npos) << message;
  EXPECT_NE(message.find(file), std::string::npos) << message;
}

TEST_F(SegmentDeletesTest, AMergeIsSnapshottedAndARestartMapsTheMergedSegment) {
  auto store = Open();
  auto dataset = Fill(*store, 1000);
  // Segments 3 and 4 left at 20 rows each by a compaction: the merge policy's pick.
  std::vector<int64_t> doomed;
  for (int64_t id = 300; id < 500; ++id) {
    if (id % 5 != 0) doomed.push_back(id);
  }
  Delete(*store, *dataset, doomed);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  Delete(*store, *dataset, {305});  // a deleted row in a segment to merge
  SnapshotAll(*store);
  const std::string before = NewestSnapshot();
  const uint64_t lsn = dataset->last_lsn();

  const int64_t merges =
      dataset->MergeSegments(/*threads=*/1, [] { return false; }).ValueOrDie().merges;
  ASSERT_GE(merges, 1);
  const DatasetSnapshot merged = dataset->Snapshot();
  ASSERT_LT(merged.segments.size(), 10u);
  EXPECT_EQ(dataset->last_lsn(), lsn);  // nothing logged
  EXPECT_EQ(merged.deleted_rows, 1);
  EXPECT_TRUE(merged.IsDeleted(300 + 1));  // id 305: row 1 of the old segment 3

  // The round writes the dataset although no record was logged since: a newer directory.
  const std::vector<SnapshotReport> reports = SnapshotAll(*store);
  ASSERT_EQ(reports.size(), 1u);
  const std::string after = NewestSnapshot();
  EXPECT_NE(after, before);
  EXPECT_FALSE(fs::exists(before));
  EXPECT_EQ(ReadManifest(after).ValueOrDie().segments.size(), merged.segments.size());

  dataset.reset();  // before its store: the store's memory budget must outlive it
  store.reset();
  store = Open();
  dataset = store->Get("ds").ValueOrDie();
  const DatasetSnapshot loaded = dataset->Snapshot();
  ASSERT_EQ(loaded.segments.size(), merged.segments.size());
  for (size_t s = 0; s < loaded.segments.size(); ++s) {
    EXPECT_EQ(loaded.segments[s].first_row, merged.segments[s].first_row) << "segment " << s;
    EXPECT_EQ(loaded.segments[s].rows, merged.segments[s].rows) << "segment " << s;
  }
  EXPECT_EQ(dataset->index().restored_rows(), loaded.num_rows);  // every graph mapped
  EXPECT_EQ(IndexRows(*dataset, 1000), 0);
  EXPECT_EQ(loaded.deleted_rows, 1);
  EXPECT_TRUE(loaded.IsDeleted(300 + 1));
  // The layout generation carried on (the compaction, not logged, advanced it too): another
  // merge-free round writes nothing new.
  EXPECT_EQ(dataset->layout_generation(), static_cast<uint64_t>(merges) + 1);
  SnapshotAll(*store);
  EXPECT_EQ(NewestSnapshot(), after);
}

}  // namespace
}  // namespace arbalest
