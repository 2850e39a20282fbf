#include "metrics/fd_collector.h"

#include "common/fd_limits.h"
#include "common/fd_reserve.h"
#include "metrics/metric_families.h"

namespace arbalest {

std::vector<prometheus::MetricFamily> FdCollector::Collect() const {
  return {
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
}

}  // namespace arbalest
