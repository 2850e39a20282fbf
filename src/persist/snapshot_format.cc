#include "persist/snapshot_format.h"

#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/status.h>
#include <arrow/util/base64.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>

#include "persist/row_bitmap.h"
#include "persist/staging_dir.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

arrow::Result<std::string> EncodeSchema(const arrow::Schema& schema) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::ipc::SerializeSchema(schema));
  return arrow::util::base64_encode(buffer->ToString());
}

std::string Hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

Json DigestJson(const FileDigest& digest) {
  return Json{{"bytes", digest.bytes}, {"xxh3", Hex(digest.xxh3)}};
}

Json FileJson(const SnapshotFile& file) {
  Json json = DigestJson(file.digest);
  json["name"] = file.name;
  return json;
}

arrow::Result<Json> RowFilesJson(const std::vector<RowFile>& row_files) {
  Json rows = Json::array();
  for (const RowFile& row_file : row_files) {
    Json item = FileJson(row_file.file);
    item["first_row"] = row_file.first_row;
    item["rows"] = row_file.rows;
    item["vectors"] = row_file.has_vectors;
    ARROW_ASSIGN_OR_RAISE(item["schema"], EncodeSchema(*row_file.schema));
    rows.push_back(std::move(item));
  }
  return rows;
}

Json VectorsJson(const VectorsFile& vectors) {
  Json chunks = Json::array();
  for (const FileDigest& chunk : vectors.chunks) chunks.push_back(DigestJson(chunk));
  return {{"name", vectors.name},
          {"rows", vectors.rows},
          {"row_bytes", vectors.row_bytes},
          {"holds", vectors.graph_only ? "graph" : "rows"},
          {"chunks", std::move(chunks)}};
}

arrow::Result<Json> SegmentsJson(const SnapshotManifest& manifest) {
  Json segments = Json::array();
  for (const SegmentGraphFile& segment : manifest.segments) {
    Json item = {{"first_row", segment.first_row},
                 {"rows", segment.rows},
                 {"linked_rows", segment.linked_rows},
                 {"graph", FileJson(segment.graph)}};
    if (segment.id < 0) {  // version 3
      item["vectors_row"] = segment.vectors_row;
    } else {
      item["id"] = segment.id;
      ARROW_ASSIGN_OR_RAISE(Json rows, RowFilesJson(segment.row_files));
      Json files = {{"rows", std::move(rows)}};
      if (segment.vectors) files["vectors"] = VectorsJson(*segment.vectors);
      if (segment.deleted && manifest.format_version() >= kSegmentDeletedFormatVersion) {
        files["deleted"] = FileJson(*segment.deleted);
        files["deleted"]["rows"] = segment.deleted_rows;
      }
      item["files"] = std::move(files);
    }
    segments.push_back(std::move(item));
  }
  return segments;
}

arrow::Result<Json> FilesJson(const SnapshotManifest& manifest) {
  Json files = Json::object();
  if (manifest.segments.empty()) files["index"] = FileJson(manifest.graph);
  if (manifest.tombstones) files["tombstones"] = FileJson(*manifest.tombstones);
  if (manifest.edges) files["edges"] = FileJson(*manifest.edges);
  if (manifest.data) {
    files["data"] = FileJson(*manifest.data);
    return files;
  }
  if (manifest.format_version() >= kSegmentFilesFormatVersion) return files;  // in the segments
  ARROW_ASSIGN_OR_RAISE(files["rows"], RowFilesJson(manifest.row_files));
  if (manifest.vectors) files["vectors"] = VectorsJson(*manifest.vectors);
  return files;
}

// Reads the keys of one manifest, naming the manifest file and the key in every error.
class ManifestReader {
 public:
  explicit ManifestReader(std::string path) : path_(std::move(path)) {}

  arrow::Status Bad(std::string_view key, std::string_view why) const {
    return arrow::Status::Invalid("snapshot manifest ", path_, ": '", key, "' ", why);
  }

  arrow::Result<const Json*> Get(const Json& object, std::string_view key) const {
    auto it = object.find(key);
    if (it == object.end()) return Bad(key, "is missing");
    return &*it;
  }

  arrow::Result<uint64_t> UInt(const Json& object, std::string_view key) const {
    ARROW_ASSIGN_OR_RAISE(const Json* value, Get(object, key));
    if (!value->is_number_unsigned()) return Bad(key, "must be a non-negative integer");
    return value->get<uint64_t>();
  }

  arrow::Result<std::string> String(const Json& object, std::string_view key) const {
    ARROW_ASSIGN_OR_RAISE(const Json* value, Get(object, key));
    if (!value->is_string()) return Bad(key, "must be a string");
    return value->get<std::string>();
  }

  arrow::Result<std::shared_ptr<arrow::Schema>> Schema(const Json& object,
                                                       std::string_view key) const {
    ARROW_ASSIGN_OR_RAISE(std::string text, String(object, key));
    auto bytes = arrow::util::base64_decode(text);
    if (!bytes.ok()) return Bad(key, "is not base64");
    arrow::io::BufferReader input(arrow::Buffer::FromString(std::move(*bytes)));
    arrow::ipc::DictionaryMemo memo;
    auto schema = arrow::ipc::ReadSchema(&input, &memo);
    if (!schema.ok()) return Bad(key, "is not an Arrow IPC schema: " + schema.status().message());
    return *schema;
  }

  arrow::Result<SnapshotFile> File(const Json& files, std::string_view key) const {
    ARROW_ASSIGN_OR_RAISE(const Json* file, Get(files, key));
    if (!file->is_object()) return Bad(key, "must be an object");
    return FileOf(*file);
  }

  arrow::Result<SnapshotFile> FileOf(const Json& file) const {
    SnapshotFile result;
    ARROW_ASSIGN_OR_RAISE(result.name, PlainName(file));
    ARROW_ASSIGN_OR_RAISE(result.digest, Digest(file));
    return result;
  }

  arrow::Result<std::string> PlainName(const Json& file) const {
    ARROW_ASSIGN_OR_RAISE(std::string name, String(file, "name"));
    if (name.empty() || name.find('/') != std::string::npos || name == "..") {
      return Bad("name", "must be a plain file name");
    }
    return name;
  }

  arrow::Result<FileDigest> Digest(const Json& object) const {
    FileDigest digest;
    ARROW_ASSIGN_OR_RAISE(uint64_t bytes, UInt(object, "bytes"));
    digest.bytes = static_cast<int64_t>(bytes);
    ARROW_ASSIGN_OR_RAISE(std::string hex, String(object, "xxh3"));
    auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), digest.xxh3, 16);
    if (ec != std::errc() || ptr != hex.data() + hex.size()) {
      return Bad("xxh3", "must be a hexadecimal checksum");
    }
    return digest;
  }

  // The "rows" list: rows files covering rows 0 .. `rows`-1 in order.
  arrow::Result<std::vector<RowFile>> RowFiles(const Json& files, int64_t rows) const {
    ARROW_ASSIGN_OR_RAISE(const Json* list, Get(files, "rows"));
    if (!list->is_array()) return Bad("rows", "must be a list");
    std::vector<RowFile> result;
    int64_t next = 0;
    for (const Json& item : *list) {
      if (!item.is_object()) return Bad("rows", "must be a list of objects");
      RowFile row_file;
      ARROW_ASSIGN_OR_RAISE(row_file.file, FileOf(item));
      ARROW_ASSIGN_OR_RAISE(uint64_t first, UInt(item, "first_row"));
      ARROW_ASSIGN_OR_RAISE(uint64_t count, UInt(item, "rows"));
      if (static_cast<int64_t>(first) != next) {
        return Bad("first_row", "of " + row_file.file.name + " is " + std::to_string(first) +
                                    ", the file before ends at row " + std::to_string(next));
      }
      ARROW_ASSIGN_OR_RAISE(const Json* vectors, Get(item, "vectors"));
      if (!vectors->is_boolean()) return Bad("vectors", "must be true or false");
      row_file.has_vectors = vectors->get<bool>();
      ARROW_ASSIGN_OR_RAISE(row_file.schema, Schema(item, "schema"));
      row_file.first_row = static_cast<int64_t>(first);
      row_file.rows = static_cast<int64_t>(count);
      next += row_file.rows;
      result.push_back(std::move(row_file));
    }
    if (next != rows) {
      return Bad("rows", "files hold " + std::to_string(next) + " rows, the snapshot " +
                             std::to_string(rows));
    }
    return result;
  }

  arrow::Result<int64_t> Count(const Json& object, std::string_view key) const {
    ARROW_ASSIGN_OR_RAISE(uint64_t value, UInt(object, key));
    if (value > (uint64_t{1} << 40)) return Bad(key, "is out of range");
    return static_cast<int64_t>(value);
  }

  // The "segments" list (versions 3 and 4): segments covering rows 0 .. rows-1 in order, their
  // linked rows adding up to indexed_rows; version 3: their vectors inside the vectors file;
  // version 4: each segment's rows files covering its rows and its vectors file holding its
  // rows (or its linked rows), ids distinct.
  arrow::Result<std::vector<SegmentGraphFile>> Segments(const Json& json,
                                                        const SnapshotManifest& manifest,
                                                        uint64_t version) const {
    ARROW_ASSIGN_OR_RAISE(const Json* list, Get(json, "segments"));
    if (!list->is_array() || list->empty()) return Bad("segments", "must be a non-empty list");
    std::vector<SegmentGraphFile> result;
    int64_t next = 0;
    int64_t linked = 0;
    for (const Json& item : *list) {
      if (!item.is_object()) return Bad("segments", "must be a list of objects");
      SegmentGraphFile segment;
      ARROW_ASSIGN_OR_RAISE(segment.first_row, Count(item, "first_row"));
      ARROW_ASSIGN_OR_RAISE(segment.rows, Count(item, "rows"));
      ARROW_ASSIGN_OR_RAISE(segment.linked_rows, Count(item, "linked_rows"));
      ARROW_ASSIGN_OR_RAISE(segment.graph, File(item, "graph"));
      const std::string which =
          "segment " + std::to_string(result.size()) + " (" + segment.graph.name + ")";
      if (segment.first_row != next) {
        return Bad("first_row", "of " + which + " is " + std::to_string(segment.first_row) +
                                    ", the segment before ends at row " + std::to_string(next));
      }
      if (segment.linked_rows > segment.rows) {
        return Bad("linked_rows", "of " + which + " exceeds 'rows'");
      }
      if (version >= kSegmentFilesFormatVersion) {
        if (auto files = SegmentFiles(item, segment, result, version); !files.ok()) {
          return files.WithMessage(files.message(), " (", which, ")");
        }
      } else {
        ARROW_ASSIGN_OR_RAISE(segment.vectors_row, Count(item, "vectors_row"));
        const VectorsFile& vectors = *manifest.vectors;
        if (vectors.graph_only ? segment.vectors_row + segment.linked_rows > vectors.rows
                               : segment.vectors_row != segment.first_row) {
          return Bad("vectors_row", "of " + which + " places its vectors outside the vectors file");
        }
      }
      next += segment.rows;
      linked += segment.linked_rows;
      result.push_back(std::move(segment));
    }
    if (next != manifest.rows || linked != manifest.indexed_rows) {
      return Bad("segments", "hold " + std::to_string(next) + " rows, " + std::to_string(linked) +
                                 " linked; the snapshot " + std::to_string(manifest.rows) + ", " +
                                 std::to_string(manifest.indexed_rows));
    }
    return result;
  }

  // A version-4 or 5 segment's id, rows files (local rows 0 .. rows-1) and vectors file, and
  // (version 5) its deleted-rows file.
  arrow::Status SegmentFiles(const Json& item, SegmentGraphFile& segment,
                             const std::vector<SegmentGraphFile>& before, uint64_t version) const {
    ARROW_ASSIGN_OR_RAISE(segment.id, Count(item, "id"));
    for (const SegmentGraphFile& other : before) {
      if (other.id == segment.id) return Bad("id", "is also that of " + other.graph.name);
    }
    ARROW_ASSIGN_OR_RAISE(const Json* files, Get(item, "files"));
    if (!files->is_object()) return Bad("files", "must be an object");
    ARROW_ASSIGN_OR_RAISE(segment.row_files, RowFiles(*files, segment.rows));
    ARROW_ASSIGN_OR_RAISE(segment.vectors, Vectors(*files));
    const VectorsFile& vectors = *segment.vectors;
    if (vectors.rows != (vectors.graph_only ? segment.linked_rows : segment.rows)) {
      return Bad("vectors", "holds " + std::to_string(vectors.rows) + " rows, the segment " +
                                std::to_string(segment.rows) + " (" +
                                std::to_string(segment.linked_rows) + " linked)");
    }
    for (const RowFile& row_file : segment.row_files) {
      if (!row_file.has_vectors && vectors.graph_only) {
        return Bad("rows", "file " + row_file.file.name +
                               " has no vectors and the vectors file holds only linked rows");
      }
    }
    if (version >= kSegmentDeletedFormatVersion && files->contains("deleted")) {
      ARROW_ASSIGN_OR_RAISE(segment.deleted, File(*files, "deleted"));
      ARROW_ASSIGN_OR_RAISE(segment.deleted_rows, Count(files->at("deleted"), "rows"));
      if (segment.deleted_rows == 0 || segment.deleted_rows > segment.rows) {
        return Bad("rows", "of the deleted-rows file " + segment.deleted->name + " is " +
                               std::to_string(segment.deleted_rows) + ", the segment has " +
                               std::to_string(segment.rows) + " rows");
      }
    }
    return arrow::Status::OK();
  }

  arrow::Result<VectorsFile> Vectors(const Json& files) const {
    ARROW_ASSIGN_OR_RAISE(const Json* object, Get(files, "vectors"));
    if (!object->is_object()) return Bad("vectors", "must be an object");
    VectorsFile vectors;
    ARROW_ASSIGN_OR_RAISE(vectors.name, PlainName(*object));
    ARROW_ASSIGN_OR_RAISE(uint64_t rows, UInt(*object, "rows"));
    ARROW_ASSIGN_OR_RAISE(uint64_t row_bytes, UInt(*object, "row_bytes"));
    if (row_bytes == 0 || row_bytes > (uint64_t{1} << 20) || rows > (uint64_t{1} << 40)) {
      return Bad("row_bytes", "or 'rows' of the vectors file is out of range");
    }
    vectors.rows = static_cast<int64_t>(rows);
    vectors.row_bytes = static_cast<int64_t>(row_bytes);
    ARROW_ASSIGN_OR_RAISE(std::string holds, String(*object, "holds"));
    if (holds != "rows" && holds != "graph") return Bad("holds", "must be \"rows\" or \"graph\"");
    vectors.graph_only = holds == "graph";
    ARROW_ASSIGN_OR_RAISE(const Json* chunks, Get(*object, "chunks"));
    if (!chunks->is_array()) return Bad("chunks", "must be a list");
    int64_t bytes = 0;
    for (const Json& chunk : *chunks) {
      if (!chunk.is_object()) return Bad("chunks", "must be a list of objects");
      ARROW_ASSIGN_OR_RAISE(FileDigest digest, Digest(chunk));
      bytes += digest.bytes;
      vectors.chunks.push_back(digest);
    }
    if (bytes != vectors.bytes()) {
      return Bad("chunks", "of the vectors file hold " + std::to_string(bytes) + " bytes, not " +
                               std::to_string(vectors.bytes()));
    }
    return vectors;
  }

 private:
  const std::string path_;
};

// A dataset name as a file name: the '/' of "namespace/name" is written '~', which dataset
// names cannot hold.
std::string FileNameOf(std::string_view dataset) {
  std::string name(dataset);
  std::replace(name.begin(), name.end(), '/', '~');
  return name;
}

std::string DatasetOf(std::string name) {
  std::replace(name.begin(), name.end(), '~', '/');
  return name;
}

}  // namespace

std::string SnapshotDirName(std::string_view dataset, uint64_t lsn, int64_t indexed_rows,
                            uint64_t layout) {
  std::string name =
      FileNameOf(dataset) + "@" + std::to_string(lsn) + "-" + std::to_string(indexed_rows);
  if (layout > 0) name += "-" + std::to_string(layout);
  return name;
}

std::string SnapshotStagingName(std::string_view dataset) {
  return FileNameOf(dataset) + "@staging" + std::string(kStagingSuffix);
}

arrow::Result<SnapshotListing> ListSnapshotDirs(const std::string& root) {
  SnapshotListing listing;
  std::error_code error;
  if (!fs::exists(root, error)) return listing;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kTrashSuffix)) {
      listing.trash.push_back(entry.path().string());
      continue;
    }
    const size_t at = name.rfind('@');
    if (at == std::string::npos || at == 0) continue;
    if (name.ends_with(kStagingSuffix)) {
      listing.staging.push_back(entry.path().string());
      continue;
    }
    const char* end = name.data() + name.size();
    SnapshotDirEntry snapshot{DatasetOf(name.substr(0, at)), 0, 0, entry.path().string()};
    auto lsn = std::from_chars(name.data() + at + 1, end, snapshot.lsn);
    if (lsn.ec != std::errc() || lsn.ptr == end || *lsn.ptr != '-') continue;
    auto rows = std::from_chars(lsn.ptr + 1, end, snapshot.indexed_rows);
    if (rows.ec != std::errc()) continue;
    if (rows.ptr != end) {  // "-<layout>" (version 5 names after a merge or a compaction)
      if (*rows.ptr != '-') continue;
      auto layout = std::from_chars(rows.ptr + 1, end, snapshot.layout);
      if (layout.ec != std::errc() || layout.ptr != end) continue;
    }
    listing.complete.push_back(std::move(snapshot));
  }
  if (error) return arrow::Status::IOError("cannot list ", root, ": ", error.message());
  std::sort(listing.complete.begin(), listing.complete.end(), [](const auto& a, const auto& b) {
    return std::tie(a.dataset, a.lsn, a.layout, a.indexed_rows) <
           std::tie(b.dataset, b.lsn, b.layout, b.indexed_rows);
  });
  return listing;
}

std::string RowFileName(uint64_t generation, int64_t first_row, int64_t rows) {
  return "rows-" + std::to_string(generation) + "-" + std::to_string(first_row) + "-" +
         std::to_string(rows) + ".parquet";
}

std::string SegmentRowsFileName(int64_t id, int64_t first_row, int64_t rows) {
  return "seg-" + std::to_string(id) + "-rows-" + std::to_string(first_row) + "-" +
         std::to_string(rows) + ".parquet";
}

std::string SegmentVectorsFileName(int64_t id) {
  return "seg-" + std::to_string(id) + "-vectors.bin";
}

std::string SegmentDeletedFileName(int64_t id, int64_t deleted_rows) {
  return "seg-" + std::to_string(id) + "-deleted-" + std::to_string(deleted_rows) + ".roaring";
}

std::string SegmentGraphFileName(int64_t id, int64_t linked_rows) {
  return "seg-" + std::to_string(id) + "-graph-" + std::to_string(linked_rows) + ".hnsw";
}

std::vector<SegmentGraphFile> GraphSegments(const SnapshotManifest& manifest) {
  if (!manifest.segments.empty()) return manifest.segments;
  return {SegmentGraphFile{0, manifest.rows, manifest.indexed_rows, 0, manifest.graph}};
}

std::string GraphFileName(int64_t number) { return "graph-" + std::to_string(number) + ".hnsw"; }

std::optional<int64_t> GraphFileNumber(std::string_view name) {
  constexpr std::string_view kPrefix = "graph-", kSuffix = ".hnsw";
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return number;
}

std::string VectorsFileName(uint64_t generation) {
  return "vectors-" + std::to_string(generation) + ".bin";
}

arrow::Status WriteManifest(const SnapshotManifest& manifest, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(std::string put_schema, EncodeSchema(*manifest.put_schema));
  ARROW_ASSIGN_OR_RAISE(std::string schema, EncodeSchema(*manifest.schema));
  ARROW_ASSIGN_OR_RAISE(Json files, FilesJson(manifest));
  Json json = {{"format_version", manifest.format_version()},
               {"dataset", manifest.dataset},
               {"lsn", manifest.lsn},
               {"created_lsn", manifest.created_lsn},
               {"rows", manifest.rows},
               {"indexed_rows", manifest.indexed_rows},
               {"put_schema", std::move(put_schema)},
               {"schema", std::move(schema)},
               {"index", manifest.index},
               {"files", std::move(files)}};
  const int version = manifest.format_version();
  if (version == kOneGraphSnapshotFormatVersion || version == kSegmentGraphsFormatVersion) {
    json["generation"] = manifest.generation;
  }
  if (!manifest.segments.empty()) {
    ARROW_ASSIGN_OR_RAISE(json["segments"], SegmentsJson(manifest));
  }
  if (version >= kSegmentDeletedFormatVersion) json["layout"] = manifest.layout;
  if (version >= kSnapshotFormatVersion) {
    Json keys = {{"next", manifest.next_key.value_or(static_cast<uint64_t>(manifest.rows))},
                 {"gone", manifest.gone_keys ? manifest.gone_key_count : 0}};
    if (manifest.gone_keys) keys["file"] = FileJson(*manifest.gone_keys);
    json["keys"] = std::move(keys);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << json.dump(2) << '\n';
  out.close();
  if (!out) return arrow::Status::IOError("cannot write ", path);
  return arrow::Status::OK();
}

arrow::Result<SnapshotManifest> ReadManifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifestFile).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read snapshot manifest ", path);
  std::stringstream text;
  text << in.rdbuf();
  auto json = ParseJsonObject(text.str(), "snapshot manifest " + path);
  if (!json.ok()) return json.status().WithMessage(json.status().message(), " (truncated?)");
  const ManifestReader reader(path);
  ARROW_ASSIGN_OR_RAISE(uint64_t version, reader.UInt(*json, "format_version"));
  if (version < kLegacySnapshotFormatVersion || version > kSnapshotFormatVersion) {
    return reader.Bad("format_version", "is " + std::to_string(version) + "; this build reads " +
                                            std::to_string(kLegacySnapshotFormatVersion) + " to " +
                                            std::to_string(kSnapshotFormatVersion));
  }
  SnapshotManifest manifest;
  ARROW_ASSIGN_OR_RAISE(manifest.dataset, reader.String(*json, "dataset"));
  ARROW_ASSIGN_OR_RAISE(manifest.lsn, reader.UInt(*json, "lsn"));
  ARROW_ASSIGN_OR_RAISE(manifest.created_lsn, reader.UInt(*json, "created_lsn"));
  ARROW_ASSIGN_OR_RAISE(uint64_t rows, reader.UInt(*json, "rows"));
  ARROW_ASSIGN_OR_RAISE(uint64_t indexed_rows, reader.UInt(*json, "indexed_rows"));
  if (indexed_rows > rows) return reader.Bad("indexed_rows", "exceeds 'rows'");
  manifest.rows = static_cast<int64_t>(rows);
  manifest.indexed_rows = static_cast<int64_t>(indexed_rows);
  ARROW_ASSIGN_OR_RAISE(manifest.put_schema, reader.Schema(*json, "put_schema"));
  ARROW_ASSIGN_OR_RAISE(manifest.schema, reader.Schema(*json, "schema"));
  ARROW_ASSIGN_OR_RAISE(const Json* index, reader.Get(*json, "index"));
  manifest.index = *index;
  ARROW_ASSIGN_OR_RAISE(const Json* files, reader.Get(*json, "files"));
  if (!files->is_object()) return reader.Bad("files", "must be an object");
  if (version == kLegacySnapshotFormatVersion) {
    ARROW_ASSIGN_OR_RAISE(manifest.data, reader.File(*files, "data"));
  } else if (version < kSegmentFilesFormatVersion) {
    ARROW_ASSIGN_OR_RAISE(manifest.generation, reader.UInt(*json, "generation"));
    ARROW_ASSIGN_OR_RAISE(manifest.row_files, reader.RowFiles(*files, manifest.rows));
    if (files->contains("vectors")) {
      ARROW_ASSIGN_OR_RAISE(manifest.vectors, reader.Vectors(*files));
      const VectorsFile& vectors = *manifest.vectors;
      // Version 3's vectors file of graph rows may hold unused copies: its segments say where.
      const bool one_graph = version == kOneGraphSnapshotFormatVersion;
      if (vectors.graph_only
              ? one_graph && (vectors.rows < manifest.indexed_rows || vectors.rows > manifest.rows)
              : vectors.rows != manifest.rows) {
        return reader.Bad("vectors", "holds " + std::to_string(vectors.rows) +
                                         " rows, the snapshot " + std::to_string(manifest.rows) +
                                         " (" + std::to_string(manifest.indexed_rows) +
                                         " in the graph)");
      }
    }
    for (const RowFile& row_file : manifest.row_files) {
      if (!row_file.has_vectors && (!manifest.vectors || manifest.vectors->graph_only)) {
        return reader.Bad("rows", "file " + row_file.file.name +
                                      " has no vectors and no vectors file holds every row");
      }
    }
  }
  if (version == kSegmentGraphsFormatVersion && !manifest.vectors) {
    return reader.Bad("vectors", "is missing");
  }
  if (version >= kSegmentFilesFormatVersion) {
    manifest.segment_files_version = static_cast<int>(version);
  }
  if (version >= kSnapshotFormatVersion) {
    ARROW_ASSIGN_OR_RAISE(const Json* keys, reader.Get(*json, "keys"));
    if (!keys->is_object()) return reader.Bad("keys", "must be an object");
    ARROW_ASSIGN_OR_RAISE(manifest.next_key, reader.UInt(*keys, "next"));
    ARROW_ASSIGN_OR_RAISE(manifest.gone_key_count, reader.UInt(*keys, "gone"));
    if (*manifest.next_key != rows + manifest.gone_key_count) {
      return reader.Bad("keys", "says the next key is " + std::to_string(*manifest.next_key) +
                                    ", but 'rows' + 'gone' is " +
                                    std::to_string(rows + manifest.gone_key_count));
    }
    if (*manifest.next_key > (uint64_t{1} << 32)) return reader.Bad("keys", "pass 2^32");
    if (manifest.gone_key_count > 0) {
      ARROW_ASSIGN_OR_RAISE(manifest.gone_keys, reader.File(*keys, "file"));
    } else if (keys->contains("file")) {
      return reader.Bad("keys", "name a file of no gone keys");
    }
  }
  if (version >= kSegmentDeletedFormatVersion) {
    ARROW_ASSIGN_OR_RAISE(manifest.layout, reader.UInt(*json, "layout"));
    if (files->contains("tombstones")) {
      return reader.Bad("tombstones",
                        "belongs to versions 1 to 4; versions 5 and 6 keep each "
                        "segment's deleted rows in its own file");
    }
  }
  if (version >= kSegmentGraphsFormatVersion) {
    ARROW_ASSIGN_OR_RAISE(manifest.segments, reader.Segments(*json, manifest, version));
  } else {
    ARROW_ASSIGN_OR_RAISE(manifest.graph, reader.File(*files, "index"));
  }
  if (files->contains("tombstones")) {
    ARROW_ASSIGN_OR_RAISE(manifest.tombstones, reader.File(*files, "tombstones"));
  }
  if (files->contains("edges")) {
    ARROW_ASSIGN_OR_RAISE(manifest.edges, reader.File(*files, "edges"));
  }
  return manifest;
}

arrow::Status WriteTombstones(const Roaring& rows, const std::string& path) {
  std::string bytes(rows.getSizeInBytes(/*portable=*/true), '\0');
  rows.write(bytes.data(), /*portable=*/true);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return arrow::Status::IOError("cannot write ", path);
  return arrow::Status::OK();
}

arrow::Result<Roaring> ReadTombstones(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read tombstones file ", path);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto rows = ReadRowBitmap(bytes);
  if (!rows.ok()) {
    return arrow::Status::Invalid("tombstones file ", path,
                                  " is damaged: ", rows.status().message());
  }
  return std::move(*rows);
}

arrow::Status VerifySnapshotFile(const std::string& dir, const SnapshotFile& file) {
  const std::string path = (fs::path(dir) / file.name).string();
  auto digest = DigestFile(path);
  if (!digest.ok()) {
    return arrow::Status::IOError("snapshot file ", path,
                                  " is missing or unreadable: ", digest.status().message());
  }
  if (digest->bytes != file.digest.bytes) {
    return arrow::Status::Invalid("snapshot file ", path, " has ", digest->bytes,
                                  " bytes, its manifest says ", file.digest.bytes, " (truncated?)");
  }
  if (digest->xxh3 != file.digest.xxh3) {
    return arrow::Status::Invalid("snapshot file ", path,
                                  " is corrupt: its checksum does not match the manifest");
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
