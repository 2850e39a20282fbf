// Where one client put stream's batches go: this node's store (IngestStream) or, on a cluster
// node, the shards of a sharded dataset (src/cluster's put routing). DoPut reads the stream and
// answers each batch with its sink's ack, whichever it is.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>

#include "common/json_util.h"

namespace arbalest {

class PutSink {
 public:
  virtual ~PutSink() = default;

  // Stores `batch`; returns its ack ({"status": "acked", "rows", ...}).
  virtual arrow::Result<Json> Append(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  // Ends the stream. One that carried a schema and no batch declares the dataset.
  virtual arrow::Status Finish(const arrow::Schema& schema) = 0;
  // The batches stored so far.
  virtual int64_t batches() const = 0;
};

}  // namespace arbalest
