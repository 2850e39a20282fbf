// A cap on the streaming calls open at once (DoPut, DoGet, DoExchange), over both Flight
// ports (--max-streams): each holds a gRPC thread for as long as the client keeps it open,
// sending or not. Past the cap a call is refused before it starts, with UNAVAILABLE and a
// message that starts with "resource exhausted:" and names the flag and the count (the Flight
// transport cannot send RESOURCE_EXHAUSTED; see ForClient). Also a Prometheus collectable:
// arbalest_open_streams, arbalest_max_streams, arbalest_streams_refused_total.
#pragma once

#include <arrow/flight/server_middleware.h>
#include <prometheus/collectable.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace arbalest {

// Thread-safe.
class StreamLimit : public prometheus::Collectable {
 public:
  explicit StreamLimit(int64_t max_streams) : max_streams_(max_streams) {}

  // Takes a slot; CapacityError naming --max-streams when all are taken.
  arrow::Status Open();
  void Close() { open_.fetch_sub(1, std::memory_order_relaxed); }

  int64_t open() const { return open_.load(std::memory_order_relaxed); }
  int64_t max_streams() const { return max_streams_; }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const int64_t max_streams_;
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> refused_{0};
};

// Applies a StreamLimit to DoPut, DoGet and DoExchange calls; other calls pass.
class StreamLimitFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  explicit StreamLimitFactory(std::shared_ptr<StreamLimit> limit) : limit_(std::move(limit)) {}

  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  std::shared_ptr<StreamLimit> limit_;
};

}  // namespace arbalest
