// Snapshot files on disk: the manifest, directory names, staging directories and checksums.
#include "persist/snapshot_format.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "damaged_bitmaps.h"
#include "persist/staging_dir.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::ReadFileText;
using testing::TempDir;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A version-1 manifest (as earlier builds wrote) for the files "data.parquet" and
// "index.hnsw" written in `dir`.
SnapshotManifest SampleManifest(const std::string& dir) {
  WriteText((fs::path(dir) / kSnapshotDataFile).string(), "rows");
  WriteText((fs::path(dir) / kSnapshotIndexFile).string(), "graph");
  SnapshotManifest manifest;
  manifest.dataset = "docs";
  manifest.lsn = 42;
  manifest.created_lsn = 3;
  manifest.rows = 10;
  manifest.indexed_rows = 7;
  manifest.put_schema =
      arrow::schema({arrow::field("vector", arrow::fixed_size_list(arrow::float16(), 4))},
                    arrow::key_value_metadata({"longbow.metric"}, {"cosine"}));
  manifest.schema =
      arrow::schema({arrow::field("id", arrow::uint64(), /*nullable=*/false),
                     arrow::field("vector", arrow::fixed_size_list(arrow::float16(), 4)),
                     arrow::field("extra", arrow::utf8())});
  manifest.index = Json{{"metric", "cosine"}, {"m", 16}};
  manifest.data = {std::string(kSnapshotDataFile),
                   *DigestFile((fs::path(dir) / kSnapshotDataFile).string())};
  manifest.graph = {std::string(kSnapshotIndexFile),
                    *DigestFile((fs::path(dir) / kSnapshotIndexFile).string())};
  return manifest;
}

TEST(SnapshotFormatTest, ManifestRoundTrips) {
  TempDir dir("arbalest_snapshot_format");
  SnapshotManifest written = SampleManifest(dir.path());
  written.tombstones = SnapshotFile{std::string(kSnapshotTombstonesFile), {8, 99}};
  ASSERT_TRUE(WriteManifest(written, dir / std::string(kManifestFile)).ok());
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->dataset, "docs");
  EXPECT_EQ(read->lsn, 42u);
  EXPECT_EQ(read->created_lsn, 3u);
  EXPECT_EQ(read->rows, 10);
  EXPECT_EQ(read->indexed_rows, 7);
  EXPECT_TRUE(read->put_schema->Equals(*written.put_schema, /*check_metadata=*/true));
  EXPECT_TRUE(read->schema->Equals(*written.schema, /*check_metadata=*/true));
  EXPECT_EQ(read->index, written.index);
  EXPECT_EQ(read->format_version(), 1);
  ASSERT_TRUE(read->data.has_value());
  EXPECT_EQ(read->data->name, written.data->name);
  EXPECT_EQ(read->data->digest, written.data->digest);
  EXPECT_EQ(read->graph.digest, written.graph.digest);
  ASSERT_TRUE(read->tombstones.has_value());
  EXPECT_EQ(read->tombstones->digest, (FileDigest{8, 99}));
  EXPECT_TRUE(VerifySnapshotFile(dir.path(), *read->data).ok());
  EXPECT_TRUE(VerifySnapshotFile(dir.path(), read->graph).ok());
}

// Writes `text` as the manifest of `dir` and reads it back: refused as Invalid, naming the
// manifest file. Returns the message.
std::string RefusedManifest(const std::string& dir, const std::string& text) {
  const std::string path = (fs::path(dir) / kManifestFile).string();
  WriteText(path, text);
  auto read = ReadManifest(dir);
  EXPECT_TRUE(read.status().IsInvalid()) << read.status().ToString();
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().message();
  return read.status().message();
}

// A version-2 manifest: rows files, a vectors file with its chunks, a generation.
SnapshotManifest SampleManifestV2(const std::string& dir) {
  SnapshotManifest manifest = SampleManifest(dir);
  manifest.data.reset();
  manifest.generation = 40;
  auto without_vectors = *manifest.schema->RemoveField(1);
  manifest.row_files = {RowFile{{RowFileName(40, 0, 6), {11, 1}}, 0, 6, false, without_vectors},
                        RowFile{{RowFileName(42, 6, 4), {12, 2}}, 6, 4, true, manifest.schema}};
  manifest.vectors = VectorsFile{VectorsFileName(40), 10, 8, false, {{48, 5}, {32, 6}}};
  return manifest;
}

TEST(SnapshotFormatTest, VersionTwoManifestRoundTrips) {
  TempDir dir("arbalest_snapshot_format");
  const SnapshotManifest written = SampleManifestV2(dir.path());
  ASSERT_TRUE(WriteManifest(written, dir / std::string(kManifestFile)).ok());
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->format_version(), 2);
  EXPECT_FALSE(read->data.has_value());
  EXPECT_EQ(read->generation, 40u);
  ASSERT_EQ(read->row_files.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(read->row_files[i].file.name, written.row_files[i].file.name);
    EXPECT_EQ(read->row_files[i].file.digest, written.row_files[i].file.digest);
    EXPECT_EQ(read->row_files[i].first_row, written.row_files[i].first_row);
    EXPECT_EQ(read->row_files[i].rows, written.row_files[i].rows);
    EXPECT_EQ(read->row_files[i].has_vectors, written.row_files[i].has_vectors);
    EXPECT_TRUE(read->row_files[i].schema->Equals(*written.row_files[i].schema));
  }
  EXPECT_EQ(read->row_files[0].file.name, "rows-40-0-6.parquet");
  ASSERT_TRUE(read->vectors.has_value());
  EXPECT_EQ(read->vectors->name, "vectors-40.bin");
  EXPECT_EQ(read->vectors->rows, 10);
  EXPECT_EQ(read->vectors->row_bytes, 8);
  EXPECT_FALSE(read->vectors->graph_only);
  EXPECT_EQ(read->vectors->chunks, written.vectors->chunks);
}

TEST(SnapshotFormatTest, InconsistentVersionTwoManifestsAreRefused) {
  TempDir dir("arbalest_snapshot_format");
  const std::string path = dir / std::string(kManifestFile);
  ASSERT_TRUE(WriteManifest(SampleManifestV2(dir.path()), path).ok());
  const Json good = Json::parse(ReadFileText(path));
  auto refused = [&](const Json& json) { return RefusedManifest(dir.path(), json.dump()); };
  Json json = good;
  json["files"]["rows"][1]["first_row"] = 5;  // a gap or an overlap
  EXPECT_NE(refused(json).find("'first_row'"), std::string::npos);
  json = good;
  json["files"]["rows"].erase(1);  // rows 6..9 in no file
  EXPECT_NE(refused(json).find("files hold 6 rows, the snapshot 10"), std::string::npos);
  json = good;
  json["files"]["vectors"]["chunks"][1]["bytes"] = 31;
  EXPECT_NE(refused(json).find("'chunks'"), std::string::npos);
  json = good;
  json["files"].erase("vectors");  // the first rows file has no vectors
  EXPECT_NE(refused(json).find("no vectors file"), std::string::npos);
  json = good;
  json["files"]["vectors"]["name"] = "../vectors";
  EXPECT_NE(refused(json).find("'name'"), std::string::npos);
  json = good;
  json["files"]["vectors"]["holds"] = "graph";  // then the rows files must hold their vectors
  EXPECT_NE(refused(json).find("no vectors file"), std::string::npos);
  json = good;
  json["files"]["vectors"]["holds"] = "graph";
  json["files"]["rows"][0]["vectors"] = true;
  json["files"]["vectors"]["rows"] = 6;  // fewer than the 7 rows in the graph
  json["files"]["vectors"]["chunks"].erase(1);
  EXPECT_NE(refused(json).find("holds 6 rows, the snapshot 10 (7 in the graph)"),
            std::string::npos);
  json["files"]["vectors"]["rows"] = 7;  // the graph's rows: fine
  json["files"]["vectors"]["chunks"][0]["bytes"] = 56;
  WriteText(path, json.dump());
  auto graph_only = ReadManifest(dir.path());
  ASSERT_TRUE(graph_only.ok()) << graph_only.status().ToString();
  EXPECT_TRUE(graph_only->vectors->graph_only);
  json = good;
  json.erase("generation");
  EXPECT_NE(refused(json).find("'generation' is missing"), std::string::npos);
}

// A version-3 manifest: version 2's files, one graph file per segment.
SnapshotManifest SampleManifestV3(const std::string& dir, bool graph_only) {
  SnapshotManifest manifest = SampleManifestV2(dir);
  manifest.segments = {SegmentGraphFile{0, 4, 4, 0, {GraphFileName(0), {100, 7}}},
                       SegmentGraphFile{4, 6, 3, 4, {GraphFileName(3), {60, 8}}}};
  if (graph_only) {
    for (RowFile& row_file : manifest.row_files) {
      row_file.has_vectors = true;
      row_file.schema = manifest.schema;
    }
    // Segment 1's rows appended afresh after an older copy of its first rows.
    manifest.vectors = VectorsFile{VectorsFileName(40), 9, 8, true, {{48, 5}, {24, 6}}};
    manifest.segments[1].vectors_row = 6;
  }
  return manifest;
}

// `written` written as the manifest of `dir`: its JSON.
Json WrittenJson(const SnapshotManifest& written, const TempDir& dir) {
  EXPECT_TRUE(WriteManifest(written, dir / std::string(kManifestFile)).ok());
  return Json::parse(ReadFileText(dir / std::string(kManifestFile)));
}

// The fields every version's segments have, read back as written.
void ExpectSameSegment(const SegmentGraphFile& got, const SegmentGraphFile& want) {
  EXPECT_EQ(got.first_row, want.first_row);
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.linked_rows, want.linked_rows);
  EXPECT_EQ(got.vectors_row, want.vectors_row);
  EXPECT_EQ(got.graph.name, want.graph.name);
  EXPECT_EQ(got.graph.digest, want.graph.digest);
  EXPECT_EQ(got.id, want.id);
}

TEST(SnapshotFormatTest, VersionThreeManifestRoundTripsItsSegments) {
  for (const bool graph_only : {false, true}) {
    TempDir dir("arbalest_snapshot_format");
    const SnapshotManifest written = SampleManifestV3(dir.path(), graph_only);
    const Json json = WrittenJson(written, dir);
    EXPECT_EQ(json["format_version"], 3);
    EXPECT_FALSE(json["files"].contains("index"));
    auto read = ReadManifest(dir.path());
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->format_version(), 3);
    ASSERT_EQ(read->segments.size(), 2u);
    for (size_t i = 0; i < 2; ++i) ExpectSameSegment(read->segments[i], written.segments[i]);
    EXPECT_EQ(GraphSegments(*read).size(), 2u);
  }
  EXPECT_EQ(GraphFileNumber(GraphFileName(17)), 17);
  EXPECT_EQ(GraphFileNumber("index.hnsw"), std::nullopt);
  EXPECT_EQ(GraphFileNumber("graph-.hnsw"), std::nullopt);
}

TEST(SnapshotFormatTest, AVersionTwoManifestReadsAsOneSegment) {
  TempDir dir("arbalest_snapshot_format");
  ASSERT_TRUE(WriteManifest(SampleManifestV2(dir.path()), dir / std::string(kManifestFile)).ok());
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  const std::vector<SegmentGraphFile> segments = GraphSegments(*read);
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].first_row, 0);
  EXPECT_EQ(segments[0].rows, 10);
  EXPECT_EQ(segments[0].linked_rows, 7);
  EXPECT_EQ(segments[0].vectors_row, 0);
  EXPECT_EQ(segments[0].graph.name, kSnapshotIndexFile);
}

TEST(SnapshotFormatTest, InconsistentSegmentsAreRefused) {
  TempDir dir("arbalest_snapshot_format");
  const std::string path = dir / std::string(kManifestFile);
  auto refused = [&](const Json& json) { return RefusedManifest(dir.path(), json.dump()); };
  ASSERT_TRUE(WriteManifest(SampleManifestV3(dir.path(), false), path).ok());
  const Json good = Json::parse(ReadFileText(path));
  Json json = good;
  json["segments"][1]["first_row"] = 5;  // a gap
  EXPECT_NE(refused(json).find("'first_row' of segment 1 (graph-3.hnsw)"), std::string::npos);
  json = good;
  json["segments"][1]["linked_rows"] = 7;  // more than its rows
  EXPECT_NE(refused(json).find("'linked_rows'"), std::string::npos);
  json = good;
  json["segments"][1]["vectors_row"] = 3;  // rows mode: vectors_row is first_row
  EXPECT_NE(refused(json).find("'vectors_row'"), std::string::npos);
  json = good;
  json["segments"].erase(1);  // rows 4..9 in no segment
  EXPECT_NE(refused(json).find("'segments' hold 4 rows, 4 linked; the snapshot 10, 7"),
            std::string::npos);
  json = good;
  json["segments"] = Json::array();
  EXPECT_NE(refused(json).find("'segments' must be a non-empty list"), std::string::npos);
  json = good;
  json["segments"][0]["graph"]["name"] = "../graph";
  EXPECT_NE(refused(json).find("'name'"), std::string::npos);
  ASSERT_TRUE(WriteManifest(SampleManifestV3(dir.path(), true), path).ok());
  json = Json::parse(ReadFileText(path));
  json["segments"][1]["vectors_row"] = 7;  // rows 7..9 of a file of 9
  EXPECT_NE(refused(json).find("'vectors_row' of segment 1"), std::string::npos);
}

// A version-4 manifest: each segment's own files, in its local numbering, named by its id.
SnapshotManifest SampleManifestV4(const std::string& dir, bool graph_only) {
  SnapshotManifest manifest = SampleManifest(dir);
  manifest.data.reset();
  auto without_vectors = *manifest.schema->RemoveField(1);
  auto rows_file = [&](int64_t id, int64_t first, int64_t rows, uint64_t xxh3) {
    return RowFile{{SegmentRowsFileName(id, first, rows), {11, xxh3}},
                   first,
                   rows,
                   graph_only,
                   graph_only ? manifest.schema : without_vectors};
  };
  SegmentGraphFile first{0, 4, 4, 0, {SegmentGraphFileName(7, 4), {100, 7}}};
  first.id = 7;
  first.row_files = {rows_file(7, 0, 4, 1)};
  first.vectors = VectorsFile{SegmentVectorsFileName(7), 4, 8, graph_only, {{32, 5}}};
  SegmentGraphFile second{4, 6, 3, 0, {SegmentGraphFileName(9, 3), {60, 8}}};
  second.id = 9;
  second.row_files = {rows_file(9, 0, 2, 2), rows_file(9, 2, 4, 3)};
  second.vectors = graph_only
                       ? VectorsFile{SegmentVectorsFileName(9), 3, 8, true, {{24, 6}}}
                       : VectorsFile{SegmentVectorsFileName(9), 6, 8, false, {{16, 6}, {32, 4}}};
  manifest.segments = {first, second};
  manifest.segment_files_version = kSegmentFilesFormatVersion;
  return manifest;
}

// A version-5 manifest: version 4's files, the second segment's deleted rows in its own file,
// and a layout generation.
SnapshotManifest SampleManifestV5(const std::string& dir) {
  SnapshotManifest manifest = SampleManifestV4(dir, false);
  manifest.segment_files_version = kSegmentDeletedFormatVersion;
  manifest.layout = 3;
  manifest.segments[1].deleted = SnapshotFile{SegmentDeletedFileName(9, 2), {20, 11}};
  manifest.segments[1].deleted_rows = 2;
  return manifest;
}

TEST(SnapshotFormatTest, VersionFiveManifestRoundTripsEachSegmentsDeletedRowsAndLayout) {
  TempDir dir("arbalest_snapshot_format");
  const SnapshotManifest written = SampleManifestV5(dir.path());
  const Json json = WrittenJson(written, dir);
  EXPECT_EQ(json["format_version"], 5);
  EXPECT_EQ(json["layout"], 3);
  EXPECT_FALSE(json["segments"][0]["files"].contains("deleted"));
  EXPECT_EQ(json["segments"][1]["files"]["deleted"]["rows"], 2);
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->format_version(), 5);
  EXPECT_EQ(read->layout, 3u);
  EXPECT_FALSE(read->tombstones.has_value());
  ASSERT_EQ(read->segments.size(), 2u);
  EXPECT_FALSE(read->segments[0].deleted.has_value());
  EXPECT_EQ(read->segments[0].deleted_rows, 0);
  ASSERT_TRUE(read->segments[1].deleted.has_value());
  EXPECT_EQ(read->segments[1].deleted->name, "seg-9-deleted-2.roaring");
  EXPECT_EQ(read->segments[1].deleted->digest, written.segments[1].deleted->digest);
  EXPECT_EQ(read->segments[1].deleted_rows, 2);
  // A version-4 manifest has neither (its deleted rows are the tombstones file).
  SnapshotManifest v4 = SampleManifestV4(dir.path(), false);
  v4.segments[1].deleted = written.segments[1].deleted;
  const Json old = WrittenJson(v4, dir);
  EXPECT_FALSE(old.contains("layout"));
  EXPECT_FALSE(old["segments"][1]["files"].contains("deleted"));
}

TEST(SnapshotFormatTest, InconsistentVersionFiveDeletedRowsAreRefused) {
  TempDir dir("arbalest_snapshot_format");
  const std::string path = dir / std::string(kManifestFile);
  ASSERT_TRUE(WriteManifest(SampleManifestV5(dir.path()), path).ok());
  const Json good = Json::parse(ReadFileText(path));
  auto refused = [&](const Json& json) { return RefusedManifest(dir.path(), json.dump()); };
  Json json = good;
  json["segments"][1]["files"]["deleted"]["rows"] = 7;  // the segment has 6
  std::string message = refused(json);
  EXPECT_NE(message.find("seg-9-deleted-2.roaring is 7, the segment has 6 rows"), std::string::npos)
      << message;
  EXPECT_NE(message.find("(segment 1 (seg-9-graph-3.hnsw))"), std::string::npos) << message;
  json = good;
  json["segments"][1]["files"]["deleted"].erase("rows");
  EXPECT_NE(refused(json).find("'rows' is missing"), std::string::npos);
  json = good;
  json["files"]["tombstones"] = {{"name", "tombstones.roaring"}, {"bytes", 8}, {"xxh3", "01"}};
  EXPECT_NE(refused(json).find("'tombstones' belongs to versions 1 to 4"), std::string::npos);
  json = good;
  json.erase("layout");
  EXPECT_NE(refused(json).find("'layout' is missing"), std::string::npos);
}

TEST(SnapshotFormatTest, VersionFourManifestRoundTripsEachSegmentsFiles) {
  for (const bool graph_only : {false, true}) {
    TempDir dir("arbalest_snapshot_format");
    const SnapshotManifest written = SampleManifestV4(dir.path(), graph_only);
    const Json json = WrittenJson(written, dir);
    EXPECT_EQ(json["format_version"], 4);
    EXPECT_FALSE(json.contains("generation"));
    EXPECT_FALSE(json["files"].contains("rows"));
    EXPECT_FALSE(json["files"].contains("vectors"));
    auto read = ReadManifest(dir.path());
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->format_version(), 4);
    EXPECT_TRUE(read->row_files.empty());
    EXPECT_FALSE(read->vectors.has_value());
    ASSERT_EQ(read->segments.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const SegmentGraphFile& got = read->segments[i];
      const SegmentGraphFile& want = written.segments[i];
      ExpectSameSegment(got, want);
      ASSERT_EQ(got.row_files.size(), want.row_files.size());
      for (size_t f = 0; f < got.row_files.size(); ++f) {
        EXPECT_EQ(got.row_files[f].file.name, want.row_files[f].file.name);
        EXPECT_EQ(got.row_files[f].first_row, want.row_files[f].first_row);
        EXPECT_EQ(got.row_files[f].rows, want.row_files[f].rows);
        EXPECT_EQ(got.row_files[f].has_vectors, want.row_files[f].has_vectors);
      }
      ASSERT_TRUE(got.vectors.has_value());
      EXPECT_EQ(got.vectors->name, want.vectors->name);
      EXPECT_EQ(got.vectors->rows, want.vectors->rows);
      EXPECT_EQ(got.vectors->graph_only, graph_only);
      EXPECT_EQ(got.vectors->chunks, want.vectors->chunks);
    }
    EXPECT_EQ(read->segments[1].row_files[1].file.name, "seg-9-rows-2-4.parquet");
    EXPECT_EQ(read->segments[1].vectors->name, "seg-9-vectors.bin");
    EXPECT_EQ(read->segments[1].graph.name, "seg-9-graph-3.hnsw");
  }
}

// A version-6 manifest: version 5's, and the dataset's row keys (the next key and the file of
// its gone keys). Inconsistent keys are refused naming the key.
TEST(SnapshotFormatTest, VersionSixManifestRoundTripsTheRowKeys) {
  TempDir dir("arbalest_snapshot_format");
  SnapshotManifest written = SampleManifestV5(dir.path());
  written.segment_files_version = kSnapshotFormatVersion;
  written.next_key = 10 + 4;  // rows + gone
  written.gone_keys = SnapshotFile{std::string(kSnapshotGoneKeysFile), {30, 12}};
  written.gone_key_count = 4;
  const Json json = WrittenJson(written, dir);
  EXPECT_EQ(json["format_version"], 6);
  EXPECT_EQ(json["keys"]["next"], 14);
  EXPECT_EQ(json["keys"]["gone"], 4);
  EXPECT_EQ(json["keys"]["file"]["name"], "gone-keys.roaring");
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->format_version(), 6);
  EXPECT_EQ(read->next_key, 14u);
  EXPECT_EQ(read->gone_key_count, 4u);
  ASSERT_TRUE(read->gone_keys.has_value());
  EXPECT_EQ(read->gone_keys->digest, written.gone_keys->digest);
  EXPECT_EQ(read->layout, 3u);
  // No gone keys: no file; the next key is the rows.
  SnapshotManifest none = SampleManifestV5(dir.path());
  none.segment_files_version = kSnapshotFormatVersion;
  none.next_key = 10;
  const Json plain = WrittenJson(none, dir);
  EXPECT_EQ(plain["keys"], Json({{"next", 10}, {"gone", 0}}));
  read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->next_key, 10u);
  EXPECT_FALSE(read->gone_keys.has_value());
  // A version-5 manifest has none (loaded as key = row).
  WrittenJson(SampleManifestV5(dir.path()), dir);
  read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->format_version(), 5);
  EXPECT_FALSE(read->next_key.has_value());
  // Bad keys.
  auto refused = [&](const Json& bad) { return RefusedManifest(dir.path(), bad.dump()); };
  Json bad = json;
  bad["keys"]["next"] = 15;
  EXPECT_NE(refused(bad).find("'keys' says the next key is 15, but 'rows' + 'gone' is 14"),
            std::string::npos);
  bad = json;
  bad["keys"].erase("file");
  EXPECT_NE(refused(bad).find("'file' is missing"), std::string::npos);
  bad = plain;
  bad["keys"]["file"] = json["keys"]["file"];
  EXPECT_NE(refused(bad).find("'keys' name a file of no gone keys"), std::string::npos);
  bad = json;
  bad.erase("keys");
  EXPECT_NE(refused(bad).find("'keys' is missing"), std::string::npos);
  bad = json;
  bad["keys"]["gone"] = -1;
  EXPECT_NE(refused(bad).find("'gone' must be a non-negative integer"), std::string::npos);
}

TEST(SnapshotFormatTest, InconsistentVersionFourSegmentsAreRefusedNamingTheSegment) {
  TempDir dir("arbalest_snapshot_format");
  const std::string path = dir / std::string(kManifestFile);
  auto refused = [&](const Json& json) { return RefusedManifest(dir.path(), json.dump()); };
  ASSERT_TRUE(WriteManifest(SampleManifestV4(dir.path(), false), path).ok());
  const Json good = Json::parse(ReadFileText(path));
  const std::string segment_1 = "(segment 1 (seg-9-graph-3.hnsw))";
  Json json = good;
  json["segments"][1]["files"]["rows"][1]["rows"] = 3;  // local rows 0..4 of 6
  std::string message = refused(json);
  EXPECT_NE(message.find("'rows' files hold 5 rows, the snapshot 6"), std::string::npos);
  EXPECT_NE(message.find(segment_1), std::string::npos) << message;
  json = good;
  json["segments"][1]["files"]["rows"][1]["first_row"] = 4;  // local numbering: a gap
  EXPECT_NE(refused(json).find("'first_row' of seg-9-rows-2-4.parquet is 4"), std::string::npos);
  json = good;
  json["segments"][1]["files"]["vectors"]["rows"] = 5;  // fewer than its rows
  json["segments"][1]["files"]["vectors"]["chunks"] =
      Json::array({{{"bytes", 40}, {"xxh3", "0000000000000004"}}});
  message = refused(json);
  EXPECT_NE(message.find("'vectors' holds 5 rows, the segment 6 (3 linked)"), std::string::npos);
  EXPECT_NE(message.find(segment_1), std::string::npos) << message;
  json = good;
  json["segments"][1]["files"].erase("vectors");
  EXPECT_NE(refused(json).find("'vectors' is missing " + segment_1), std::string::npos);
  json = good;
  json["segments"][1]["id"] = 7;  // segment 0's
  EXPECT_NE(refused(json).find("'id' is also that of seg-7-graph-4.hnsw"), std::string::npos);
  json = good;
  json["segments"][1]["files"]["vectors"]["holds"] = "graph";  // its rows files lack vectors
  json["segments"][1]["files"]["vectors"]["rows"] = 3;
  json["segments"][1]["files"]["vectors"]["chunks"] =
      Json::array({{{"bytes", 24}, {"xxh3", "0000000000000004"}}});
  EXPECT_NE(refused(json).find("has no vectors and the vectors file holds only linked rows"),
            std::string::npos);
}

TEST(SnapshotFormatTest, DamagedManifestsAreRefusedNamingTheFileAndKey) {
  TempDir dir("arbalest_snapshot_format");
  const std::string path = dir / std::string(kManifestFile);
  ASSERT_TRUE(WriteManifest(SampleManifest(dir.path()), path).ok());
  const std::string good = ReadFileText(path);

  auto refused = [&](const std::string& text) {
    WriteText(path, text);
    auto read = ReadManifest(dir.path());
    EXPECT_FALSE(read.ok());
    EXPECT_TRUE(read.status().IsInvalid()) << read.status().ToString();
    EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().message();
    return read.status().message();
  };
  EXPECT_NE(refused(good.substr(0, good.size() / 2)).find("truncated"), std::string::npos);
  Json json = Json::parse(good);
  json["format_version"] = 7;
  EXPECT_NE(refused(json.dump()).find("'format_version' is 7"), std::string::npos);
  json = Json::parse(good);
  json.erase("lsn");
  EXPECT_NE(refused(json.dump()).find("'lsn' is missing"), std::string::npos);
  json = Json::parse(good);
  json["schema"] = "not base64!";
  EXPECT_NE(refused(json.dump()).find("'schema'"), std::string::npos);
  json = Json::parse(good);
  json["files"]["data"]["name"] = "../escape";
  EXPECT_NE(refused(json.dump()).find("'name'"), std::string::npos);
  json = Json::parse(good);
  json["indexed_rows"] = 11;
  EXPECT_NE(refused(json.dump()).find("'indexed_rows' exceeds"), std::string::npos);

  fs::remove(path);
  auto missing = ReadManifest(dir.path());
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(SnapshotFormatTest, VerifyNamesMissingTruncatedAndCorruptFiles) {
  TempDir dir("arbalest_snapshot_format");
  const SnapshotManifest manifest = SampleManifest(dir.path());
  const std::string data = dir / std::string(kSnapshotDataFile);

  WriteText(data, "ro");
  arrow::Status status = VerifySnapshotFile(dir.path(), *manifest.data);
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find(data), std::string::npos);
  EXPECT_NE(status.message().find("truncated"), std::string::npos);

  WriteText(data, "rowz");
  status = VerifySnapshotFile(dir.path(), *manifest.data);
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("checksum"), std::string::npos);

  fs::remove(data);
  status = VerifySnapshotFile(dir.path(), *manifest.data);
  EXPECT_TRUE(status.IsIOError());
  EXPECT_NE(status.message().find(data), std::string::npos);
}

TEST(SnapshotFormatTest, ListingSortsSnapshotsAndSetsStagingApart) {
  TempDir dir("arbalest_snapshot_format");
  for (const char* name :
       {"b@9-3", "a.x@12-0", "b@9-10", "b@10-1", "b@staging.tmp", "c@1-1.tmp", "junk", "d@x-1",
        "e@5", "@5-1", "b@9-10-2", "b@9-10-1", "b@9-4-3", "g@1-1-", "g@1-1-x", "g@1-1-2-3"}) {
    fs::create_directories(dir.path() / name);
  }
  WriteText(dir / "f@1-1", "a file, not a snapshot");
  auto listing = ListSnapshotDirs(dir.path());
  ASSERT_TRUE(listing.ok());
  std::vector<std::string> names;
  for (const auto& entry : listing->complete) {
    names.push_back(entry.dataset + " " + std::to_string(entry.lsn) + " " +
                    std::to_string(entry.indexed_rows) + " " + std::to_string(entry.layout));
    EXPECT_EQ(entry.path, (dir.path() / SnapshotDirName(entry.dataset, entry.lsn,
                                                        entry.indexed_rows, entry.layout))
                              .string());
  }
  // A layout generation (after a merge or a compaction, which logs nothing) makes a snapshot
  // of the same LSN newer, whatever its graph rows (a compaction lowers them).
  EXPECT_EQ(names, (std::vector<std::string>{"a.x 12 0 0", "b 9 3 0", "b 9 10 0", "b 9 10 1",
                                             "b 9 10 2", "b 9 4 3", "b 10 1 0"}));
  std::sort(listing->staging.begin(), listing->staging.end());
  EXPECT_EQ(listing->staging, (std::vector<std::string>{dir / "b@staging.tmp", dir / "c@1-1.tmp"}));
  EXPECT_TRUE(ListSnapshotDirs(dir / "absent")->complete.empty());
}

TEST(StagingDirTest, CommitRenamesIntoPlaceAndAbandonedStagingIsRemoved) {
  TempDir dir("arbalest_staging");
  {
    auto staging = *StagingDir::Create(dir / SnapshotStagingName("ds"));
    WriteText(staging->FilePath("file"), "payload");
    ASSERT_TRUE(staging->Commit(dir / "ds@1-0").ok());
  }
  EXPECT_EQ(ReadFileText(dir / "ds@1-0/file"), "payload");
  EXPECT_FALSE(fs::exists(dir / SnapshotStagingName("ds")));
  {
    auto staging = *StagingDir::Create(dir / SnapshotStagingName("ds"));
    WriteText(staging->FilePath("file"), "other");
    arrow::Status status = staging->Commit(dir / "ds@1-0");  // exists: never replaced
    EXPECT_TRUE(status.IsIOError());
    EXPECT_NE(status.message().find("exists"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir / SnapshotStagingName("ds")));
  EXPECT_EQ(ReadFileText(dir / "ds@1-0/file"), "payload");
  // A leftover trash directory of the same name (an interrupted removal) is replaced.
  fs::create_directories(dir / "ds@1-0.trash");
  WriteText(dir / "ds@1-0.trash/old", "old");
  ASSERT_TRUE(RemoveDirectoryDurably(dir / "ds@1-0").ok());
  EXPECT_FALSE(fs::exists(dir / "ds@1-0"));
  EXPECT_FALSE(fs::exists(dir / "ds@1-0.trash"));
  EXPECT_TRUE(RemoveDirectoryDurably(dir / "absent").ok());
}

TEST(SnapshotFormatTest, ListingSeparatesSnapshotsStagingAndTrash) {
  TempDir dir("arbalest_snapshot_listing");
  for (const char* name : {"b@5-3", "a@7-0", "a@2-9", "a@staging.tmp", "a@2-1.trash", "x.trash",
                           "no-at-sign", "c@bad"}) {
    fs::create_directories(dir / name);
  }
  auto listing = ListSnapshotDirs(dir.path());
  ASSERT_TRUE(listing.ok());
  std::vector<std::string> complete;
  for (const auto& entry : listing->complete) {
    complete.push_back(entry.dataset + " " + std::to_string(entry.lsn));
  }
  EXPECT_EQ(complete, (std::vector<std::string>{"a 2", "a 7", "b 5"}));
  ASSERT_EQ(listing->staging.size(), 1u);
  EXPECT_EQ(fs::path(listing->staging[0]).filename(), "a@staging.tmp");
  std::vector<std::string> trash;
  for (const auto& path : listing->trash) trash.push_back(fs::path(path).filename());
  std::sort(trash.begin(), trash.end());
  EXPECT_EQ(trash, (std::vector<std::string>{"a@2-1.trash", "x.trash"}));
}

TEST(SnapshotFormatTest, TombstonesAreAPortableRoaringBitmap) {
  TempDir dir("arbalest_snapshot_format");
  Roaring written;
  written.add(3);
  written.add(1000000);
  std::string bytes(written.getSizeInBytes(/*portable=*/true), '\0');
  written.write(bytes.data(), /*portable=*/true);
  WriteText(dir / "t.roaring", bytes);
  auto read = ReadTombstones(dir / "t.roaring");
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(*read == written);
  WriteText(dir / "bad.roaring", "xx");
  auto bad = ReadTombstones(dir / "bad.roaring");
  EXPECT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.status().message().find(dir / "bad.roaring"), std::string::npos);
  // Found by fuzz_tombstones: a bitmap whose count disagrees with its rows was accepted.
  WriteText(dir / "miscounted.roaring", testing::MiscountedBitsetBitmap());
  auto miscounted = ReadTombstones(dir / "miscounted.roaring");
  EXPECT_TRUE(miscounted.status().IsInvalid()) << miscounted.status().ToString();
  EXPECT_NE(miscounted.status().message().find("is damaged"), std::string::npos);
}

TEST(SnapshotFormatTest, EdgesFileIsRecordedWhenPresentAndOptional) {
  TempDir dir("arbalest_snapshot_edges");
  SnapshotManifest written = SampleManifest(dir.path());
  ASSERT_TRUE(WriteManifest(written, dir / std::string(kManifestFile)).ok());
  auto without = ReadManifest(dir.path());
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_FALSE(without->edges.has_value());  // as in manifests written before edges were
  written.edges = SnapshotFile{"edges.parquet", {12, 77}};
  ASSERT_TRUE(WriteManifest(written, dir / std::string(kManifestFile)).ok());
  auto with = ReadManifest(dir.path());
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  ASSERT_TRUE(with->edges.has_value());
  EXPECT_EQ(with->edges->name, "edges.parquet");
  EXPECT_EQ(with->edges->digest, (FileDigest{12, 77}));
}

}  // namespace
}  // namespace arbalest
