#include "flight/server.h"

#include <arrow/flight/server_auth.h>
#include <arrow/status.h>

#include "flight/call_credentials.h"
#include "flight/message_size_limit.h"
#include "flight/rpc_guard.h"
#include "flight/rpc_metrics.h"

namespace arbalest {
namespace {

arrow::Result<std::unique_ptr<FlightService>> StartService(const std::string& host, int port,
                                                           std::shared_ptr<VectorStore> store,
                                                           ServiceOptions service_options,
                                                           std::string_view role,
                                                           const TlsOptions& tls,
                                                           std::shared_ptr<Authenticator> auth) {
  ARROW_ASSIGN_OR_RAISE(auto location, tls.cert_pem.empty()
                                           ? arrow::flight::Location::ForGrpcTcp(host, port)
                                           : arrow::flight::Location::ForGrpcTls(host, port));
  arrow::flight::FlightServerOptions options(location);
  if (!tls.cert_pem.empty()) {
    options.tls_certificates.push_back({tls.cert_pem, tls.key_pem});
    options.verify_client = !tls.client_ca_pem.empty();
    options.root_certificates = tls.client_ca_pem;
  }
  // First: a refused stream starts no other middleware.
  if (service_options.stream_limit) {
    ClusterCallTest from_cluster;
    if (auth) {
      // The token is checked again by the auth middleware; a bad one is refused there.
      from_cluster = [auth](const arrow::flight::CallHeaders& headers) {
        const auto bearer = Credentials(headers, "Bearer");
        if (!bearer) return false;
        const std::shared_ptr<const TokenTable> table = auth->tokens().table();
        const TokenEntry* entry = table->Find(*bearer);
        return entry && entry->role == Role::kCluster;
      };
    }
    options.middleware.emplace_back(
        "stream-limit",
        std::make_shared<StreamLimitFactory>(service_options.stream_limit, from_cluster));
  }
  if (service_options.metrics) {
    options.middleware.emplace_back(kRpcMetricsKey,
                                    std::make_shared<RpcMetricsFactory>(service_options.metrics));
  }
  if (auth) {
    // After the metrics: refused calls are counted. The no-op handler lets Handshake through to
    // the middleware (basic authentication); every other call is checked by the middleware.
    options.middleware.emplace_back(kAuthKey, std::make_shared<AuthMiddlewareFactory>(auth));
    options.auth_handler = std::make_shared<arrow::flight::NoOpAuthHandler>();
  }
  std::shared_ptr<MessageSizeLimit> message_limit;
  if (service_options.max_message_bytes > 0) {
    ARROW_ASSIGN_OR_RAISE(message_limit,
                          MessageSizeLimit::Install(service_options.max_message_bytes, &options));
  }
  std::unique_ptr<FlightService> service =
      auth ? std::make_unique<AuthorizingFlightService>(std::move(store), service_options, auth)
           : std::make_unique<GuardedFlightService>(std::move(store), service_options);
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
    const FlightPorts& ports, std::shared_ptr<VectorStore> store, ServiceOptions options,
    TlsOptions tls, std::shared_ptr<Authenticator> auth) {
  ARROW_ASSIGN_OR_RAISE(
      auto data, StartService(ports.host, ports.data_port, store, options, "data", tls, auth));
  ARROW_ASSIGN_OR_RAISE(
      auto meta, StartService(ports.host, ports.meta_port, store, options, "meta", tls, auth));
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
