// The cluster's Prometheus metrics (docs/operations.md), registered in the node's registry:
//   arbalest_cluster_degraded             1 while etcd is unreachable (lease or watch failing)
//   arbalest_cluster_members              members listed in etcd as this node last saw them
//   arbalest_cluster_etcd_errors_total    failed etcd calls (keepalive, put, range, watch)
//   arbalest_cluster_rejoins_total        times this node re-granted its lease and re-put its key
//   arbalest_cluster_fanout_searches_total  searches fanned out to the members
//   arbalest_cluster_missing_members_total  members missing from a fanned-out search's result
#pragma once

#include <cstdint>
#include <memory>

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace arbalest {

// Thread-safe (prometheus-cpp's metrics are).
class ClusterMetrics {
 public:
  explicit ClusterMetrics(prometheus::Registry& registry);

  void SetDegraded(bool degraded);
  void SetMembers(int64_t members);
  void EtcdError();
  void Rejoined();
  void FannedOut(int64_t missing_members);
  // A shard read asked a second replica because the first had not answered in time.
  void Hedged();

 private:
  prometheus::Gauge& degraded_;
  prometheus::Gauge& members_;
  prometheus::Counter& etcd_errors_;
  prometheus::Counter& rejoins_;
  prometheus::Counter& fanouts_;
  prometheus::Counter& missing_;
  prometheus::Counter& hedged_;
};

}  // namespace arbalest
