#include "metrics/metrics_server.h"

#include <CivetServer.h>
#include <arrow/status.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace arbalest {
namespace {

// How many ports past --metrics-port the fallback tries.
constexpr int kFallbackPorts = 64;

void Reply(mg_connection* connection, int code, std::string_view reason,
           std::string_view content_type, std::string_view body) {
  mg_printf(connection,
            "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            code, static_cast<int>(reason.size()), reason.data(),
            static_cast<int>(content_type.size()), content_type.data(), body.size());
  mg_write(connection, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(std::vector<std::shared_ptr<prometheus::Collectable>> collectables)
      : collectables_(std::move(collectables)) {}

  bool handleGet(CivetServer*, mg_connection* connection) override {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : collectables_) {
      auto collected = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(collected.begin()),
                      std::make_move_iterator(collected.end()));
    }
    Reply(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
          prometheus::TextSerializer().Serialize(families));
    return true;
  }

 private:
  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

// 200 with `ok_body` while `check` holds, else 503 with `failing_body`.
class ProbeHandler : public CivetHandler {
 public:
  ProbeHandler(std::function<bool()> check, std::string ok_body, std::string failing_body)
      : check_(std::move(check)),
        ok_body_(std::move(ok_body)),
        failing_body_(std::move(failing_body)) {}

  bool handleGet(CivetServer*, mg_connection* connection) override {
    if (check_()) {
      Reply(connection, 200, "OK", "text/plain", ok_body_);
    } else {
      Reply(connection, 503, "Service Unavailable", "text/plain", failing_body_);
    }
    return true;
  }

 private:
  const std::function<bool()> check_;
  const std::string ok_body_;
  const std::string failing_body_;
};

}  // namespace

struct MetricsServer::Handlers {
  MetricsHandler metrics;
  ProbeHandler health;
  ProbeHandler ready;
};

arrow::Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsServerOptions& options,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
    std::function<bool()> ready) {
  auto handlers = std::unique_ptr<Handlers>(new Handlers{
      MetricsHandler(std::move(collectables)), ProbeHandler([] { return true; }, "ok\n", ""),
      ProbeHandler(std::move(ready), "ready\n", "starting: recovering data\n")});
  const int tries = options.port_fallback && options.port != 0 ? kFallbackPorts : 1;
  std::string last_error;
  for (int i = 0; i < tries; ++i) {
    const int port = options.port + i;
    std::unique_ptr<CivetServer> http;
    try {
      // civetweb reports bind failures by exception; none crosses this function.
      http = std::make_unique<CivetServer>(std::vector<std::string>{
          "listening_ports", options.host + ":" + std::to_string(port), "num_threads", "4"});
    } catch (const std::exception& e) {
      last_error = e.what();
      continue;
    }
    http->addHandler("/metrics", handlers->metrics);
    http->addHandler("/healthz", handlers->health);
    http->addHandler("/readyz", handlers->ready);
    const auto ports = http->getListeningPorts();
    const int bound = ports.empty() ? port : ports.front();
    if (i > 0) {
      spdlog::warn("metrics port {} is taken; serving metrics on port {} (--metrics-port-fallback)",
                   options.port, bound);
    }
    return std::unique_ptr<MetricsServer>(
        new MetricsServer(std::move(handlers), std::move(http), bound));
  }
  return arrow::Status::IOError(
      "cannot serve metrics on ", options.host, ":", options.port,
      tries > 1 ? " or the " + std::to_string(tries - 1) + " ports after it" : std::string(),
      " (--metrics-port; is it in use? --metrics-port-fallback takes the next free port): ",
      last_error);
}

MetricsServer::MetricsServer(std::unique_ptr<Handlers> handlers, std::unique_ptr<CivetServer> http,
                             int port)
    : handlers_(std::move(handlers)), http_(std::move(http)), port_(port) {}

MetricsServer::~MetricsServer() {
  if (http_) http_->close();
}

}  // namespace arbalest
