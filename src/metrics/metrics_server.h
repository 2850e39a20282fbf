// Prometheus exposition on the metrics port: GET /metrics in the text format.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>

#include "store/vector_store.h"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace arbalest {

// Serves the store's gauges (datasets, rows, bytes, memory used and limit), read at scrape time
// so that the write path pays nothing for them.
class MetricsServer {
 public:
  // Binds host:port (0 picks a free port). IOError naming the port when it is taken.
  static arrow::Result<std::unique_ptr<MetricsServer>> Start(const std::string& host, int port,
                                                             std::shared_ptr<VectorStore> store);
  ~MetricsServer();

  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::shared_ptr<prometheus::Collectable> collector, int port);

  std::unique_ptr<prometheus::Exposer> exposer_;
  // The exposer holds collectables by weak_ptr: this keeps ours alive.
  std::shared_ptr<prometheus::Collectable> collector_;
  int port_;
};

}  // namespace arbalest
