#include "flight/message_size_limit.h"

#include <climits>
#include <cstring>

namespace arbalest {
namespace {

// The pyarrow wheel links gRPC statically and ships no gRPC headers, so the grpc::ServerBuilder
// the hook receives is opaque here. ServerBuilder::SetMaxReceiveMessageSize (an inline setter)
// writes max_receive_message_size_, the first data member after the vtable pointer, followed by
// max_send_message_size_ (grpcpp/server_builder.h; the layout of every gRPC release since 1.0,
// and what ServerBuilder::BuildChannelArgs reads in the wheel's libarrow_flight). Arrow Flight
// sets the receive size to -1 (unlimited) before calling the hook, and leaves the send size at
// the builder's INT_MIN ("unset"): the hook writes the field only when it finds exactly that,
// and reports otherwise, so that a different layout fails startup instead of being corrupted.
constexpr size_t kMaxReceiveOffset = sizeof(void*);
constexpr int32_t kFlightReceiveSize = -1;
constexpr int32_t kUnsetSendSize = INT_MIN;

}  // namespace

arrow::Result<std::shared_ptr<MessageSizeLimit>> MessageSizeLimit::Install(
    int64_t max_bytes, arrow::flight::FlightServerOptions* options) {
  if (max_bytes < 1 || max_bytes > INT32_MAX) {
    return arrow::Status::Invalid("--max-message-size must be between 1 byte and ", INT32_MAX,
                                  " bytes (gRPC's limit), got ", max_bytes);
  }
  std::shared_ptr<MessageSizeLimit> limit(new MessageSizeLimit(static_cast<int32_t>(max_bytes)));
  auto previous = options->builder_hook;
  options->builder_hook = [limit, previous](void* builder) {
    if (previous) previous(builder);
    limit->Apply(builder);
  };
  return limit;
}

void MessageSizeLimit::Apply(void* grpc_server_builder) {
  hook_ran_ = true;
  auto* fields = static_cast<char*>(grpc_server_builder) + kMaxReceiveOffset;
  int32_t receive = 0;
  int32_t send = 0;
  std::memcpy(&receive, fields, sizeof(receive));
  std::memcpy(&send, fields + sizeof(receive), sizeof(send));
  if (receive != kFlightReceiveSize || send != kUnsetSendSize) return;
  std::memcpy(fields, &max_bytes_, sizeof(max_bytes_));
  applied_ = true;
}

arrow::Status MessageSizeLimit::CheckApplied() const {
  if (applied_) return arrow::Status::OK();
  return arrow::Status::IOError(
      "--max-message-size ", max_bytes_, " could not be set: ",
      hook_ran_ ? "this Arrow Flight's gRPC server builder is not laid out as expected"
                : "this Arrow Flight transport did not call the gRPC builder hook",
      "; pass --max-message-size 0 to serve without a message size limit");
}

}  // namespace arbalest
