#include "store/vector_sharing.h"

#include <arrow/array.h>
#include <arrow/array/concatenate.h>
#include <arrow/buffer.h>
#include <arrow/status.h>

#include <cstring>

namespace arbalest {
namespace {

// An Arrow buffer over memory that `owner` (a graph's chunk of vectors) keeps alive.
class LentBuffer final : public arrow::Buffer {
 public:
  LentBuffer(const uint8_t* data, int64_t size, std::shared_ptr<const void> owner)
      : arrow::Buffer(data, size), owner_(std::move(owner)) {}

 private:
  std::shared_ptr<const void> owner_;
};

// `parts` concatenated into fresh buffers that hold only their rows (even for one part).
arrow::Result<std::shared_ptr<arrow::Array>> CopyOf(const arrow::ArrayVector& parts) {
  return arrow::Concatenate(parts);
}

const arrow::FixedSizeListArray& VectorColumn(const arrow::RecordBatch& batch, int column) {
  return static_cast<const arrow::FixedSizeListArray&>(*batch.column(column));
}

// True when the rows of `pieces`, back to back, hold exactly the bytes at `graph` (row_bytes
// per row) and no nulls.
bool SameVectors(const arrow::RecordBatchVector& pieces, int vector_column, const uint8_t* graph,
                 size_t row_bytes) {
  for (const auto& piece : pieces) {
    const auto& list = VectorColumn(*piece, vector_column);
    if (list.null_count() > 0 || list.values()->null_count() > 0) return false;
    const size_t bytes = static_cast<size_t>(piece->num_rows()) * row_bytes;
    if (std::memcmp(VectorBytes(*piece, vector_column, 0), graph, bytes) != 0) return false;
    graph += bytes;
  }
  return true;
}

// One batch of `pieces` (rows [first, first + count) of the graph, all of one schema, within one
// of the graph's chunks): the vector column a view of the graph's rows, the others copied.
// Null when the vectors cannot be shared.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ShareSegment(
    const arrow::RecordBatchVector& pieces, int64_t first, int64_t count, int vector_column,
    const IndexRows& rows, int64_t* lent_allocated_bytes) {
  const IndexRows::LentRows lent = rows.Lend(first, static_cast<uint64_t>(count));
  const auto& list_type =
      static_cast<const arrow::FixedSizeListType&>(*pieces.front()->column(vector_column)->type());
  const size_t row_bytes = rows.row_bytes();
  if (lent.data == nullptr ||
      row_bytes !=
          static_cast<size_t>(list_type.list_size() * list_type.value_type()->byte_width()) ||
      !SameVectors(pieces, vector_column, lent.data, row_bytes)) {
    return nullptr;
  }
  const std::shared_ptr<arrow::Schema>& schema = pieces.front()->schema();
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (int c = 0; c < schema->num_fields(); ++c) {
    if (c == vector_column) {
      columns.push_back(
          VectorView(pieces.front()->column(c)->type(), lent.data, count, lent.owner));
      if (lent.allocated) *lent_allocated_bytes += static_cast<int64_t>(row_bytes) * count;
      continue;
    }
    arrow::ArrayVector parts;
    for (const auto& piece : pieces) parts.push_back(piece->column(c));
    ARROW_ASSIGN_OR_RAISE(auto copy, CopyOf(parts));
    columns.push_back(std::move(copy));
  }
  return arrow::RecordBatch::Make(schema, count, std::move(columns));
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CompactCopy(const arrow::RecordBatch& batch) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& column : batch.columns()) {
    ARROW_ASSIGN_OR_RAISE(auto copy, CopyOf({column}));
    columns.push_back(std::move(copy));
  }
  return arrow::RecordBatch::Make(batch.schema(), batch.num_rows(), std::move(columns));
}

std::shared_ptr<arrow::Array> VectorView(const std::shared_ptr<arrow::DataType>& list_type,
                                         const uint8_t* data, int64_t rows,
                                         std::shared_ptr<const void> owner) {
  const auto& type = static_cast<const arrow::FixedSizeListType&>(*list_type);
  const int64_t values = rows * type.list_size();
  auto buffer = std::make_shared<LentBuffer>(data, values * type.value_type()->byte_width(),
                                             std::move(owner));
  auto array = arrow::MakeArray(
      arrow::ArrayData::Make(type.value_type(), values, {nullptr, std::move(buffer)}, 0));
  return std::make_shared<arrow::FixedSizeListArray>(list_type, rows, std::move(array));
}

const uint8_t* VectorBytes(const arrow::RecordBatch& batch, int vector_column, int64_t row) {
  const auto& list = VectorColumn(batch, vector_column);
  const int32_t dim = list.list_type()->list_size();
  const auto& values = *list.values();
  return values.data()->buffers[1]->data() +
         (values.offset() + (list.offset() + row) * dim) * values.type()->byte_width();
}

arrow::Result<std::optional<SharedBatches>> ShareVectors(
    std::span<const std::shared_ptr<arrow::RecordBatch>> batches, int64_t first_row,
    int vector_column, const IndexRows& rows) {
  const auto chunk = static_cast<int64_t>(rows.rows_per_chunk());
  SharedBatches shared;
  size_t next = 0;          // the batch the next segment starts in
  int64_t next_skip = 0;    // rows of it already in earlier segments
  int64_t row = first_row;  // the graph row the next segment starts at
  while (next < batches.size()) {
    // A segment: rows up to the end of the graph's chunk, from batches of one schema.
    const int64_t segment_end = (row / chunk + 1) * chunk;
    const std::shared_ptr<arrow::Schema>& schema = batches[next]->schema();
    arrow::RecordBatchVector pieces;
    int64_t count = 0;
    while (next < batches.size() && row + count < segment_end &&
           (batches[next]->schema() == schema || batches[next]->schema()->Equals(*schema))) {
      const auto& batch = batches[next];
      const int64_t take = std::min(batch->num_rows() - next_skip, segment_end - (row + count));
      if (take > 0) pieces.push_back(batch->Slice(next_skip, take));
      count += take;
      next_skip += take;
      if (next_skip == batch->num_rows()) {
        ++next;
        next_skip = 0;
      }
    }
    if (count == 0) continue;  // empty batches only
    ARROW_ASSIGN_OR_RAISE(auto batch, ShareSegment(pieces, row, count, vector_column, rows,
                                                   &shared.lent_allocated_bytes));
    if (!batch) return std::nullopt;
    shared.batches.push_back(std::move(batch));
    row += count;
  }
  return shared;
}

}  // namespace arbalest
