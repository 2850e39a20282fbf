// What the server observes as it runs (RPCs by method and status, search latency, WAL fsync
// latency), held in a Prometheus registry that the metrics endpoint serializes. The store's
// state (rows, memory, index lag) is not here: StoreCollector reads it at scrape time.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace arbalest {

// Thread-safe.
class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();

  // A finished RPC: counted by method, action (DoAction's type, else empty) and gRPC status
  // code, its latency by method and action.
  void ObserveRpc(const std::string& method, const std::string& action,
                  const std::string& grpc_code, double seconds);
  // One k-NN query answered (DoGet search ticket or one query of VectorSearch).
  void ObserveSearch(double seconds);
  // One fdatasync of the write-ahead log.
  void ObserveWalSync(double seconds);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Histogram& search_seconds_;
  prometheus::Histogram& wal_sync_seconds_;
};

}  // namespace arbalest
