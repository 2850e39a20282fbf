// The process's datasets by name, and the memory budget they share. Flight handlers, and later
// WAL replay and snapshots, reach data only through this object.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/dataset.h"
#include "store/memory_budget.h"

namespace arbalest {

// What a successful append tells the client (the PutResult of protocol.md).
struct PutAck {
  int64_t rows = 0;
  uint64_t seq = 0;        // strictly increasing across all appends of the process
  bool slow_down = false;  // memory past the soft limit
};

// Thread-safe.
class VectorStore {
 public:
  // `max_memory_bytes` 0 means unlimited.
  explicit VectorStore(int64_t max_memory_bytes) : budget_(max_memory_bytes) {}

  // The dataset named `name`, created from `put_schema` when absent. Invalid for a bad name or
  // a schema that cannot make a dataset (see InspectPutSchema).
  arrow::Result<std::shared_ptr<Dataset>> GetOrCreate(std::string_view name,
                                                      const arrow::Schema& put_schema);

  // The dataset named `name`; KeyError ("dataset 'x' not found") when absent.
  arrow::Result<std::shared_ptr<Dataset>> Get(std::string_view name) const;

  // Removes the dataset; its memory is released once the last reader lets go. KeyError when
  // absent.
  arrow::Status Drop(std::string_view name);

  // All datasets, sorted by name.
  std::vector<std::shared_ptr<Dataset>> List() const;

  // Appends `batch` to the dataset `name`, creating it from the batch's schema when absent. A
  // dataset is created only together with a valid first batch, so a rejected put leaves
  // nothing behind. `dataset` receives the dataset, for the stream's later appends.
  arrow::Result<PutAck> Put(std::string_view name, const std::shared_ptr<arrow::RecordBatch>& batch,
                            std::shared_ptr<Dataset>* dataset);

  // Appends `batch` to `dataset` (Dataset::Append) and numbers the append.
  arrow::Result<PutAck> Append(Dataset& dataset, const std::shared_ptr<arrow::RecordBatch>& batch);

  const MemoryBudget& memory() const { return budget_; }

 private:
  MemoryBudget budget_;
  std::atomic<uint64_t> next_seq_{1};
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<Dataset>, std::less<>> datasets_;
};

}  // namespace arbalest
