#include "flight/server.h"

#include <arrow/status.h>

#include "flight/message_size_limit.h"
#include "flight/rpc_guard.h"
#include "flight/rpc_metrics.h"

namespace arbalest {
namespace {

arrow::Result<std::unique_ptr<FlightService>> StartService(const std::string& host, int port,
                                                           std::shared_ptr<VectorStore> store,
                                                           ServiceOptions service_options,
                                                           std::string_view role) {
  ARROW_ASSIGN_OR_RAISE(auto location, arrow::flight::Location::ForGrpcTcp(host, port));
  arrow::flight::FlightServerOptions options(location);
  // First: a refused stream starts no other middleware.
  if (service_options.stream_limit) {
    options.middleware.emplace_back(
        "stream-limit", std::make_shared<StreamLimitFactory>(service_options.stream_limit));
  }
  if (service_options.metrics) {
    options.middleware.emplace_back(kRpcMetricsKey,
                                    std::make_shared<RpcMetricsFactory>(service_options.metrics));
  }
  std::shared_ptr<MessageSizeLimit> message_limit;
  if (service_options.max_message_bytes > 0) {
    ARROW_ASSIGN_OR_RAISE(message_limit,
                          MessageSizeLimit::Install(service_options.max_message_bytes, &options));
  }
  std::unique_ptr<FlightService> service =
      std::make_unique<GuardedFlightService>(std::move(store), service_options);
  arrow::Status status = service->Init(options);
  if (!status.ok()) {
    return arrow::Status::IOError("cannot serve the ", role, " port on ", host, ":", port,
                                  " (is it in use?): ", status.message());
  }
  if (message_limit) {
    if (arrow::Status applied = message_limit->CheckApplied(); !applied.ok()) {
      ARROW_RETURN_NOT_OK(service->Shutdown());
      return applied;
    }
  }
  return service;
}

}  // namespace

arrow::Result<std::unique_ptr<FlightServers>> FlightServers::Start(
    const FlightPorts& ports, std::shared_ptr<VectorStore> store, ServiceOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto data,
                        StartService(ports.host, ports.data_port, store, options, "data"));
  ARROW_ASSIGN_OR_RAISE(auto meta,
                        StartService(ports.host, ports.meta_port, store, options, "meta"));
  return std::unique_ptr<FlightServers>(new FlightServers(std::move(data), std::move(meta)));
}

arrow::Status FlightServers::Shutdown(std::chrono::seconds grace) {
  const auto deadline = std::chrono::system_clock::now() + grace;
  // Stop both first so that neither keeps accepting while the other drains.
  arrow::Status data_status = data_->Shutdown(&deadline);
  arrow::Status meta_status = meta_->Shutdown(&deadline);
  ARROW_RETURN_NOT_OK(data_->Wait());
  ARROW_RETURN_NOT_OK(meta_->Wait());
  ARROW_RETURN_NOT_OK(data_status);
  return meta_status;
}

}  // namespace arbalest
