// The HTTP side of a node, on the metrics port: GET /metrics (Prometheus text format), /healthz
// (200 while the process serves), /readyz (200 once startup recovery is done and the Flight
// ports serve, 503 before), and the status page: / with its embedded assets (status_assets.h)
// and /api/status, the JSON document the page polls (status_api.h). Served by libmicrohttpd from
// one epoll thread, so that connections that send nothing, or a request a byte at a time, cost a
// socket each and never hold up the probes (a thread-per-connection server is starved by as many
// idle connections as it has threads). Idle connections are closed after a timeout; the connection
// count is capped.
#pragma once

#include <arrow/result.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Collectable;
}  // namespace prometheus

struct MHD_Daemon;

namespace arbalest {

struct MetricsServerOptions {
  std::string host = "127.0.0.1";
  int port = 9090;             // 0 picks a free port
  bool port_fallback = false;  // when `port` is taken, take the next free one (logged)
  // PEM certificate and key (--tls-cert, --tls-key): serve HTTPS only. Empty: plain HTTP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

// The cluster's side of the metrics port: GET /cluster (its status JSON) and a line appended
// to /readyz's body. Unset: /cluster is 404, /readyz says "ready" alone.
struct ClusterEndpoints {
  std::function<std::string()> status;
  std::function<std::string()> ready_detail;
};

class MetricsServer {
 public:
  // Binds and serves. `collectables` are scraped in order; `ready` answers /readyz; `status`
  // answers /api/status (null: no status page, / is 404); `cluster` answers /cluster. IOError
  // naming the port (and --metrics-port) when it is taken and fallback is off.
  static arrow::Result<std::unique_ptr<MetricsServer>> Start(
      const MetricsServerOptions& options,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
      std::function<bool()> ready, std::function<std::string()> status = nullptr,
      ClusterEndpoints cluster = {});
  ~MetricsServer();

  int port() const { return port_; }

  // What the daemon's thread calls; public for its C callback.
  struct Endpoints {
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
    std::function<bool()> ready;
    std::function<std::string()> status;
    ClusterEndpoints cluster;
  };

 private:
  MetricsServer(std::unique_ptr<Endpoints> endpoints, MHD_Daemon* daemon, int port,
                std::unique_ptr<MetricsServerOptions> options)
      : endpoints_(std::move(endpoints)),
        daemon_(daemon),
        port_(port),
        options_(std::move(options)) {}

  std::unique_ptr<Endpoints> endpoints_;  // outlives daemon_, which calls it
  MHD_Daemon* daemon_;
  int port_;
  std::unique_ptr<MetricsServerOptions> options_;  // the TLS key stays valid while serving
};

}  // namespace arbalest
