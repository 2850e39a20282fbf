// A Flight server middleware that counts every RPC by method and status code and records its
// latency (from the call's start until its last message) into ServerMetrics.
#pragma once

#include <arrow/flight/server_middleware.h>

#include <memory>

#include "metrics/server_metrics.h"

namespace arbalest {

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
