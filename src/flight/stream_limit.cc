#include "flight/stream_limit.h"

#include <arrow/flight/server.h>
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
  StreamSlot(std::shared_ptr<StreamLimit> limit, StreamSource source)
      : limit_(std::move(limit)), source_(source) {}
  ~StreamSlot() override { Release(); }

  std::string name() const override { return "arbalest-stream-slot"; }
  void SendingHeaders(fl::AddCallHeaders*) override {}
  void CallCompleted(const arrow::Status&) override { Release(); }

 private:
  void Release() {
    if (!released_.exchange(true)) limit_->Close(source_);
  }

  const std::shared_ptr<StreamLimit> limit_;
  const StreamSource source_;
  std::atomic<bool> released_{false};
};

bool IsStream(fl::FlightMethod method) {
  return method == fl::FlightMethod::DoPut || method == fl::FlightMethod::DoGet ||
         method == fl::FlightMethod::DoExchange;
}

}  // namespace

arrow::Status StreamLimit::Open(StreamSource source) {
  Counts& counts = Of(source);
  const int64_t open = counts.open.fetch_add(1, std::memory_order_relaxed) + 1;
  if (open <= max_streams_) return arrow::Status::OK();
  counts.open.fetch_sub(1, std::memory_order_relaxed);
  counts.refused.fetch_add(1, std::memory_order_relaxed);
  if (source == StreamSource::kCluster) {
    return arrow::Status::CapacityError(
        max_streams_,
        " DoPut/DoGet/DoExchange streams from cluster nodes (cluster token) are open, the most "
        "--max-streams allows them; retry when one has finished");
  }
  return arrow::Status::CapacityError(
      max_streams_,
      " DoPut/DoGet/DoExchange streams are open, the most --max-streams allows; "
      "retry when one has finished");
}

std::vector<prometheus::MetricFamily> StreamLimit::Collect() const {
  return {
      Gauge("arbalest_open_streams", "Clients' DoPut, DoGet and DoExchange calls open, both ports.",
            static_cast<double>(open(StreamSource::kClient))),
      Gauge("arbalest_max_streams", "--max-streams (for clients' streams, and for cluster nodes').",
            static_cast<double>(max_streams_)),
      Counter("arbalest_streams_refused_total",
              "Clients' streaming calls refused by --max-streams.",
              static_cast<double>(clients_.refused.load(std::memory_order_relaxed))),
      Gauge("arbalest_open_cluster_streams",
            "DoPut, DoGet and DoExchange calls open from cluster nodes (a token of role cluster).",
            static_cast<double>(open(StreamSource::kCluster))),
      Counter("arbalest_cluster_streams_refused_total",
              "Cluster nodes' streaming calls refused by --max-streams.",
              static_cast<double>(cluster_.refused.load(std::memory_order_relaxed))),
  };
}

arrow::Status StreamLimitFactory::StartCall(const fl::CallInfo& info,
                                            const fl::ServerCallContext& context,
                                            std::shared_ptr<fl::ServerMiddleware>* middleware) {
  if (!IsStream(info.method)) return arrow::Status::OK();
  const StreamSource source = from_cluster_ && from_cluster_(context.incoming_headers())
                                  ? StreamSource::kCluster
                                  : StreamSource::kClient;
  if (arrow::Status status = limit_->Open(source); !status.ok()) {
    spdlog::debug("refused a stream: {}", status.message());
    return ForClient(std::move(status));
  }
  *middleware = std::make_shared<StreamSlot>(limit_, source);
  return arrow::Status::OK();
}

}  // namespace arbalest
