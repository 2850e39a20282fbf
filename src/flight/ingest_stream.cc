#include "flight/ingest_stream.h"

#include <arrow/flight/types.h>
#include <arrow/status.h>
#include <arrow/util/align_util.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

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

arrow::Result<PutAck> IngestStream::Store(const std::shared_ptr<arrow::RecordBatch>& batch) {
  // Aligning copies the misaligned buffers while the received message is still held: the copy
  // is charged (the misaligned columns whole, an upper bound) until the store has charged what
  // it keeps, so a put near --max-memory is refused before the copy rather than after it.
  MemoryBudget& budget = *store_.mutable_memory();
  int64_t copy_bytes = 0;
  std::vector<bool> misaligned;
  if (!arrow::util::CheckAlignment(*batch, arrow::util::kValueAlignment, &misaligned)) {
    for (size_t i = 0; i < misaligned.size(); ++i) {
      if (misaligned[i])
        copy_bytes += arrow::util::TotalBufferSize(*batch->column(static_cast<int>(i)));
    }
    ARROW_RETURN_NOT_OK(
        budget.Charge(copy_bytes, "aligning this batch (" + std::to_string(copy_bytes) +
                                      " bytes whose buffers arrived misaligned are copied)"));
  }
  // Arrow's IPC reader checks the messages, not the data: string offsets past their buffer
  // would have the store read outside it, misaligned buffers would be read misaligned. A
  // client's batch is checked whole, and aligned, first.
  arrow::Result<PutAck> ack = [&]() -> arrow::Result<PutAck> {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::RecordBatch> checked, CheckClientBatch(batch));
    return dataset_ ? store_.Append(*dataset_, checked, held_ids_)
                    : store_.Put(dataset_name_, checked, &dataset_, held_ids_);
  }();
  budget.Release(copy_bytes);
  return ack;
}

arrow::Result<Json> IngestStream::Append(const std::shared_ptr<arrow::RecordBatch>& batch) {
  const arrow::Result<PutAck> ack =
      null_sink_ ? arrow::Result<PutAck>(PutAck{batch->num_rows(), 0, false}) : Store(batch);
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
