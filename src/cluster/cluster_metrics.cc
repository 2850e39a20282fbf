#include "cluster/cluster_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace arbalest {
namespace {

prometheus::Gauge& NewGauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter& NewCounter(prometheus::Registry& registry, const char* name,
                                const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

ClusterMetrics::ClusterMetrics(prometheus::Registry& registry)
    : degraded_(NewGauge(registry, "arbalest_cluster_degraded",
                         "1 while this node cannot reach etcd (it serves what it holds with the "
                         "member list it last saw), else 0.")),
      members_(NewGauge(registry, "arbalest_cluster_members",
                        "Members of the cluster (this node included) as last seen in etcd.")),
      etcd_errors_(NewCounter(registry, "arbalest_cluster_etcd_errors_total",
                              "Failed etcd calls: lease keepalives, puts, reads, broken watches.")),
      rejoins_(NewCounter(registry, "arbalest_cluster_rejoins_total",
                          "Times this node re-granted its lease and re-published its member key "
                          "after losing it.")),
      fanouts_(NewCounter(registry, "arbalest_cluster_fanout_searches_total",
                          "Searches fanned out to the cluster's members.")),
      missing_(NewCounter(registry, "arbalest_cluster_missing_members_total",
                          "Members missing from fanned-out searches (no answer in time, no "
                          "dataset, or an error), summed over searches.")),
      hedged_(NewCounter(registry, "arbalest_cluster_hedged_reads_total",
                         "Shard reads that asked another replica because the first had not "
                         "answered within --cluster-hedge-after.")),
      put_streams_opened_(NewCounter(registry, "arbalest_cluster_put_streams_opened_total",
                                     "Put streams opened to peers: each carries the slices of "
                                     "many routed puts (and their replication) to one peer.")),
      put_stream_slices_(NewCounter(registry, "arbalest_cluster_put_stream_slices_total",
                                    "Slices of routed puts sent on put streams.")),
      put_streams_broken_(NewCounter(registry, "arbalest_cluster_put_streams_broken_total",
                                     "Put streams that failed (peer gone, call failed, a slice "
                                     "timed out); their waiting slices failed with them.")),
      put_streams_cancelled_(NewCounter(registry, "arbalest_cluster_put_streams_cancelled_total",
                                        "Put streams cancelled when closed because their peer "
                                        "did not end the call in time (a hung peer).")),
      put_streams_open_(NewGauge(registry, "arbalest_cluster_put_streams_open",
                                 "Put streams open to peers now.")) {}

void ClusterMetrics::SetDegraded(bool degraded) { degraded_.Set(degraded ? 1 : 0); }
void ClusterMetrics::SetMembers(int64_t members) { members_.Set(static_cast<double>(members)); }
void ClusterMetrics::EtcdError() { etcd_errors_.Increment(); }
void ClusterMetrics::Rejoined() { rejoins_.Increment(); }
void ClusterMetrics::Hedged() { hedged_.Increment(); }
void ClusterMetrics::PutStreamOpened() { put_streams_opened_.Increment(); }
void ClusterMetrics::PutStreamSlice() { put_stream_slices_.Increment(); }
void ClusterMetrics::PutStreamBroken() { put_streams_broken_.Increment(); }
void ClusterMetrics::PutStreamCancelled() { put_streams_cancelled_.Increment(); }
void ClusterMetrics::SetPutStreamsOpen(int64_t open) {
  put_streams_open_.Set(static_cast<double>(open));
}
void ClusterMetrics::FannedOut(int64_t missing_members) {
  fanouts_.Increment();
  missing_.Increment(static_cast<double>(missing_members));
}

}  // namespace arbalest
