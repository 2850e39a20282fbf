#include "flight/stream_limit.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include "flight/ingest_stream.h"
#include "metrics/metric_families.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// Holds one slot of the limit from the call's start until it completes.
class StreamSlot : public fl::ServerMiddleware {
 public:
  explicit StreamSlot(std::shared_ptr<StreamLimit> limit) : limit_(std::move(limit)) {}
  ~StreamSlot() override { Release(); }

  std::string name() const override { return "arbalest-stream-slot"; }
  void SendingHeaders(fl::AddCallHeaders*) override {}
  void CallCompleted(const arrow::Status&) override { Release(); }

 private:
  void Release() {
    if (!released_.exchange(true)) limit_->Close();
  }

  const std::shared_ptr<StreamLimit> limit_;
  std::atomic<bool> released_{false};
};

bool IsStream(fl::FlightMethod method) {
  return method == fl::FlightMethod::DoPut || method == fl::FlightMethod::DoGet ||
         method == fl::FlightMethod::DoExchange;
}

}  // namespace

arrow::Status StreamLimit::Open() {
  const int64_t open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (open <= max_streams_) return arrow::Status::OK();
  open_.fetch_sub(1, std::memory_order_relaxed);
  refused_.fetch_add(1, std::memory_order_relaxed);
  return arrow::Status::CapacityError(
      max_streams_,
      " DoPut/DoGet/DoExchange streams are open, the most --max-streams allows; "
      "retry when one has finished");
}

std::vector<prometheus::MetricFamily> StreamLimit::Collect() const {
  return {
      Gauge("arbalest_open_streams", "DoPut, DoGet and DoExchange calls open, both ports.",
            static_cast<double>(open())),
      Gauge("arbalest_max_streams", "--max-streams.", static_cast<double>(max_streams_)),
      Counter("arbalest_streams_refused_total", "Streaming calls refused by --max-streams.",
              static_cast<double>(refused_.load(std::memory_order_relaxed))),
  };
}

arrow::Status StreamLimitFactory::StartCall(const fl::CallInfo& info, const fl::ServerCallContext&,
                                            std::shared_ptr<fl::ServerMiddleware>* middleware) {
  if (!IsStream(info.method)) return arrow::Status::OK();
  if (arrow::Status status = limit_->Open(); !status.ok()) {
    spdlog::debug("refused a stream: {}", status.message());
    return ForClient(std::move(status));
  }
  *middleware = std::make_shared<StreamSlot>(limit_);
  return arrow::Status::OK();
}

}  // namespace arbalest
