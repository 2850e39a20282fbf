#include "metrics/metrics_server.h"

#include <arrow/status.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <exception>

namespace arbalest {
namespace {

prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  return prometheus::MetricFamily{
      std::move(name), std::move(help), prometheus::MetricType::Gauge, {metric}};
}

class StoreCollector : public prometheus::Collectable {
 public:
  explicit StoreCollector(std::shared_ptr<VectorStore> store) : store_(std::move(store)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    int64_t rows = 0;
    int64_t deleted_rows = 0;
    int64_t bytes = 0;
    const auto datasets = store_->List();
    for (const auto& dataset : datasets) {
      const DatasetSnapshot snapshot = dataset->Snapshot();
      rows += snapshot.live_rows();
      deleted_rows += snapshot.num_rows - snapshot.live_rows();
      bytes += snapshot.num_bytes;
    }
    return {
        Gauge("arbalest_datasets", "Datasets in the store.", static_cast<double>(datasets.size())),
        Gauge("arbalest_rows", "Live rows, all datasets.", static_cast<double>(rows)),
        Gauge("arbalest_deleted_rows", "Deleted rows still stored, all datasets.",
              static_cast<double>(deleted_rows)),
        Gauge("arbalest_stored_bytes", "Bytes of Arrow data stored.", static_cast<double>(bytes)),
        Gauge("arbalest_memory_used_bytes", "Bytes charged to the memory budget.",
              static_cast<double>(store_->memory().used())),
        Gauge("arbalest_memory_limit_bytes", "--max-memory (0 = unlimited).",
              static_cast<double>(store_->memory().limit())),
    };
  }

 private:
  std::shared_ptr<VectorStore> store_;
};

}  // namespace

arrow::Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, int port, std::shared_ptr<VectorStore> store) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // prometheus-cpp reports bind failures by exception; none crosses this function.
    exposer = std::make_unique<prometheus::Exposer>(host + ":" + std::to_string(port));
  } catch (const std::exception& e) {
    return arrow::Status::IOError("cannot serve metrics on ", host, ":", port,
                                  " (--metrics-port; is it in use?): ", e.what());
  }
  auto collector = std::make_shared<StoreCollector>(std::move(store));
  exposer->RegisterCollectable(collector);
  const auto ports = exposer->GetListeningPorts();
  const int bound = ports.empty() ? port : ports.front();
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), std::move(collector), bound));
}

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                             std::shared_ptr<prometheus::Collectable> collector, int port)
    : exposer_(std::move(exposer)), collector_(std::move(collector)), port_(port) {}

MetricsServer::~MetricsServer() = default;

}  // namespace arbalest
