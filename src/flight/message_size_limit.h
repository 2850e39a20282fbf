// The largest gRPC message a Flight server accepts (--max-message-size): gRPC refuses a larger
// one with RESOURCE_EXHAUSTED as its header arrives, before the message is received whole, so
// that one DoPut message cannot hold more memory than this. Arrow Flight lifts gRPC's own 4 MiB
// default to unlimited and offers FlightServerOptions::builder_hook to change the gRPC
// ServerBuilder; this module is that hook.
#pragma once

#include <arrow/flight/server.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>

namespace arbalest {

// Installs on `options` a builder hook that sets the gRPC server's maximum receive message size
// to `max_bytes` (1 to INT32_MAX). Call CheckApplied() after FlightServerBase::Init: the
// hook is not guaranteed to run, and it sets the limit only where it recognises the builder.
class MessageSizeLimit {
 public:
  static arrow::Result<std::shared_ptr<MessageSizeLimit>> Install(
      int64_t max_bytes, arrow::flight::FlightServerOptions* options);

  // IOError naming --max-message-size when the limit could not be set.
  arrow::Status CheckApplied() const;

 private:
  explicit MessageSizeLimit(int32_t max_bytes) : max_bytes_(max_bytes) {}
  void Apply(void* grpc_server_builder);

  const int32_t max_bytes_;
  bool applied_ = false;
  bool hook_ran_ = false;
};

}  // namespace arbalest
