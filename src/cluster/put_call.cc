#include "cluster/put_call.h"

#include <arrow/status.h>

#include <string>
#include <utility>

namespace arbalest {

namespace fl = arrow::flight;

// Turns the IPC writer's messages into Flight messages on the call: the descriptor with the
// first (the schema), the pending app_metadata with the next record batch.
class PutCall::Payloads : public arrow::ipc::internal::IpcPayloadWriter {
 public:
  Payloads(std::shared_ptr<fl::internal::ClientDataStream> stream,
           std::shared_ptr<arrow::Buffer> descriptor, std::shared_ptr<arrow::Buffer>* metadata)
      : stream_(std::move(stream)), descriptor_(std::move(descriptor)), metadata_(metadata) {}

  arrow::Status WritePayload(const arrow::ipc::IpcPayload& message) override {
    fl::FlightPayload payload;
    payload.ipc_message = message;
    if (descriptor_) {
      payload.descriptor = std::move(descriptor_);
    } else if (message.type == arrow::ipc::MessageType::RECORD_BATCH && *metadata_) {
      payload.app_metadata = std::move(*metadata_);
    }
    ARROW_ASSIGN_OR_RAISE(const bool accepted, stream_->WriteData(payload));
    if (!accepted)
      return arrow::Status::IOError("the put call ended (its status comes at its end)");
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return arrow::Status::OK(); }  // the call ends in PutCall

 private:
  const std::shared_ptr<fl::internal::ClientDataStream> stream_;
  std::shared_ptr<arrow::Buffer> descriptor_;  // until the first message
  std::shared_ptr<arrow::Buffer>* const metadata_;
};

arrow::Result<std::unique_ptr<PutCall>> PutCall::Open(
    std::shared_ptr<fl::internal::ClientTransport> transport, const fl::FlightCallOptions& call,
    const fl::FlightDescriptor& descriptor, const std::shared_ptr<arrow::Schema>& schema) {
  std::unique_ptr<fl::internal::ClientDataStream> opened;
  ARROW_RETURN_NOT_OK(transport->DoPut(call, &opened));
  std::shared_ptr<fl::internal::ClientDataStream> stream = std::move(opened);
  std::unique_ptr<PutCall> put(new PutCall(std::move(transport), stream));
  ARROW_ASSIGN_OR_RAISE(std::string serialized, descriptor.SerializeToString());
  auto status = arrow::ipc::internal::OpenRecordBatchWriter(
                    std::make_unique<Payloads>(stream, arrow::Buffer::FromString(serialized),
                                               &put->next_metadata_),
                    schema, call.write_options)
                    .Value(&put->batches_);
  if (!status.ok()) return stream->Finish(std::move(status));
  return put;
}

PutCall::PutCall(std::shared_ptr<fl::internal::ClientTransport> transport,
                 std::shared_ptr<fl::internal::ClientDataStream> stream)
    : transport_(std::move(transport)), stream_(std::move(stream)) {}

PutCall::~PutCall() {
  stream_->TryCancel();  // a call not finished yet goes (a finished one ignores it)
  ARROW_UNUSED(stream_->Finish(arrow::Status::OK()));
}

arrow::Status PutCall::Write(const arrow::RecordBatch& batch,
                             std::shared_ptr<arrow::Buffer> app_metadata) {
  next_metadata_ = std::move(app_metadata);
  return batches_->WriteRecordBatch(batch);
}

arrow::Status PutCall::DoneWriting() {
  if (batches_) {
    ARROW_RETURN_NOT_OK(batches_->Close());  // the schema, if no batch went
    batches_.reset();
  }
  return stream_->WritesDone();
}

arrow::Status PutCall::ReadMetadata(std::shared_ptr<arrow::Buffer>* out) {
  if (!stream_->ReadPutMetadata(out)) return stream_->Finish(arrow::Status::OK());
  return arrow::Status::OK();
}

arrow::Status PutCall::Finish() { return stream_->Finish(arrow::Status::OK()); }

void PutCall::Cancel() { stream_->TryCancel(); }

}  // namespace arbalest
