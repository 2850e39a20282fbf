#include "store/scan.h"

#include <arrow/array/util.h>
#include <arrow/status.h>

#include <utility>

#include "store/filter.h"

namespace arbalest {
namespace {

class SnapshotScanReader : public arrow::RecordBatchReader {
 public:
  SnapshotScanReader(DatasetSnapshot snapshot, arrow::compute::Expression filter,
                     std::vector<int> projection, std::shared_ptr<arrow::Schema> output_schema,
                     std::optional<int64_t> limit, int64_t from_row)
      : snapshot_(std::move(snapshot)),
        filter_(std::move(filter)),
        projection_(std::move(projection)),
        output_schema_(std::move(output_schema)),
        remaining_(limit),
        from_row_(from_row) {}

  std::shared_ptr<arrow::Schema> schema() const override { return output_schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    out->reset();
    while (next_batch_ < snapshot_.batches.size() && remaining_.value_or(1) > 0) {
      const auto& stored = snapshot_.batches[next_batch_++];
      int64_t first_row = next_row_;
      next_row_ += stored->num_rows();
      if (next_row_ <= from_row_) continue;
      std::shared_ptr<arrow::RecordBatch> from = stored;
      if (first_row < from_row_) {
        from = stored->Slice(from_row_ - first_row);
        first_row = from_row_;
      }
      ARROW_ASSIGN_OR_RAISE(auto batch, DropDeletedRows(snapshot_.segments, from, first_row));
      ARROW_ASSIGN_OR_RAISE(batch, PadToSchema(batch, snapshot_.schema));
      ARROW_ASSIGN_OR_RAISE(batch, ApplyFilter(filter_, batch));
      if (batch->num_rows() == 0) continue;
      if (remaining_) {
        if (batch->num_rows() > *remaining_) batch = batch->Slice(0, *remaining_);
        *remaining_ -= batch->num_rows();
      }
      ARROW_ASSIGN_OR_RAISE(*out, batch->SelectColumns(projection_));
      return arrow::Status::OK();
    }
    return arrow::Status::OK();
  }

 private:
  DatasetSnapshot snapshot_;
  arrow::compute::Expression filter_;
  std::vector<int> projection_;
  std::shared_ptr<arrow::Schema> output_schema_;
  std::optional<int64_t> remaining_;
  size_t next_batch_ = 0;
  const int64_t from_row_;  // rows before it are not read
  int64_t next_row_ = 0;    // dataset row number of the first row of batches[next_batch_]
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> PadToSchema(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& schema) {
  if (batch->num_columns() == schema->num_fields()) return batch;
  arrow::ArrayVector columns = batch->columns();
  for (int i = batch->num_columns(); i < schema->num_fields(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto nulls,
                          arrow::MakeArrayOfNull(schema->field(i)->type(), batch->num_rows()));
    columns.push_back(std::move(nulls));
  }
  return arrow::RecordBatch::Make(schema, batch->num_rows(), std::move(columns));
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ScanSnapshot(DatasetSnapshot snapshot,
                                                                      const ScanOptions& options) {
  if (options.limit && *options.limit < 0) {
    return arrow::Status::Invalid("'limit' must be >= 0, got ", *options.limit);
  }
  arrow::compute::Expression filter = arrow::compute::literal(true);
  if (options.filter) {
    ARROW_ASSIGN_OR_RAISE(filter, options.filter->Bind(snapshot.schema));
  }
  std::vector<int> projection;
  if (options.columns) {
    for (const auto& name : *options.columns) {
      const int index = snapshot.schema->GetFieldIndex(name);
      if (index < 0) return arrow::Status::Invalid("unknown column '", name, "' in 'columns'");
      projection.push_back(index);
    }
  } else {
    for (int i = 0; i < snapshot.schema->num_fields(); ++i) projection.push_back(i);
  }
  int64_t from_row = 0;
  if (options.after_segment) {
    const SegmentRef& after = *options.after_segment;
    if (SealedSegmentNamed(snapshot.segments, after) == nullptr) {
      return arrow::Status::Invalid(
          "'after_segment' names no sealed segment of the dataset (", after.rows, " rows from row ",
          after.first_row, ", graph ", after.graph,
          "): a compaction or a merge replaced it since, or it was named by another process");
    }
    from_row = after.end_row();
  }
  arrow::FieldVector output_fields;
  for (int index : projection) output_fields.push_back(snapshot.schema->field(index));
  auto output_schema = arrow::schema(std::move(output_fields), snapshot.schema->metadata());
  return std::make_shared<SnapshotScanReader>(std::move(snapshot), std::move(filter),
                                              std::move(projection), std::move(output_schema),
                                              options.limit, from_row);
}

}  // namespace arbalest
