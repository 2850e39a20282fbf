#include "store/segment_transfer.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/status.h>
#include <arrow/util/key_value_metadata.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "index/hnsw_file.h"
#include "store/scan.h"

namespace arbalest {
namespace {

enum ChunkKind : int8_t { kRows = 0, kDeleted = 1, kGraph = 2 };

constexpr const char* kRowsKey = "arbalest.segment.rows";
constexpr const char* kGraphBytesKey = "arbalest.segment.graph_bytes";

// An anonymous memory file (memfd), closed with this object; its path opens it again. The
// receiver writes a segment's graph into one and maps it, so the graph's memory is the file's.
class MemoryFile {
 public:
  static arrow::Result<std::unique_ptr<MemoryFile>> Make() {
    const int fd = ::memfd_create("arbalest-segment", MFD_CLOEXEC);
    if (fd < 0) {
      return arrow::Status::IOError("cannot create a memory file for a segment's graph: ",
                                    std::strerror(errno));
    }
    return std::unique_ptr<MemoryFile>(new MemoryFile(fd));
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }
  arrow::Status Append(const uint8_t* data, int64_t size) {
    while (size > 0) {
      const ssize_t wrote = ::write(fd_, data, static_cast<size_t>(size));
      if (wrote < 0) {
        if (errno == EINTR) continue;
        return arrow::Status::IOError("cannot write a segment's graph: ", std::strerror(errno));
      }
      data += wrote;
      size -= wrote;
    }
    return arrow::Status::OK();
  }

 private:
  explicit MemoryFile(int fd) : fd_(fd) {}
  const int fd_;
};

// One chunk: a record batch of one row whose bytes are `data`, not copied.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> Chunk(
    const std::shared_ptr<arrow::Schema>& schema, ChunkKind kind,
    std::shared_ptr<arrow::Buffer> data) {
  arrow::Int8Builder kinds;
  ARROW_RETURN_NOT_OK(kinds.Append(kind));
  ARROW_ASSIGN_OR_RAISE(auto kind_array, kinds.Finish());
  const int32_t offsets[2] = {0, static_cast<int32_t>(data->size())};
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> offsets_buffer,
                        arrow::AllocateBuffer(sizeof(offsets)));
  std::memcpy(offsets_buffer->mutable_data(), offsets, sizeof(offsets));
  auto bytes_array =
      std::make_shared<arrow::BinaryArray>(1, std::move(offsets_buffer), std::move(data));
  return arrow::RecordBatch::Make(schema, 1, {kind_array, bytes_array});
}

class ChunkReader final : public arrow::RecordBatchReader {
 public:
  ChunkReader(DatasetSnapshot view, SegmentView segment, std::unique_ptr<HnswFileStream> graph,
              Roaring deleted)
      : view_(std::move(view)),
        segment_(segment),
        graph_(std::move(graph)),
        graph_bytes_(static_cast<int64_t>(graph_->size())),
        deleted_(std::move(deleted)),
        next_row_(segment.first_row) {
    auto metadata = arrow::key_value_metadata(
        {kRowsKey, kGraphBytesKey}, {std::to_string(segment.rows), std::to_string(graph_bytes_)});
    schema_ = SegmentChunkSchema()->WithMetadata(metadata);
    const int64_t row_bytes =
        view_.num_rows > 0 ? std::max<int64_t>(1, view_.num_bytes / view_.num_rows) : 1;
    rows_per_chunk_ = std::max<int64_t>(1, kSegmentChunkBytes / row_bytes);
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (next_row_ < segment_.end_row()) return NextRows(out);
    if (!deleted_sent_) {
      deleted_sent_ = true;
      std::string bytes(deleted_.getSizeInBytes(/*portable=*/true), '\0');
      deleted_.write(bytes.data(), /*portable=*/true);
      ARROW_ASSIGN_OR_RAISE(*out,
                            Chunk(schema_, kDeleted, arrow::Buffer::FromString(std::move(bytes))));
      return arrow::Status::OK();
    }
    if (graph_offset_ < graph_bytes_) {
      const int64_t size = std::min(kSegmentChunkBytes, graph_bytes_ - graph_offset_);
      ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> buffer, arrow::AllocateBuffer(size));
      ARROW_RETURN_NOT_OK(graph_->ReadAt(static_cast<uint64_t>(graph_offset_),
                                         {buffer->mutable_data(), static_cast<size_t>(size)}));
      graph_offset_ += size;
      ARROW_ASSIGN_OR_RAISE(*out, Chunk(schema_, kGraph, std::move(buffer)));
    }
    return arrow::Status::OK();
  }

 private:
  // The next rows of the segment, at most rows_per_chunk_, as one IPC stream.
  arrow::Status NextRows(std::shared_ptr<arrow::RecordBatch>* out) {
    const int64_t end = std::min(segment_.end_row(), next_row_ + rows_per_chunk_);
    ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, view_.schema));
    ARROW_RETURN_NOT_OK(ForEachRowSlice(
        view_, next_row_, end,
        [&](const std::shared_ptr<arrow::RecordBatch>& slice, int64_t) -> arrow::Status {
          ARROW_ASSIGN_OR_RAISE(auto padded, PadToSchema(slice, view_.schema));
          return writer->WriteRecordBatch(*padded);
        }));
    ARROW_RETURN_NOT_OK(writer->Close());
    ARROW_ASSIGN_OR_RAISE(auto bytes, sink->Finish());
    next_row_ = end;
    ARROW_ASSIGN_OR_RAISE(*out, Chunk(schema_, kRows, std::move(bytes)));
    return arrow::Status::OK();
  }

  const DatasetSnapshot view_;
  const SegmentView segment_;
  const std::unique_ptr<HnswFileStream> graph_;  // the graph file, made as it is read
  const int64_t graph_bytes_;
  const Roaring deleted_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t rows_per_chunk_ = 1;
  int64_t next_row_;
  bool deleted_sent_ = false;
  int64_t graph_offset_ = 0;
};

arrow::Result<int64_t> MetadataNumber(const arrow::Schema& schema, const char* key) {
  const auto& metadata = schema.metadata();
  const int index = metadata ? metadata->FindKey(key) : -1;
  if (index < 0) return arrow::Status::Invalid("a segment stream without '", key, "'");
  const std::string& value = metadata->value(index);
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || ptr != value.data() + value.size() || number < 0) {
    return arrow::Status::Invalid("a segment stream's '", key, "' is not a count: '", value, "'");
  }
  return number;
}

// Whether a sealed segment may ship whole: it has rows and its graph links every one of them.
bool FullyLinked(const SegmentView& segment) {
  return segment.rows > 0 && segment.indexed_rows >= segment.rows &&
         static_cast<int64_t>(segment.graph->size()) == segment.rows;
}

}  // namespace

std::shared_ptr<arrow::Schema> SegmentChunkSchema() {
  return arrow::schema({arrow::field("kind", arrow::int8(), /*nullable=*/false),
                        arrow::field("data", arrow::binary(), /*nullable=*/false)});
}

std::vector<SegmentRef> AdoptableSegments(const DatasetSnapshot& view) {
  std::vector<SegmentRef> segments;
  for (size_t s = 0; s + 1 < view.segments.size(); ++s) {
    const SegmentView& segment = view.segments[s];
    if (!FullyLinked(segment)) break;
    segments.push_back(SegmentRef::Of(segment));
  }
  return segments;
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> SegmentChunks(const Dataset& dataset,
                                                                       const SegmentRef& want) {
  DatasetSnapshot view = dataset.Snapshot();
  if (const SegmentView* named = SealedSegmentNamed(view.segments, want);
      named != nullptr && FullyLinked(*named)) {
    const SegmentView segment = *named;
    ARROW_ASSIGN_OR_RAISE(auto graph,
                          HnswFileStream::Open(segment.graph, VectorsPlacement::kInFile));
    Roaring deleted = segment.deleted->rows();  // local rows already
    return std::make_shared<ChunkReader>(std::move(view), segment, std::move(graph),
                                         std::move(deleted));
  }
  return arrow::Status::Invalid("dataset '", dataset.name(), "' has no sealed, linked segment of ",
                                want.rows, " rows from row ", want.first_row,
                                " (any more: a compaction or a merge replaced it)");
}

arrow::Result<ReceivedSegment> ReceiveSegment(arrow::RecordBatchReader& chunks) {
  const auto schema = chunks.schema();
  if (!schema->Equals(*SegmentChunkSchema(), /*check_metadata=*/false)) {
    return arrow::Status::Invalid("not a segment stream: its schema is ", schema->ToString());
  }
  ReceivedSegment received;
  ARROW_ASSIGN_OR_RAISE(const int64_t rows, MetadataNumber(*schema, kRowsKey));
  ARROW_ASSIGN_OR_RAISE(received.graph_bytes, MetadataNumber(*schema, kGraphBytesKey));
  ARROW_ASSIGN_OR_RAISE(auto file, MemoryFile::Make());
  int8_t last_kind = kRows;
  int64_t graph_bytes = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(chunks.ReadNext(&batch));
    if (!batch) break;
    const auto& kinds = static_cast<const arrow::Int8Array&>(*batch->column(0));
    const auto& data = static_cast<const arrow::BinaryArray&>(*batch->column(1));
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      const int8_t kind = kinds.Value(i);
      const std::string_view bytes = data.GetView(i);
      if (kind < last_kind || kind > kGraph || (kind == kDeleted && last_kind == kDeleted)) {
        return arrow::Status::Invalid("a segment stream's chunk of kind ", int{kind},
                                      " after one of kind ", int{last_kind});
      }
      last_kind = kind;
      if (kind == kRows) {
        auto input = std::make_shared<arrow::io::BufferReader>(std::make_shared<arrow::Buffer>(
            reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int64_t>(bytes.size())));
        ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(input));
        ARROW_ASSIGN_OR_RAISE(auto read, reader->ToRecordBatches());
        for (auto& rows_batch : read) {
          // Copied out of the chunk, which the stream may reuse.
          ARROW_ASSIGN_OR_RAISE(rows_batch,
                                rows_batch->CopyTo(arrow::default_cpu_memory_manager()));
          received.rows += rows_batch->num_rows();
          received.batches.push_back(std::move(rows_batch));
        }
      } else if (kind == kDeleted) {
        try {
          received.deleted = Roaring::readSafe(bytes.data(), bytes.size());
        } catch (const std::exception& error) {
          return arrow::Status::Invalid("a segment stream's deleted rows do not read: ",
                                        error.what());
        }
      } else {
        ARROW_RETURN_NOT_OK(file->Append(reinterpret_cast<const uint8_t*>(bytes.data()),
                                         static_cast<int64_t>(bytes.size())));
        graph_bytes += static_cast<int64_t>(bytes.size());
      }
    }
  }
  if (received.rows != rows || graph_bytes != received.graph_bytes) {
    return arrow::Status::Invalid("a segment stream of ", received.rows, " rows and ", graph_bytes,
                                  " graph bytes, where its schema says ", rows, " and ",
                                  received.graph_bytes);
  }
  if (!received.deleted.isEmpty() && received.deleted.maximum() >= static_cast<uint64_t>(rows)) {
    return arrow::Status::Invalid("a segment stream deletes row ", received.deleted.maximum(),
                                  " of its ", rows);
  }
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<HnswIndex> graph, HnswIndex::Load(file->path()));
  if (static_cast<int64_t>(graph->size()) != rows) {
    return arrow::Status::Invalid("a segment stream's graph holds ", graph->size(),
                                  " rows, its segment ", rows);
  }
  received.graph = std::move(graph);
  return received;
}

}  // namespace arbalest
