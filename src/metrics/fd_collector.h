// The process's file descriptors as Prometheus metrics, read at scrape time:
// process_open_fds and process_max_fds (the names other Prometheus clients use), the
// --fd-reserve kept free for the WAL and snapshots, and the connections refused to keep it.
#pragma once

#include <prometheus/collectable.h>

#include <vector>

namespace arbalest {

class FdCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace arbalest
