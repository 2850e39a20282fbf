// A Flight server middleware that counts every RPC by method, action (DoAction's type) and the
// gRPC status code the client receives, and records its latency (from the call's start until
// its last message) into ServerMetrics. Refused requests are logged: each at debug, and at most
// one summary line every 10 s at info ("N requests refused in the last 10 s; latest: ...").
#pragma once

#include <arrow/flight/server_middleware.h>
#include <arrow/status.h>

#include <memory>
#include <string>

#include "metrics/server_metrics.h"

namespace arbalest {

// The key RpcMetricsFactory is registered under in FlightServerOptions::middleware.
inline constexpr char kRpcMetricsKey[] = "rpc-metrics";

// The gRPC status code name a Flight client receives for `status`, as Flight's transport maps
// it (Invalid -> INVALID_ARGUMENT, KeyError -> NOT_FOUND, Unavailable -> UNAVAILABLE, ...), in
// the spelling of gRPC's own metrics (OK, InvalidArgument, NotFound, Unavailable, ...).
std::string GrpcCodeName(const arrow::Status& status);

// The method's name as users know it from the Flight API (DoPut, DoGet, ...).
std::string MethodName(arrow::flight::FlightMethod method);

// Labels the call's metrics with the action it runs. Types that are not supported actions are
// labelled "unknown": clients cannot grow the label set.
void LabelAction(const arrow::flight::ServerCallContext& context, const std::string& type);

class RpcMetricsFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  explicit RpcMetricsFactory(std::shared_ptr<ServerMetrics> metrics)
      : metrics_(std::move(metrics)) {}

  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  std::shared_ptr<ServerMetrics> metrics_;
};

}  // namespace arbalest
