#include "store/dataset.h"

#include <arrow/status.h>
#include <arrow/util/byte_size.h>

namespace arbalest {

arrow::Result<std::shared_ptr<Dataset>> Dataset::Create(std::string name,
                                                        const arrow::Schema& put_schema,
                                                        MemoryBudget* budget) {
  ARROW_ASSIGN_OR_RAISE(DatasetLayout layout, InspectPutSchema(put_schema));
  ARROW_ASSIGN_OR_RAISE(auto schema, StoredSchemaFor(put_schema));
  return std::shared_ptr<Dataset>(
      new Dataset(std::move(name), std::move(schema), std::move(layout), budget));
}

Dataset::Dataset(std::string name, std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
                 MemoryBudget* budget)
    : name_(std::move(name)),
      layout_(std::move(layout)),
      budget_(budget),
      schema_(std::move(schema)) {}

Dataset::~Dataset() { budget_->Release(num_bytes_); }

arrow::Result<int64_t> Dataset::Append(const std::shared_ptr<arrow::RecordBatch>& batch) {
  std::lock_guard append_lock(append_mutex_);
  ARROW_ASSIGN_OR_RAISE(ConformedBatch conformed,
                        ConformBatch(batch, schema(), layout_, next_assigned_id_, name_));
  const int64_t bytes = arrow::util::TotalBufferSize(*conformed.batch);
  ARROW_RETURN_NOT_OK(budget_->Charge(bytes));
  std::unique_lock state_lock(state_mutex_);
  if (dropped_) {
    budget_->Release(bytes);
    return arrow::Status::KeyError("dataset '", name_, "' was deleted during the put");
  }
  if (conformed.evolved_schema) schema_ = conformed.evolved_schema;
  batches_.push_back(conformed.batch);
  num_rows_ += conformed.batch->num_rows();
  num_bytes_ += bytes;
  if (layout_.id_kind == IdKind::kAssigned) {
    next_assigned_id_ += static_cast<uint64_t>(conformed.batch->num_rows());
  }
  return conformed.batch->num_rows();
}

DatasetSnapshot Dataset::Snapshot() const {
  std::shared_lock lock(state_mutex_);
  return DatasetSnapshot{schema_, batches_, num_rows_, num_bytes_};
}

std::shared_ptr<arrow::Schema> Dataset::schema() const {
  std::shared_lock lock(state_mutex_);
  return schema_;
}

void Dataset::MarkDropped() {
  std::unique_lock lock(state_mutex_);
  dropped_ = true;
}

}  // namespace arbalest
