// A DoPut call to a peer that can be cancelled, for the long-lived put streams (put_stream.h).
// Arrow's FlightClient::DoPut hands out a writer and a metadata reader but no way to cancel the
// call: FlightCallOptions::stop_token is not consulted by DoPut, and a reader blocked on a hung
// peer (stopped, not dead: its kernel still keeps the connection) returns only at the call's
// deadline, which for a stream is past its lifetime (about 70 s). This opens the DoPut on
// Flight's client transport (arrow/flight/transport.h, the layer FlightClient itself uses) and
// keeps its data stream, whose TryCancel ends the call at once: blocked reads and writes
// return, and Finish gives CANCELLED. The messages are those FlightClient sends: the schema
// with the descriptor first, then each batch with its app_metadata.
//
// One writer thread (Write, DoneWriting) and one reader thread (ReadMetadata) may use it at
// once; Cancel from any thread; Finish once both are done.
#pragma once

#include <arrow/buffer.h>
#include <arrow/flight/client.h>
#include <arrow/flight/transport.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>

namespace arbalest {

class PutCall {
 public:
  // Starts the DoPut of `descriptor` with `schema` on `transport` (a peer's), with `call`'s
  // headers and deadline.
  static arrow::Result<std::unique_ptr<PutCall>> Open(
      std::shared_ptr<arrow::flight::internal::ClientTransport> transport,
      const arrow::flight::FlightCallOptions& call,
      const arrow::flight::FlightDescriptor& descriptor,
      const std::shared_ptr<arrow::Schema>& schema);
  ~PutCall();
  PutCall(const PutCall&) = delete;
  PutCall& operator=(const PutCall&) = delete;

  // Sends `batch` with `app_metadata`. IOError once the call has ended (its reason: Finish).
  arrow::Status Write(const arrow::RecordBatch& batch, std::shared_ptr<arrow::Buffer> app_metadata);
  // No more batches: the write side of the call ends.
  arrow::Status DoneWriting();
  // The peer's next PutResult metadata; null once it ended its answers (the call's status:
  // Finish). An error when the call failed.
  arrow::Status ReadMetadata(std::shared_ptr<arrow::Buffer>* out);
  // The call's final status (the peer's, or CANCELLED). Idempotent.
  arrow::Status Finish();
  // Ends the call now, from any thread.
  void Cancel();

 private:
  class Payloads;

  PutCall(std::shared_ptr<arrow::flight::internal::ClientTransport> transport,
          std::shared_ptr<arrow::flight::internal::ClientDataStream> stream);

  const std::shared_ptr<arrow::flight::internal::ClientTransport> transport_;
  const std::shared_ptr<arrow::flight::internal::ClientDataStream> stream_;
  std::shared_ptr<arrow::Buffer> next_metadata_;            // the writer thread's
  std::unique_ptr<arrow::ipc::RecordBatchWriter> batches_;  // the writer thread's
};

}  // namespace arbalest
