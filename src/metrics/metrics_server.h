// The HTTP side of a node, on the metrics port: GET /metrics (Prometheus text format), /healthz
// (200 while the process serves) and /readyz (200 once startup recovery is done and the Flight
// ports serve, 503 before). Served by civetweb, the embedded server prometheus-cpp uses too.
#pragma once

#include <arrow/result.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Collectable;
}  // namespace prometheus

class CivetServer;

namespace arbalest {

struct MetricsServerOptions {
  std::string host = "127.0.0.1";
  int port = 9090;             // 0 picks a free port
  bool port_fallback = false;  // when `port` is taken, take the next free one (logged)
};

class MetricsServer {
 public:
  // Binds and serves. `collectables` are scraped in order; `ready` answers /readyz. IOError
  // naming the port (and --metrics-port) when it is taken and fallback is off.
  static arrow::Result<std::unique_ptr<MetricsServer>> Start(
      const MetricsServerOptions& options,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
      std::function<bool()> ready);
  ~MetricsServer();

  int port() const { return port_; }

 private:
  struct Handlers;
  MetricsServer(std::unique_ptr<Handlers> handlers, std::unique_ptr<CivetServer> http, int port);

  std::unique_ptr<Handlers> handlers_;  // outlive http_, which calls them
  std::unique_ptr<CivetServer> http_;
  int port_;
};

}  // namespace arbalest
