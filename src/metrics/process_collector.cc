#include "metrics/process_collector.h"

#include <spdlog/spdlog.h>

#include "common/fd_limits.h"
#include "common/fd_reserve.h"
#include "metrics/metric_families.h"
#include "metrics/process_stats.h"

namespace arbalest {

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  prometheus::MetricFamily build_info =
      Gauge("arbalest_build_info", "Always 1: the running build, as labels.", 1);
  build_info.metric[0].label = {{"version", build_.version},
                                {"arrow_version", build_.arrow_version},
                                {"simd_target", build_.simd_target}};
  std::vector<prometheus::MetricFamily> families = {
      std::move(build_info),
      Gauge("process_open_fds", "Open file descriptors.", static_cast<double>(CountOpenFds())),
      Gauge("process_max_fds", "The open file limit (soft RLIMIT_NOFILE).",
            static_cast<double>(CurrentOpenFileLimit())),
      Gauge("arbalest_fd_reserve",
            "File descriptors kept free of client connections for the WAL and snapshots "
            "(--fd-reserve).",
            static_cast<double>(FdReserve())),
      Counter("arbalest_connections_refused_total",
              "Connections closed at accept to keep --fd-reserve descriptors free.",
              static_cast<double>(RefusedConnections())),
  };
  auto stats = ReadProcessStats();
  if (!stats.ok()) {
    spdlog::debug("process metrics: {}", stats.status().message());
    return families;
  }
  families.push_back(Gauge("process_resident_memory_bytes", "Resident memory size (RSS).",
                           static_cast<double>(stats->resident_bytes)));
  families.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size.",
                           static_cast<double>(stats->virtual_bytes)));
  families.push_back(
      Counter("process_cpu_seconds_total", "User and system CPU time spent.", stats->cpu_seconds));
  families.push_back(Gauge("process_start_time_seconds", "Unix time the process started.",
                           stats->start_time_seconds));
  families.push_back(
      Gauge("process_threads", "Threads of the process.", static_cast<double>(stats->threads)));
  return families;
}

}  // namespace arbalest
