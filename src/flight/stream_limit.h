// A cap on the streaming calls open at once (DoPut, DoGet, DoExchange), over both Flight
// ports (--max-streams): each holds a gRPC thread for as long as the client keeps it open,
// sending or not. Past the cap a call is refused before it starts, with UNAVAILABLE and a
// message that starts with "resource exhausted:" and names the flag and the count (the Flight
// transport cannot send RESOURCE_EXHAUSTED; see ForClient).
//
// The calls between cluster nodes that carry a token of role cluster (their put streams, search
// hops, catch-up scans) have a cap of their own, of the same size: clients that hold every slot
// do not stop a node's replication or its peers' searches, and a busy cluster's internal
// streams take no slot from the clients. (Without --auth-tokens a node cannot tell its peers
// from clients: every stream counts as a client's.)
//
// Also a Prometheus collectable: arbalest_open_streams, arbalest_max_streams,
// arbalest_streams_refused_total (clients' streams); arbalest_open_cluster_streams,
// arbalest_cluster_streams_refused_total (cluster nodes').
#pragma once

#include <arrow/flight/server_middleware.h>
#include <prometheus/collectable.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace arbalest {

// Whose streams a slot is for.
enum class StreamSource { kClient, kCluster };

// Thread-safe.
class StreamLimit : public prometheus::Collectable {
 public:
  explicit StreamLimit(int64_t max_streams) : max_streams_(max_streams) {}

  // Takes a slot of `source`'s cap; CapacityError naming --max-streams when all are taken.
  arrow::Status Open(StreamSource source = StreamSource::kClient);
  void Close(StreamSource source = StreamSource::kClient) {
    Of(source).open.fetch_sub(1, std::memory_order_relaxed);
  }

  int64_t open(StreamSource source = StreamSource::kClient) const {
    return Of(source).open.load(std::memory_order_relaxed);
  }
  int64_t max_streams() const { return max_streams_; }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Counts {
    std::atomic<int64_t> open{0};
    std::atomic<int64_t> refused{0};
  };
  Counts& Of(StreamSource source) { return source == StreamSource::kCluster ? cluster_ : clients_; }
  const Counts& Of(StreamSource source) const {
    return source == StreamSource::kCluster ? cluster_ : clients_;
  }

  const int64_t max_streams_;
  Counts clients_;
  Counts cluster_;
};

// Whether a call comes from a cluster node: it carries a token of role cluster.
using ClusterCallTest = std::function<bool(const arrow::flight::CallHeaders&)>;

// Applies a StreamLimit to DoPut, DoGet and DoExchange calls; other calls pass. Calls that
// `from_cluster` (may be empty: none) says come from a cluster node take their cap's slots.
class StreamLimitFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  explicit StreamLimitFactory(std::shared_ptr<StreamLimit> limit,
                              ClusterCallTest from_cluster = nullptr)
      : limit_(std::move(limit)), from_cluster_(std::move(from_cluster)) {}

  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  std::shared_ptr<StreamLimit> limit_;
  const ClusterCallTest from_cluster_;
};

}  // namespace arbalest
