#include "flight/rpc_metrics.h"

#include <arrow/flight/types.h>

#include <chrono>
#include <string>

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// The method's name as users know it from the Flight API (DoPut, DoGet, ...).
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

// The status as a Flight client sees it: the Flight code when there is one (Unavailable,
// ...), else Arrow's (Invalid -> InvalidArgument over the wire, named as Arrow names it).
std::string StatusName(const arrow::Status& status) {
  if (status.ok()) return "OK";
  if (auto detail = fl::FlightStatusDetail::UnwrapStatus(status)) {
    return detail->CodeAsString();
  }
  return status.CodeAsString();
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
    metrics_->ObserveRpc(method_, StatusName(status), seconds);
  }

 private:
  const std::shared_ptr<ServerMetrics> metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace

arrow::Status RpcMetricsFactory::StartCall(const fl::CallInfo& info, const fl::ServerCallContext&,
                                           std::shared_ptr<fl::ServerMiddleware>* middleware) {
  *middleware = std::make_shared<RpcMetrics>(metrics_, MethodName(info.method));
  return arrow::Status::OK();
}

}  // namespace arbalest
