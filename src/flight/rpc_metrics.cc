#include "flight/rpc_metrics.h"

#include <arrow/flight/server.h>
#include <arrow/flight/transport.h>
#include <arrow/flight/types.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>
#include <unordered_set>

#include "common/mutex.h"
#include "flight/actions.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// At most one info line every 10 s summarizes the refused requests.
class RefusalLog {
 public:
  void Note(const std::string& method, const std::string& action, const std::string& code,
            const arrow::Status& status) {
    spdlog::debug("{}{}{} refused ({}): {}", method, action.empty() ? "" : " ", action, code,
                  status.message());
    const auto now = std::chrono::steady_clock::now();
    MutexLock lock(&mutex_);
    ++refused_;
    if (now - last_line_ < std::chrono::seconds(10)) return;
    spdlog::info("{} request{} refused in the last {:.0f} s; latest: {}{}{} {}: {}", refused_,
                 refused_ == 1 ? "" : "s", std::chrono::duration<double>(now - last_line_).count(),
                 method, action.empty() ? "" : " ", action, code, status.message());
    refused_ = 0;
    last_line_ = now;
  }

 private:
  Mutex mutex_;
  int64_t refused_ GUARDED_BY(mutex_) = 0;
  std::chrono::steady_clock::time_point last_line_ GUARDED_BY(mutex_) =
      std::chrono::steady_clock::now() - std::chrono::seconds(10);
};

RefusalLog& Refusals() {
  static RefusalLog* log = new RefusalLog();
  return *log;
}

class RpcMetrics : public fl::ServerMiddleware {
 public:
  RpcMetrics(std::shared_ptr<ServerMetrics> metrics, std::string method)
      : metrics_(std::move(metrics)),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {}

  std::string name() const override { return "arbalest-rpc-metrics"; }
  void SendingHeaders(fl::AddCallHeaders*) override {}
  void CallCompleted(const arrow::Status& status) override {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string code = GrpcCodeName(status);
    metrics_->ObserveRpc(method_, action_, code, seconds);
    // A client hanging up is not a refusal.
    if (!status.ok() && code != "Canceled") Refusals().Note(method_, action_, code, status);
  }

  // Set by the handler before the call completes, on the call's thread.
  void set_action(std::string action) { action_ = std::move(action); }

 private:
  const std::shared_ptr<ServerMetrics> metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  std::string action_;
};

}  // namespace

std::string MethodName(fl::FlightMethod method) {
  switch (method) {
    case fl::FlightMethod::Handshake:
      return "Handshake";
    case fl::FlightMethod::ListFlights:
      return "ListFlights";
    case fl::FlightMethod::GetFlightInfo:
      return "GetFlightInfo";
    case fl::FlightMethod::GetSchema:
      return "GetSchema";
    case fl::FlightMethod::DoGet:
      return "DoGet";
    case fl::FlightMethod::DoPut:
      return "DoPut";
    case fl::FlightMethod::DoAction:
      return "DoAction";
    case fl::FlightMethod::ListActions:
      return "ListActions";
    case fl::FlightMethod::DoExchange:
      return "DoExchange";
    case fl::FlightMethod::PollFlightInfo:
      return "PollFlightInfo";
    default:
      return "Other";
  }
}

std::string GrpcCodeName(const arrow::Status& status) {
  if (status.ok()) return "OK";
  // Flight's gRPC transport converts through TransportStatus the same way.
  switch (fl::internal::TransportStatus::FromStatus(status).code) {
    case fl::TransportStatusCode::kOk:
      return "OK";
    case fl::TransportStatusCode::kInternal:
      return "Internal";
    case fl::TransportStatusCode::kInvalidArgument:
      return "InvalidArgument";
    case fl::TransportStatusCode::kTimedOut:
      return "DeadlineExceeded";
    case fl::TransportStatusCode::kNotFound:
      return "NotFound";
    case fl::TransportStatusCode::kAlreadyExists:
      return "AlreadyExists";
    case fl::TransportStatusCode::kCancelled:
      return "Canceled";
    case fl::TransportStatusCode::kUnauthenticated:
      return "Unauthenticated";
    case fl::TransportStatusCode::kUnauthorized:
      return "PermissionDenied";
    case fl::TransportStatusCode::kUnimplemented:
      return "Unimplemented";
    case fl::TransportStatusCode::kUnavailable:
      return "Unavailable";
    default:
      return "Unknown";
  }
}

void LabelAction(const fl::ServerCallContext& context, const std::string& type) {
  static const auto* known = [] {
    auto* names = new std::unordered_set<std::string>();
    for (const fl::ActionType& action : SupportedActions()) names->insert(action.type);
    return names;
  }();
  if (auto* metrics = dynamic_cast<RpcMetrics*>(context.GetMiddleware(kRpcMetricsKey))) {
    metrics->set_action(known->count(type) ? type : "unknown");
  }
}

arrow::Status RpcMetricsFactory::StartCall(const fl::CallInfo& info, const fl::ServerCallContext&,
                                           std::shared_ptr<fl::ServerMiddleware>* middleware) {
  *middleware = std::make_shared<RpcMetrics>(metrics_, MethodName(info.method));
  return arrow::Status::OK();
}

}  // namespace arbalest
