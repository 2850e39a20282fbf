// One client stream of batches into one dataset, shared by DoPut and DoExchange ingest: each
// batch is appended (created with the first batch) and answered with its ack JSON.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>
#include <string>

#include "common/json_util.h"
#include "flight/put_sink.h"
#include "store/vector_store.h"

namespace arbalest {

// The status a client gets for a failed request: the one place where the server's refusals
// that a client may retry get their code. Arrow Flight's gRPC transport has no path to
// RESOURCE_EXHAUSTED, so they travel as UNAVAILABLE (retry later), keeping the Arrow code
// (CapacityError, IOError) in the status headers for Arrow clients, with a message that names
// the cause:
//   "resource exhausted: ..."                      memory (--max-memory)
//   "resource exhausted: disk full: ..."           ENOSPC, EDQUOT, EFBIG
//   "resource exhausted: too many open files: ..." EMFILE, ENFILE
//   "unavailable: ... the write-ahead log failed ..."  no more writes until restarted
// Other statuses pass unchanged.
arrow::Status ForClient(arrow::Status status);

// Not thread-safe: one per stream.
class IngestStream : public PutSink {
 public:
  // `null_sink`: ack without storing (the transport-ceiling benchmark mode). `held_ids`: how a
  // dataset whose ids are unique takes rows of ids it holds (store/dataset_commit.h).
  IngestStream(VectorStore& store, std::string dataset, bool null_sink,
               HeldIds held_ids = HeldIds::kReplace)
      : store_(store),
        dataset_name_(std::move(dataset)),
        null_sink_(null_sink),
        held_ids_(held_ids) {}

  // Stores `batch`; returns {"status":"acked","rows","seq"} (+ slow_down, reason). The error
  // names the batch's position in the stream.
  arrow::Result<Json> Append(const std::shared_ptr<arrow::RecordBatch>& batch) override;

  // Ends the stream. One that carried a schema and no batch creates the dataset.
  arrow::Status Finish(const arrow::Schema& schema) override;

  int64_t batches() const override { return batches_; }

 private:
  // Checks, aligns and stores `batch`.
  arrow::Result<PutAck> Store(const std::shared_ptr<arrow::RecordBatch>& batch);

  VectorStore& store_;
  const std::string dataset_name_;
  const bool null_sink_;
  const HeldIds held_ids_;
  std::shared_ptr<Dataset> dataset_;
  int64_t batches_ = 0;
};

}  // namespace arbalest
