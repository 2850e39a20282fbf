// Authentication and authorization of Flight calls (--auth-tokens; docs/security.md).
//
// AuthMiddlewareFactory authenticates every call: a valid `authorization: Bearer <token>`
// header, or else UNAUTHENTICATED before any handler runs. Handshake is the exception: it takes
// `authorization: Basic base64(<token id>:<token>)` (pyarrow's authenticate_basic_token) and
// answers with the bearer header the client then sends. The middleware keeps the call's token.
//
// AuthorizingFlightService checks, before each handler, that the call's token has the role
// the call needs and may use the datasets it names (auth_policy.h): PERMISSION_DENIED
// otherwise. Refusals are counted (arbalest_auth_failures_total{reason}) and written to the
// audit log with every admin action allowed.
#pragma once

#include <arrow/flight/server_middleware.h>
#include <arrow/status.h>

#include <memory>
#include <string>

#include "flight/auth_policy.h"
#include "flight/rpc_guard.h"
#include "security/audit_log.h"
#include "security/token_store.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace arbalest {

// The key AuthMiddlewareFactory is registered under in FlightServerOptions::middleware.
inline constexpr char kAuthKey[] = "auth";

// What both ports share: the tokens, the audit log, the failure counters.
class Authenticator {
 public:
  // `audit` and `registry` may be null.
  Authenticator(std::shared_ptr<TokenStore> tokens, std::shared_ptr<AuditLog> audit,
                const std::shared_ptr<prometheus::Registry>& registry);

  const TokenStore& tokens() const { return *tokens_; }

  // Counts a refusal under `reason` (missing_token, bad_token, role, dataset) and audits it.
  void Refused(const std::string& reason, const AuditEvent& event);
  // Audits an allowed call (admin actions).
  void Allowed(const AuditEvent& event);

 private:
  std::shared_ptr<TokenStore> tokens_;
  std::shared_ptr<AuditLog> audit_;
  prometheus::Counter* missing_token_ = nullptr;
  prometheus::Counter* bad_token_ = nullptr;
  prometheus::Counter* role_ = nullptr;
  prometheus::Counter* dataset_ = nullptr;
};

class AuthMiddlewareFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  explicit AuthMiddlewareFactory(std::shared_ptr<Authenticator> auth) : auth_(std::move(auth)) {}

  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  std::shared_ptr<Authenticator> auth_;
};

// GuardedFlightService that authorizes every call first.
class AuthorizingFlightService final : public GuardedFlightService {
 public:
  AuthorizingFlightService(std::shared_ptr<VectorStore> store, ServiceOptions options,
                           std::shared_ptr<Authenticator> auth)
      : GuardedFlightService(std::move(store), options), auth_(std::move(auth)) {}

  arrow::Status DoPut(const arrow::flight::ServerCallContext& context,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter> writer) override;
  arrow::Status DoGet(const arrow::flight::ServerCallContext& context,
                      const arrow::flight::Ticket& request,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;
  arrow::Status DoExchange(const arrow::flight::ServerCallContext& context,
                           std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                           std::unique_ptr<arrow::flight::FlightMessageWriter> writer) override;
  arrow::Status ListFlights(const arrow::flight::ServerCallContext& context,
                            const arrow::flight::Criteria* criteria,
                            std::unique_ptr<arrow::flight::FlightListing>* listings) override;
  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                              const arrow::flight::FlightDescriptor& request,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;
  arrow::Status GetSchema(const arrow::flight::ServerCallContext& context,
                          const arrow::flight::FlightDescriptor& request,
                          std::unique_ptr<arrow::flight::SchemaResult>* schema) override;
  arrow::Status ListActions(const arrow::flight::ServerCallContext& context,
                            std::vector<arrow::flight::ActionType>* actions) override;
  arrow::Status DoAction(const arrow::flight::ServerCallContext& context,
                         const arrow::flight::Action& action,
                         std::unique_ptr<arrow::flight::ResultStream>* result) override;

 private:
  // OK, or PERMISSION_DENIED (counted and audited); admin calls allowed are audited too.
  arrow::Status Authorize(const arrow::flight::ServerCallContext& context,
                          const AccessRequest& request);

  std::shared_ptr<Authenticator> auth_;
};

}  // namespace arbalest
