// A named collection of rows: the Arrow record batches put into it, in put order, under one
// evolving schema. The unit that DoPut appends to and that scans and searches read.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "store/dataset_layout.h"
#include "store/memory_budget.h"

namespace arbalest {

// A consistent view of a dataset: every batch whole, none half-appended. Batches appended before
// a schema evolution lack the newer (nullable) columns; readers pad them with nulls
// (PadToSchema in scan.h).
struct DatasetSnapshot {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t num_rows = 0;
  int64_t num_bytes = 0;
};

// Thread-safe: any number of concurrent Append and Snapshot calls.
class Dataset {
 public:
  // An empty dataset whose stored schema derives from `put_schema` (see StoredSchemaFor).
  // `budget` must outlive the dataset; the dataset's bytes are charged to it.
  static arrow::Result<std::shared_ptr<Dataset>> Create(std::string name,
                                                        const arrow::Schema& put_schema,
                                                        MemoryBudget* budget);
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const std::string& name() const { return name_; }
  const DatasetLayout& layout() const { return layout_; }

  // Validates `batch` against the dataset (ConformBatch), charges its bytes to the budget and
  // appends it. On success returns the number of rows stored; on any error nothing is stored.
  // Errors: Invalid (bad batch, naming the problem), CapacityError (memory limit), KeyError
  // (the dataset was dropped meanwhile).
  arrow::Result<int64_t> Append(const std::shared_ptr<arrow::RecordBatch>& batch);

  // The rows stored so far.
  DatasetSnapshot Snapshot() const;

  // The current schema.
  std::shared_ptr<arrow::Schema> schema() const;

  // Marks the dataset dropped: later appends fail. Called by VectorStore::Drop.
  void MarkDropped();

 private:
  Dataset(std::string name, std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
          MemoryBudget* budget);

  const std::string name_;
  const DatasetLayout layout_;
  MemoryBudget* const budget_;

  // Serializes appenders: conforming needs the current schema and the next assigned id.
  std::mutex append_mutex_;
  uint64_t next_assigned_id_ = 0;  // guarded by append_mutex_

  // Guards the published state below; held only to publish or copy it.
  mutable std::shared_mutex state_mutex_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  int64_t num_rows_ = 0;
  int64_t num_bytes_ = 0;
  bool dropped_ = false;
};

}  // namespace arbalest
