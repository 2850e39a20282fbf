#include "store/snapshot_rows.h"

#include <arrow/status.h>

#include <algorithm>
#include <filesystem>
#include <span>

#include "index/mapped_file.h"
#include "persist/append_file.h"
#include "persist/parquet_file.h"
#include "store/scan.h"
#include "store/segment_files.h"
#include "store/vector_sharing.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

// Row groups of about this many bytes: large enough for fast scans, small enough that writing
// one (the writer buffers a row group) and loading one (a stored batch) stay cheap.
constexpr int64_t kRowGroupBytes = int64_t{64} << 20;
constexpr int64_t kMinRowGroupRows = 1024;
constexpr int64_t kMaxRowGroupRows = int64_t{1} << 20;

int64_t RowGroupRows(const DatasetSnapshot& view, int64_t vector_bytes_left_out) {
  const int64_t row_bytes =
      view.num_rows > 0 ? std::max<int64_t>(1, view.num_bytes / view.num_rows) : 1;
  return std::clamp(kRowGroupBytes / std::max<int64_t>(1, row_bytes - vector_bytes_left_out),
                    kMinRowGroupRows, kMaxRowGroupRows);
}

std::string PathIn(const std::string& dir, std::string_view name) {
  return (fs::path(dir) / name).string();
}

}  // namespace

bool GraphStoresReceivedVectors(const Dataset& dataset) {
  const std::shared_ptr<HnswIndex> graph = dataset.index().Graphs().front().graph;
  const IndexRows& rows = graph->rows();
  return !rows.space().normalizes() && rows.rows().stride() == rows.row_bytes();
}

namespace {

// Writes dataset rows [from, to) of `view` into the rows file `name` in `dir` (padded to
// view.schema; without the vector column when `apart` is set, their vectors then appended to
// it, one chunk).
arrow::Result<RowFile> WriteRows(const DatasetSnapshot& view, int64_t from, int64_t to,
                                 int vector_column, const std::string& dir, std::string name,
                                 VectorsFile* apart, const std::function<bool()>& cancelled) {
  RowFile row_file;
  row_file.rows = to - from;
  row_file.has_vectors = apart == nullptr;
  row_file.schema = apart != nullptr ? *view.schema->RemoveField(vector_column) : view.schema;
  row_file.file.name = std::move(name);
  const std::string path = PathIn(dir, row_file.file.name);
  ARROW_ASSIGN_OR_RAISE(auto writer,
                        ParquetBatchWriter::Open(path, row_file.schema,
                                                 RowGroupRows(view, apart ? apart->row_bytes : 0)));
  std::unique_ptr<ChunkAppender> appender;
  if (apart != nullptr) {
    ARROW_ASSIGN_OR_RAISE(appender, ChunkAppender::Open(PathIn(dir, apart->name), apart->bytes()));
  }
  ARROW_RETURN_NOT_OK(ForEachRowSlice(
      view, from, to,
      [&](const std::shared_ptr<arrow::RecordBatch>& slice, int64_t) -> arrow::Status {
        if (cancelled()) return arrow::Status::Cancelled("snapshot abandoned");
        ARROW_ASSIGN_OR_RAISE(auto batch, PadToSchema(slice, view.schema));
        if (apart != nullptr) {
          const auto bytes = static_cast<size_t>(slice->num_rows() * apart->row_bytes);
          ARROW_RETURN_NOT_OK(appender->Append(
              std::span<const uint8_t>(VectorBytes(*slice, vector_column, 0), bytes)));
          ARROW_ASSIGN_OR_RAISE(batch, batch->RemoveColumn(vector_column));
        }
        return writer->Write(*batch);
      }));
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_ASSIGN_OR_RAISE(row_file.file.digest, DigestFile(path));
  if (apart != nullptr) {
    ARROW_ASSIGN_OR_RAISE(FileDigest chunk, appender->Finish());
    apart->chunks.push_back(chunk);
    apart->rows += row_file.rows;
  }
  return row_file;
}

}  // namespace

arrow::Status WriteSegmentRows(const DatasetSnapshot& view,
                               const std::vector<SegmentRowsToWrite>& writes, int vector_column,
                               const std::string& dir, SnapshotManifest* manifest,
                               const std::function<bool()>& cancelled) {
  for (const SegmentRowsToWrite& write : writes) {
    const SegmentView& segment = view.segments[write.segment];
    SegmentGraphFile& files = manifest->segments[write.segment];
    VectorsFile& vectors = *files.vectors;
    if (write.rows_from < segment.rows) {
      ARROW_ASSIGN_OR_RAISE(
          RowFile row_file,
          WriteRows(view, segment.first_row + write.rows_from, segment.end_row(), vector_column,
                    dir,
                    SegmentRowsFileName(files.id, write.rows_from, segment.rows - write.rows_from),
                    vectors.graph_only ? nullptr : &vectors, cancelled));
      row_file.first_row = write.rows_from;
      files.row_files.push_back(std::move(row_file));
    }
    if (vectors.graph_only) {
      ARROW_RETURN_NOT_OK(AppendGraphRows(segment, write.graph_rows_from, dir, &vectors));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<ExternalVectors> MapVectors(const std::string& dir, const VectorsFile& vectors) {
  ExternalVectors mapped;
  mapped.path = PathIn(dir, vectors.name);
  mapped.rows = static_cast<uint64_t>(vectors.rows);
  mapped.row_bytes = static_cast<size_t>(vectors.row_bytes);
  if (vectors.rows == 0) {
    if (!fs::exists(mapped.path)) {
      return arrow::Status::IOError("vectors file ", mapped.path, " is missing");
    }
    return mapped;
  }
  auto file = MappedFile::Open(mapped.path, vectors.bytes());
  if (!file.ok()) {
    return file.status().WithMessage("vectors file ", mapped.path, ": ", file.status().message());
  }
  ARROW_RETURN_NOT_OK(VerifyChunks(mapped.path, (*file)->data(), vectors.bytes(), vectors.chunks));
  mapped.data = (*file)->data();
  mapped.owner = std::move(*file);
  return mapped;
}

namespace {

// Appends the batches of one Parquet file of the snapshot to `dataset`.
arrow::Status LoadFile(const std::string& path, const std::shared_ptr<arrow::Schema>& file_schema,
                       int64_t expected_rows, int64_t first_row, const SnapshotManifest& manifest,
                       const ExternalVectors* vectors, const Roaring& deleted, Dataset& dataset) {
  ARROW_ASSIGN_OR_RAISE(ParquetBatches data, ReadParquetBatches(path, file_schema));
  if (data.num_rows != expected_rows) {
    return arrow::Status::Invalid("Parquet file ", path, " holds ", data.num_rows,
                                  " rows, its manifest says ", expected_rows);
  }
  const int vector_column = dataset.vector_column();
  const auto& vector_field = manifest.schema->field(vector_column);
  int64_t row = first_row;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(data.reader->ReadNext(&batch));
    if (!batch) break;
    if (batch->num_rows() == 0) continue;
    if (vectors != nullptr) {
      const uint8_t* first = vectors->data + static_cast<size_t>(row) * vectors->row_bytes;
      ARROW_ASSIGN_OR_RAISE(batch, batch->AddColumn(vector_column, vector_field,
                                                    VectorView(vector_field->type(), first,
                                                               batch->num_rows(), vectors->owner)));
    }
    ARROW_ASSIGN_OR_RAISE(batch, PadToSchema(batch, manifest.schema));
    row += batch->num_rows();
    ARROW_RETURN_NOT_OK(dataset.AppendRecovered(batch, manifest.lsn, Roaring(), deleted));
  }
  return arrow::Status::OK();
}

// A version-4 segment's rows file, checked against the manifest, its first row local to the
// segment (so into the segment's vectors file).
arrow::Status LoadSegmentFile(const std::string& dir, const RowFile& row_file,
                              const SnapshotManifest& manifest, const ExternalVectors* vectors,
                              const Roaring& deleted, Dataset& dataset) {
  ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, row_file.file));
  return LoadFile(PathIn(dir, row_file.file.name), row_file.schema, row_file.rows,
                  row_file.first_row, manifest, vectors, deleted, dataset);
}

}  // namespace

arrow::Status LoadRows(const std::string& dir, const SnapshotManifest& manifest,
                       const ExternalVectors* vectors,
                       const std::vector<ExternalVectors>& segment_vectors, const Roaring& deleted,
                       Dataset& dataset) {
  if (manifest.format_version() >= kSegmentFilesFormatVersion) {
    for (size_t s = 0; s < manifest.segments.size(); ++s) {
      const SegmentGraphFile& segment = manifest.segments[s];
      for (const RowFile& row_file : segment.row_files) {
        auto loaded =
            LoadSegmentFile(dir, row_file, manifest,
                            row_file.has_vectors ? nullptr : &segment_vectors[s], deleted, dataset);
        if (!loaded.ok()) {
          return loaded.WithMessage(SegmentName(s, segment), ": ", loaded.message());
        }
      }
    }
    return arrow::Status::OK();
  }
  if (manifest.data) {
    return LoadFile(PathIn(dir, manifest.data->name), manifest.schema, manifest.rows, 0, manifest,
                    nullptr, deleted, dataset);
  }
  for (const RowFile& row_file : manifest.row_files) {
    ARROW_RETURN_NOT_OK(LoadFile(PathIn(dir, row_file.file.name), row_file.schema, row_file.rows,
                                 row_file.first_row, manifest,
                                 row_file.has_vectors ? nullptr : vectors, deleted, dataset));
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
