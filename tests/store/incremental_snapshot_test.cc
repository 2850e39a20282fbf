// Incremental snapshots (persist/snapshot_format.h, version 4): a snapshot writes the rows
// added to a segment since the previous one into a new rows file of the segment and appends
// their vectors to the segment's vectors file; the files it keeps are hard links to the
// previous snapshot's, never rewritten. A compaction of a segment gives it new files under a
// new id. Bytes a snapshot appended but never committed are ignored at restart and cut off by
// the next snapshot.
#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "logged_store_test.h"
#include "persist/snapshot_format.h"
#include "store/search.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::MakeVectorBatch;

constexpr int32_t kDim = 8;
constexpr int64_t kRowBytes = kDim * sizeof(float);

ino_t Inode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

class IncrementalSnapshotTest : public testing::LoggedStoreTest {
 protected:
  // The newest snapshot directory of `dataset` and its manifest.
  std::pair<std::string, SnapshotManifest> Newest(const std::string& dataset) const {
    const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
    std::string dir;
    for (const auto& entry : listing.complete) {
      if (entry.dataset == dataset) dir = entry.path;
    }
    EXPECT_FALSE(dir.empty());
    auto manifest = ReadManifest(dir);
    EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
    return {dir, manifest.ValueOr(SnapshotManifest{})};
  }

  // The one segment's rows files, vectors file and id.
  static const std::vector<RowFile>& Rows(const SnapshotManifest& manifest) {
    return manifest.segments.at(0).row_files;
  }
  static const std::optional<VectorsFile>& Vectors(const SnapshotManifest& manifest) {
    return manifest.segments.at(0).vectors;
  }
  static int64_t Id(const SnapshotManifest& manifest) { return manifest.segments.at(0).id; }

  static std::vector<std::string> RowFileNames(const SnapshotManifest& manifest) {
    std::vector<std::string> names;
    for (const RowFile& row_file : manifest.segments.at(0).row_files) {
      names.push_back(row_file.file.name);
    }
    return names;
  }
};

TEST_F(IncrementalSnapshotTest, ASnapshotWritesOnlyTheRowsAddedSinceThePreviousOne) {
  std::shared_ptr<arrow::Table> before;
  ino_t first_rows_inode = 0, vectors_inode = 0;
  int64_t id = 0;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 300, kDim));
    IndexRows(*dataset, 300);
    SnapshotAll(*store);
    auto [dir, first] = Newest("docs");
    EXPECT_EQ(first.format_version(), kSnapshotFormatVersion);
    id = Id(first);
    EXPECT_EQ(RowFileNames(first), (std::vector<std::string>{SegmentRowsFileName(id, 0, 300)}));
    EXPECT_FALSE(Rows(first)[0].has_vectors);  // the vectors file holds them
    ASSERT_TRUE(Vectors(first).has_value());
    EXPECT_EQ(Vectors(first)->rows, 300);
    EXPECT_EQ(fs::file_size(fs::path(dir) / Vectors(first)->name), 300 * kRowBytes);
    first_rows_inode = Inode(fs::path(dir) / Rows(first)[0].file.name);
    vectors_inode = Inode(fs::path(dir) / Vectors(first)->name);

    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(300, 100, kDim)).ok());
    IndexRows(*dataset, 50);  // rows 350..399 are not in the graph: their vectors are saved too
    SnapshotAll(*store);
    auto [second_dir, second] = Newest("docs");
    EXPECT_NE(second_dir, dir);
    EXPECT_FALSE(fs::exists(dir));  // the older snapshot is gone, its files live on as links
    EXPECT_EQ(Id(second), id);
    EXPECT_EQ(RowFileNames(second), (std::vector<std::string>{SegmentRowsFileName(id, 0, 300),
                                                              SegmentRowsFileName(id, 300, 100)}));
    // The first rows file and the vectors file are the same files, not copies.
    EXPECT_EQ(Inode(fs::path(second_dir) / Rows(second)[0].file.name), first_rows_inode);
    EXPECT_EQ(Inode(fs::path(second_dir) / Vectors(second)->name), vectors_inode);
    EXPECT_EQ(Vectors(second)->rows, 400);
    EXPECT_EQ(Vectors(second)->chunks.size(), 2u);
    EXPECT_EQ(Vectors(second)->chunks[1].bytes, 100 * kRowBytes);
    EXPECT_EQ(fs::file_size(fs::path(second_dir) / Vectors(second)->name), 400 * kRowBytes);
    EXPECT_EQ(second.indexed_rows, 350);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(400, 10, kDim)).ok());  // WAL only
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.snapshot_rows, 400);
  EXPECT_EQ(recovered_.rows, 10);
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  auto dataset = *store->Get("docs");
  EXPECT_EQ(dataset->index().restored_rows(), 350);  // mapped from the vectors file
  EXPECT_EQ(IndexRows(*dataset, 1000), 60);
  // A snapshot after the restart continues the same files.
  SnapshotAll(*store);
  auto [dir, third] = Newest("docs");
  EXPECT_EQ(Id(third), id);
  EXPECT_EQ(Inode(fs::path(dir) / Vectors(third)->name), vectors_inode);
  EXPECT_EQ(Rows(third).size(), 3u);
}

// A compaction replaces the segment's graph: the segment's files are written afresh under a
// new id, and none of the old id's is left in the directory.
TEST_F(IncrementalSnapshotTest, ACompactionRewritesTheFilesOfTheSegmentItCompacts) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 200, kDim));
    IndexRows(*dataset, 200);
    SnapshotAll(*store);
    const int64_t id = Id(Newest("docs").second);
    ASSERT_TRUE(store->Delete(*dataset, *Ids({3, 4, 150})).ok());
    auto compacted = store->Compact(*dataset);
    ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
    EXPECT_EQ(compacted->reclaimed_rows, 3);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(200, 20, kDim)).ok());
    SnapshotAll(*store);
    auto [dir, manifest] = Newest("docs");
    EXPECT_GT(Id(manifest), id);
    EXPECT_EQ(RowFileNames(manifest),
              (std::vector<std::string>{SegmentRowsFileName(Id(manifest), 0, 217)}));
    EXPECT_EQ(Vectors(manifest)->chunks.size(), 1u);
    const std::string old_files = "seg-" + std::to_string(id) + "-";
    for (const auto& entry : fs::directory_iterator(dir)) {  // nothing of the old id
      const std::string name = entry.path().filename().string();
      EXPECT_FALSE(name.starts_with(old_files)) << name;
    }
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.rows, 0);
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
}

// A snapshot that appended to the vectors file and died before its manifest (a SIGKILL, a
// failed write) leaves bytes past the recorded length: the restart ignores them and the next
// snapshot writes over them.
TEST_F(IncrementalSnapshotTest, BytesPastTheRecordedLengthAreIgnoredAndCutOff) {
  std::shared_ptr<arrow::Table> before;
  std::string vectors_path;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, kDim));
    IndexRows(*dataset, 100);
    SnapshotAll(*store);
    auto [dir, manifest] = Newest("docs");
    vectors_path = fs::path(dir) / Vectors(manifest)->name;
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(100, 5, kDim)).ok());
    before = Contents(*store, "docs");
  }
  std::ofstream(vectors_path, std::ios::binary | std::ios::app) << std::string(1000, '\x7f');
  {
    auto store = Open();
    EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
    auto dataset = *store->Get("docs");
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(105, 5, kDim)).ok());
    SnapshotAll(*store);
    auto [dir, manifest] = Newest("docs");
    EXPECT_EQ(fs::file_size(fs::path(dir) / Vectors(manifest)->name), 110 * kRowBytes);
    EXPECT_EQ(Vectors(manifest)->chunks.size(), 2u);
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_EQ(recovered_.rows, 0);
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
}

// A snapshot whose commit failed after its rename (the parent directory's fsync) is on disk
// but not the dataset's saved one: appending after the saved snapshot's length would change
// bytes that newer directory owns, so the next snapshot writes every segment afresh instead.
TEST_F(IncrementalSnapshotTest, ANewerDirectoryThanTheSavedOneMakesEverySegmentWrittenAfresh) {
  auto store = Open();
  auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, kDim));
  SnapshotAll(*store);
  auto [dir, saved] = Newest("docs");
  // What such a commit leaves: a complete directory, newer than the saved one, linking the same
  // files.
  const fs::path newer =
      fs::path(snapshot_dir()) / SnapshotDirName("docs", saved.lsn + 100, saved.indexed_rows);
  fs::create_directories(newer);
  for (const auto& entry : fs::directory_iterator(dir)) {
    fs::create_hard_link(entry.path(), newer / entry.path().filename());
  }
  const fs::path kept = fs::path(snapshot_dir()).parent_path() / "kept-vectors.bin";
  fs::create_hard_link(fs::path(dir) / Vectors(saved)->name, kept);  // outlives the directories
  const auto vectors_size = fs::file_size(kept);
  ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(100, 10, kDim)).ok());
  SnapshotAll(*store);
  EXPECT_EQ(fs::file_size(kept), vectors_size);  // not appended to
  const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
  ASSERT_EQ(listing.complete.size(), 1u);  // the checkpoint removed the stray one
  auto written = ReadManifest(listing.complete[0].path);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_NE(Inode(fs::path(listing.complete[0].path) / Vectors(*written)->name), Inode(kept));
  EXPECT_EQ(Rows(*written).size(), 1u);
  EXPECT_EQ(written->rows, 110);
}

// Cosine over float32: the graph holds normalized copies, not the received vectors, so the
// rows files keep the vector column and the vectors file holds the graph's rows, appended as
// they enter the graph; rows and vectors are still written once.
TEST_F(IncrementalSnapshotTest, NormalizedGraphsKeepVectorsInTheRowsFiles) {
  auto cosine = [](int64_t first, int64_t rows) {
    auto batch = MakeVectorBatch(first, rows, kDim);
    return batch->ReplaceSchemaMetadata(arrow::key_value_metadata({"longbow.metric"}, {"cosine"}));
  };
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", cosine(1, 100));
    IndexRows(*dataset, 100);
    SnapshotAll(*store);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(101, 30, kDim)).ok());
    IndexRows(*dataset, 20);  // 10 rows stay out of the graph, and out of the vectors file
    SnapshotAll(*store);
    auto [dir, manifest] = Newest("docs");
    ASSERT_TRUE(Vectors(manifest).has_value());
    EXPECT_TRUE(Vectors(manifest)->graph_only);
    EXPECT_EQ(Vectors(manifest)->rows, 120);
    EXPECT_EQ(Vectors(manifest)->chunks.size(), 2u);
    EXPECT_EQ(fs::file_size(fs::path(dir) / Vectors(manifest)->name),
              static_cast<uintmax_t>(120 * Vectors(manifest)->row_bytes));
    ASSERT_EQ(Rows(manifest).size(), 2u);
    EXPECT_TRUE(Rows(manifest)[0].has_vectors);
    EXPECT_TRUE(Rows(manifest)[1].has_vectors);
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
  auto dataset = *store->Get("docs");
  EXPECT_EQ(dataset->index().restored_rows(), 120);
  EXPECT_EQ(IndexRows(*dataset, 100), 10);
  SearchRequest request;
  request.query.assign(kDim, 0);
  for (int j = 0; j < kDim; ++j) request.query[j] = 125.0f + j / 1000.0f;
  request.k = 1;
  auto result = SearchDataset(*dataset, request);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_GT((*result)->num_rows(), 0);
}

// Rows files of different schemas (a column added between two snapshots) load back padded to
// the newest.
TEST_F(IncrementalSnapshotTest, RowsFilesKeepTheSchemaTheirRowsWereWrittenWith) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 50, kDim));
    SnapshotAll(*store);
    auto batch = MakeVectorBatch(50, 10, kDim);
    arrow::StringBuilder notes;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(notes.Append(std::to_string(i)).ok());
    batch = *batch->AddColumn(batch->num_columns(), arrow::field("note", arrow::utf8()),
                              *notes.Finish());
    ASSERT_TRUE(store->Append(*dataset, batch).ok());
    SnapshotAll(*store);
    auto [dir, manifest] = Newest("docs");
    ASSERT_EQ(Rows(manifest).size(), 2u);
    EXPECT_EQ(Rows(manifest)[0].schema->GetFieldIndex("note"), -1);
    EXPECT_NE(Rows(manifest)[1].schema->GetFieldIndex("note"), -1);
    before = Contents(*store, "docs");
  }
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*before));
}

}  // namespace
}  // namespace arbalest
