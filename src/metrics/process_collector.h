// The process as Prometheus metrics, read at scrape time, under the names Prometheus' other
// client libraries use (process_resident_memory_bytes, process_cpu_seconds_total,
// process_open_fds, ...), so existing dashboards and alert rules apply; plus the --fd-reserve
// kept free for the WAL and snapshots, the connections refused to keep it, and
// arbalest_build_info (always 1; the version, Arrow's version and the SIMD target as labels).
#pragma once

#include <prometheus/collectable.h>

#include <string>
#include <vector>

namespace arbalest {

struct BuildInfo {
  std::string version;
  std::string arrow_version;
  std::string simd_target;
};

class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(BuildInfo build) : build_(std::move(build)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const BuildInfo build_;
};

}  // namespace arbalest
