#include "flight/auth_service.h"

#include <arrow/array.h>
#include <arrow/flight/server.h>
#include <arrow/flight/types.h>
#include <arrow/ipc/reader.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <set>

#include "flight/call_credentials.h"
#include "flight/rpc_metrics.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// The call's token, for the handlers.
class AuthMiddleware : public fl::ServerMiddleware {
 public:
  AuthMiddleware(std::shared_ptr<const TokenTable> table, const TokenEntry* token,
                 std::string bearer_to_send)
      : table_(std::move(table)), token_(token), bearer_to_send_(std::move(bearer_to_send)) {}

  std::string name() const override { return "arbalest-auth"; }
  void SendingHeaders(fl::AddCallHeaders* headers) override {
    if (!bearer_to_send_.empty())
      headers->AddHeader(kAuthorizationHeader, "Bearer " + bearer_to_send_);
  }
  void CallCompleted(const arrow::Status&) override {}

  const TokenEntry& token() const { return *token_; }

 private:
  const std::shared_ptr<const TokenTable> table_;  // keeps token_ alive across a reload
  const TokenEntry* const token_;
  const std::string bearer_to_send_;  // Handshake only
};

const TokenEntry* CallToken(const fl::ServerCallContext& context) {
  auto* middleware = dynamic_cast<AuthMiddleware*>(context.GetMiddleware(kAuthKey));
  return middleware ? &middleware->token() : nullptr;
}

arrow::Status Unauthenticated(const std::string& message) {
  return fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated, message);
}

// Checks the VectorSearch rows' datasets as the exchange reads them.
class DatasetCheckingReader : public fl::FlightMessageReader {
 public:
  DatasetCheckingReader(std::unique_ptr<fl::FlightMessageReader> reader,
                        std::function<arrow::Status(std::string_view)> check)
      : reader_(std::move(reader)), check_(std::move(check)) {}

  const fl::FlightDescriptor& descriptor() const override { return reader_->descriptor(); }
  arrow::Result<std::shared_ptr<arrow::Schema>> GetSchema() override {
    return reader_->GetSchema();
  }
  arrow::ipc::ReadStats stats() const override { return reader_->stats(); }

  arrow::Result<fl::FlightStreamChunk> Next() override {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader_->Next());
    if (!chunk.data) return chunk;
    auto column = chunk.data->GetColumnByName("dataset");
    if (!column || column->type_id() != arrow::Type::STRING) return chunk;  // the handler refuses
    const auto& datasets = static_cast<const arrow::StringArray&>(*column);
    for (int64_t row = 0; row < datasets.length(); ++row) {
      if (datasets.IsNull(row)) continue;
      const std::string_view dataset = datasets.GetView(row);
      if (checked_.count(dataset)) continue;
      ARROW_RETURN_NOT_OK(check_(dataset));
      checked_.emplace(dataset);
    }
    return chunk;
  }

 private:
  std::unique_ptr<fl::FlightMessageReader> reader_;
  std::function<arrow::Status(std::string_view)> check_;
  std::set<std::string, std::less<>> checked_;
};

AuditEvent EventFor(const fl::ServerCallContext& context, const TokenEntry* token,
                    const AccessRequest& request, const AccessDecision& decision) {
  return AuditEvent{token ? token->id : "", context.peer(),   request.method,  request.action,
                    decision.dataset,       decision.allowed, decision.message};
}

}  // namespace

Authenticator::Authenticator(std::shared_ptr<TokenStore> tokens, std::shared_ptr<AuditLog> audit,
                             const std::shared_ptr<prometheus::Registry>& registry)
    : tokens_(std::move(tokens)), audit_(std::move(audit)) {
  if (!registry) return;
  auto& family = prometheus::BuildCounter()
                     .Name("arbalest_auth_failures_total")
                     .Help(
                         "Calls refused by authentication (missing_token, bad_token: "
                         "UNAUTHENTICATED) or authorization (role, dataset: PERMISSION_DENIED)")
                     .Register(*registry);
  missing_token_ = &family.Add({{"reason", "missing_token"}});
  bad_token_ = &family.Add({{"reason", "bad_token"}});
  role_ = &family.Add({{"reason", "role"}});
  dataset_ = &family.Add({{"reason", "dataset"}});
}

void Authenticator::Refused(const std::string& reason, const AuditEvent& event) {
  prometheus::Counter* counter = reason == "missing_token" ? missing_token_
                                 : reason == "bad_token"   ? bad_token_
                                 : reason == "role"        ? role_
                                                           : dataset_;
  if (counter) counter->Increment();
  if (audit_) audit_->Write(event);
}

void Authenticator::Allowed(const AuditEvent& event) {
  if (audit_) audit_->Write(event);
}

arrow::Status AuthMiddlewareFactory::StartCall(const fl::CallInfo& info,
                                               const fl::ServerCallContext& context,
                                               std::shared_ptr<fl::ServerMiddleware>* middleware) {
  const std::string method = MethodName(info.method);
  auto refuse = [&](const std::string& reason, const std::string& token_id,
                    const std::string& message) {
    auth_->Refused(reason, AuditEvent{token_id, context.peer(), method, "", "", false, message});
    return Unauthenticated(message);
  };
  std::shared_ptr<const TokenTable> table = auth_->tokens().table();
  const fl::CallHeaders& headers = context.incoming_headers();
  std::string bearer_to_send;
  std::string_view token;
  if (auto basic = Credentials(headers, "Basic");
      basic && info.method == fl::FlightMethod::Handshake) {
    // pyarrow's authenticate_basic_token: user = the token's id, password = the token.
    auto credentials = DecodeBasicCredentials(*basic);
    if (!credentials.ok()) return refuse("bad_token", "", credentials.status().message());
    const auto& [user, password] = *credentials;
    const TokenEntry* entry = table->Find(password);
    if (!entry || entry->id != user) {
      return refuse("bad_token", entry ? entry->id : "",
                    "basic authentication failed: the user must be a token's id and the "
                    "password the token");
    }
    *middleware = std::make_shared<AuthMiddleware>(table, entry, password);
    return arrow::Status::OK();
  }
  if (auto bearer = Credentials(headers, "Bearer")) token = *bearer;
  if (token.empty()) {
    return refuse("missing_token", "",
                  method +
                      " needs a token: this server requires the header 'authorization: "
                      "Bearer <token>' (or a Handshake with basic authentication, user = "
                      "the token's id, password = the token)");
  }
  const TokenEntry* entry = table->Find(token);
  if (!entry) {
    auto id = TokenId(token);
    return refuse("bad_token", id.ok() ? *id : "",
                  id.ok() ? "token '" + *id + "' is not valid (unknown, revoked or altered)"
                          : "the bearer token is not valid: " + id.status().message());
  }
  *middleware =
      std::make_shared<AuthMiddleware>(std::move(table), entry, std::move(bearer_to_send));
  return arrow::Status::OK();
}

arrow::Status AuthorizingFlightService::Authorize(const fl::ServerCallContext& context,
                                                  const AccessRequest& request) {
  const TokenEntry* token = CallToken(context);
  if (!token) return Unauthenticated("the call carries no authenticated token");
  AccessDecision decision;
  const TokenEntry* decided_for = token;    // the token the audit log names
  std::shared_ptr<const TokenTable> table;  // keeps a forwarded token's entry alive
  if (auto forwarded = ForwardedToken(context.incoming_headers())) {
    if (token->role != Role::kCluster) {
      decision = {false, "role",
                  "token '" + token->id + "' has role " + std::string(RoleName(token->role)) +
                      ": the header " + kForwardedTokenHeader +
                      " is for the calls between cluster nodes (a node forwarding its client's "
                      "token beside its cluster token)",
                  request.datasets.empty() ? "" : request.datasets.front()};
    } else {
      table = auth_->tokens().table();
      const TokenEntry* client = table->Find(*forwarded);
      decision = DecideForwarded(*token, client, request);
      if (client) decided_for = client;
    }
  } else {
    decision = Decide(*token, request);
  }
  if (!decision.allowed) {
    auth_->Refused(decision.reason, EventFor(context, decided_for, request, decision));
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, decision.message);
  }
  if (request.role == Role::kAdmin) auth_->Allowed(EventFor(context, token, request, decision));
  return arrow::Status::OK();
}

arrow::Status AuthorizingFlightService::DoPut(const fl::ServerCallContext& context,
                                              std::unique_ptr<fl::FlightMessageReader> reader,
                                              std::unique_ptr<fl::FlightMetadataWriter> writer) {
  ARROW_RETURN_NOT_OK(
      Authorize(context, ForDescriptor("DoPut", reader->descriptor(), Role::kWrite)));
  return GuardedFlightService::DoPut(context, std::move(reader), std::move(writer));
}

arrow::Status AuthorizingFlightService::DoGet(const fl::ServerCallContext& context,
                                              const fl::Ticket& request,
                                              std::unique_ptr<fl::FlightDataStream>* stream) {
  ARROW_RETURN_NOT_OK(Authorize(context, ForTicket(request.ticket)));
  return GuardedFlightService::DoGet(context, request, stream);
}

arrow::Status AuthorizingFlightService::DoExchange(
    const fl::ServerCallContext& context, std::unique_ptr<fl::FlightMessageReader> reader,
    std::unique_ptr<fl::FlightMessageWriter> writer) {
  AccessRequest request = ForExchange(reader->descriptor());
  ARROW_RETURN_NOT_OK(Authorize(context, request));
  const TokenEntry* token = CallToken(context);
  if (request.role == Role::kRead && !token->all_datasets()) {
    reader = std::make_unique<DatasetCheckingReader>(
        std::move(reader), [this, &context, token, request](std::string_view dataset) {
          const AccessDecision decision = DecideDataset(*token, request, dataset);
          if (decision.allowed) return arrow::Status::OK();
          auth_->Refused(decision.reason, EventFor(context, token, request, decision));
          return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, decision.message);
        });
  }
  return GuardedFlightService::DoExchange(context, std::move(reader), std::move(writer));
}

arrow::Status AuthorizingFlightService::ListFlights(const fl::ServerCallContext& context,
                                                    const fl::Criteria* criteria,
                                                    std::unique_ptr<fl::FlightListing>* listings) {
  // Every role may list (cluster only with local_only: a catalog hop); a token limited to some
  // datasets sees only those.
  const TokenEntry* token = CallToken(context);
  if (!token) return Unauthenticated("the call carries no authenticated token");
  if (token->role == Role::kCluster) {  // a catalog hop (local_only), else refused and audited
    ARROW_RETURN_NOT_OK(Authorize(context, ForListFlights(criteria ? criteria->expression : "")));
  }
  ARROW_RETURN_NOT_OK(GuardedFlightService::ListFlights(context, criteria, listings));
  if (token->all_datasets() || !*listings) return arrow::Status::OK();
  std::vector<fl::FlightInfo> infos;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(std::unique_ptr<fl::FlightInfo> info, (*listings)->Next());
    if (!info) break;
    const auto& path = info->descriptor().path;
    if (path.size() == 1 && token->MayUse(path[0])) infos.push_back(std::move(*info));
  }
  *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
  return arrow::Status::OK();
}

arrow::Status AuthorizingFlightService::GetFlightInfo(const fl::ServerCallContext& context,
                                                      const fl::FlightDescriptor& request,
                                                      std::unique_ptr<fl::FlightInfo>* info) {
  ARROW_RETURN_NOT_OK(Authorize(context, ForDescriptor("GetFlightInfo", request, Role::kRead)));
  return GuardedFlightService::GetFlightInfo(context, request, info);
}

arrow::Status AuthorizingFlightService::GetSchema(const fl::ServerCallContext& context,
                                                  const fl::FlightDescriptor& request,
                                                  std::unique_ptr<fl::SchemaResult>* schema) {
  ARROW_RETURN_NOT_OK(Authorize(context, ForDescriptor("GetSchema", request, Role::kRead)));
  return GuardedFlightService::GetSchema(context, request, schema);
}

arrow::Status AuthorizingFlightService::ListActions(const fl::ServerCallContext& context,
                                                    std::vector<fl::ActionType>* actions) {
  // Any valid token (the middleware checked it) may list the actions.
  if (!CallToken(context)) return Unauthenticated("the call carries no authenticated token");
  return GuardedFlightService::ListActions(context, actions);
}

arrow::Status AuthorizingFlightService::DoAction(const fl::ServerCallContext& context,
                                                 const fl::Action& action,
                                                 std::unique_ptr<fl::ResultStream>* result) {
  LabelAction(context, action.type);
  const std::string_view body = action.body ? std::string_view(*action.body) : std::string_view();
  ARROW_RETURN_NOT_OK(Authorize(context, ForAction(action.type, body)));
  return GuardedFlightService::DoAction(context, action, result);
}

}  // namespace arbalest
