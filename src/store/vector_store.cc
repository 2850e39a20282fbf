#include "store/vector_store.h"

#include <arrow/status.h>

#include <mutex>

#include "common/dataset_name.h"

namespace arbalest {

arrow::Result<std::shared_ptr<Dataset>> VectorStore::GetOrCreate(std::string_view name,
                                                                 const arrow::Schema& put_schema) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  {
    std::shared_lock lock(mutex_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(auto created, Dataset::Create(std::string(name), put_schema, &budget_));
  std::unique_lock lock(mutex_);
  // Another put may have created it meanwhile; the first one wins.
  auto [it, inserted] = datasets_.emplace(std::string(name), std::move(created));
  return it->second;
}

arrow::Result<PutAck> VectorStore::Put(std::string_view name,
                                       const std::shared_ptr<arrow::RecordBatch>& batch,
                                       std::shared_ptr<Dataset>* dataset) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  {
    std::shared_lock lock(mutex_);
    auto it = datasets_.find(name);
    if (it != datasets_.end()) *dataset = it->second;
  }
  if (!*dataset) {
    ARROW_ASSIGN_OR_RAISE(auto created,
                          Dataset::Create(std::string(name), *batch->schema(), &budget_));
    std::unique_lock lock(mutex_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) {
      // Publish the dataset only once its first batch is in.
      ARROW_ASSIGN_OR_RAISE(PutAck ack, Append(*created, batch));
      *dataset = created;
      datasets_.emplace(std::string(name), std::move(created));
      return ack;
    }
    *dataset = it->second;  // another put created it meanwhile
  }
  return Append(**dataset, batch);
}

arrow::Result<std::shared_ptr<Dataset>> VectorStore::Get(std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = datasets_.find(name);
  if (it == datasets_.end()) {
    ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
    return arrow::Status::KeyError("dataset '", name, "' not found");
  }
  return it->second;
}

arrow::Status VectorStore::Drop(std::string_view name) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  std::shared_ptr<Dataset> dropped;
  {
    std::unique_lock lock(mutex_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) return arrow::Status::KeyError("dataset '", name, "' not found");
    dropped = std::move(it->second);
    datasets_.erase(it);
  }
  dropped->MarkDropped();
  return arrow::Status::OK();
}

std::vector<std::shared_ptr<Dataset>> VectorStore::List() const {
  std::shared_lock lock(mutex_);
  std::vector<std::shared_ptr<Dataset>> result;
  result.reserve(datasets_.size());
  for (const auto& [name, dataset] : datasets_) result.push_back(dataset);
  return result;
}

arrow::Result<PutAck> VectorStore::Append(Dataset& dataset,
                                          const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(int64_t rows, dataset.Append(batch));
  return PutAck{rows, next_seq_.fetch_add(1), budget_.OverSoftLimit()};
}

}  // namespace arbalest
