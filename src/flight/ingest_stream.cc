#include "flight/ingest_stream.h"

#include <arrow/flight/types.h>
#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <string>

#include "persist/io_errors.h"
#include "store/value_checks.h"

namespace arbalest {

arrow::Status ForClient(arrow::Status status) {
  std::string prefix;
  switch (ClassifyIoFailure(status)) {
    case IoFailure::kNone:
      if (!status.IsCapacityError()) return status;
      prefix = "resource exhausted: ";
      break;
    case IoFailure::kDiskFull:
    case IoFailure::kTooManyFiles:
      prefix =
          std::string("resource exhausted: ") + IoFailureName(ClassifyIoFailure(status)) + ": ";
      break;
    case IoFailure::kLogFailed:
      prefix = "unavailable: ";
      break;
  }
  return status.WithMessage(prefix, status.message())
      .WithDetail(std::make_shared<arrow::flight::FlightStatusDetail>(
          arrow::flight::FlightStatusCode::Unavailable));
}

arrow::Result<Json> IngestStream::Append(const std::shared_ptr<arrow::RecordBatch>& batch) {
  arrow::Result<PutAck> ack = PutAck{batch->num_rows(), 0, false};
  if (!null_sink_) {
    // Arrow's IPC reader checks the messages, not the data: string offsets past their buffer
    // would have the store read outside it, misaligned buffers would be read misaligned. A
    // client's batch is checked whole, and aligned, first.
    auto checked = CheckClientBatch(batch);
    if (!checked.ok()) {
      ack = checked.status();
    } else {
      ack = dataset_ ? store_.Append(*dataset_, *checked)
                     : store_.Put(dataset_name_, *checked, &dataset_);
    }
  }
  if (!ack.ok()) {
    spdlog::debug("put to '{}': batch {} rejected: {}", dataset_name_, batches_,
                  ack.status().message());
    return ForClient(
        ack.status().WithMessage("batch ", batches_, " rejected: ", ack.status().message()));
  }
  ++batches_;
  Json json{{"status", "acked"}, {"rows", ack->rows}, {"seq", ack->seq}};
  if (ack->slow_down) {
    json["slow_down"] = true;
    json["reason"] = "memory use is past 90% of --max-memory";
  }
  return json;
}

arrow::Status IngestStream::Finish(const arrow::Schema& schema) {
  if (batches_ > 0 || null_sink_) return arrow::Status::OK();
  // A stream with a schema and no batches declares the dataset.
  return ForClient(store_.GetOrCreate(dataset_name_, schema).status());
}

}  // namespace arbalest
