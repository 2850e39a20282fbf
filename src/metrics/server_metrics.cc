#include "metrics/server_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace arbalest {
namespace {

// 25 us .. ~13 s, doubling: RPCs and searches range from a small search answered in tens of
// microseconds to a large put or a long-polled check_readiness.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries bounds = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (double bound = 25e-6; bound < 15.0; bound *= 2) b.push_back(bound);
    return b;
  }();
  return bounds;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpcs_(prometheus::BuildCounter()
                .Name("arbalest_rpc_total")
                .Help("Flight RPCs finished, by method, action (DoAction) and gRPC status code.")
                .Register(*registry_)),
      rpc_seconds_(prometheus::BuildHistogram()
                       .Name("arbalest_rpc_duration_seconds")
                       .Help("Flight RPC latency (whole call, streams included), by method and "
                             "action.")
                       .Register(*registry_)),
      search_seconds_(prometheus::BuildHistogram()
                          .Name("arbalest_search_duration_seconds")
                          .Help("Latency of one k-NN query inside the server.")
                          .Register(*registry_)
                          .Add({}, LatencyBuckets())),
      wal_sync_seconds_(prometheus::BuildHistogram()
                            .Name("arbalest_wal_fsync_duration_seconds")
                            .Help("Latency of one fdatasync of the write-ahead log.")
                            .Register(*registry_)
                            .Add({}, LatencyBuckets())) {}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::ObserveRpc(const std::string& method, const std::string& action,
                               const std::string& grpc_code, double seconds) {
  rpcs_.Add({{"method", method}, {"action", action}, {"grpc_code", grpc_code}}).Increment();
  rpc_seconds_.Add({{"method", method}, {"action", action}}, LatencyBuckets()).Observe(seconds);
}

void ServerMetrics::ObserveSearch(double seconds) { search_seconds_.Observe(seconds); }

void ServerMetrics::ObserveWalSync(double seconds) { wal_sync_seconds_.Observe(seconds); }

}  // namespace arbalest
