#include "cluster/cluster_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
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

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

// 10 ms to about 80 s: a fenced pause is a few tens of ms for a shard in step, up to the
// fence's hold (30 s by default) when much differs.
prometheus::Histogram::BucketBoundaries PauseBuckets() {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double bound = 0.01; bound < 100; bound *= 2) bounds.push_back(bound);
  return bounds;
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
                                 "Put streams open to peers now.")),
      digest_cache_bytes_(NewGauge(registry, "arbalest_cluster_digest_cache_bytes",
                                   "Memory of the row hashes this node keeps per segment for "
                                   "shard digests (also counted in arbalest_memory_used_bytes "
                                   "and charged to --max-memory).")),
      catchups_(CounterFamily(registry, "arbalest_cluster_catchups_total",
                              "Catch-ups of a syncing shard replica that ended on this node, by "
                              "outcome (caught_up: now a full replica; failed: retried later).")),
      catchup_rows_(CounterFamily(registry, "arbalest_cluster_catchup_rows_copied_total",
                                  "Rows that catch-ups which caught up stored from the primary, "
                                  "by pass (bulk: writes going on; reconcile: before the fences; "
                                  "fenced: while the shard's writes paused).")),
      catchup_buckets_(CounterFamily(registry, "arbalest_cluster_catchup_digest_buckets_total",
                                     "Digest buckets of ids that catch-ups' reconciles compared "
                                     "with the primary's (compared), and those whose digests "
                                     "differed (differ).")),
      catchups_caught_up_(catchups_.Add({{"outcome", "caught_up"}})),
      catchups_failed_(catchups_.Add({{"outcome", "failed"}})),
      catchup_rows_bulk_(catchup_rows_.Add({{"pass", "bulk"}})),
      catchup_rows_reconcile_(catchup_rows_.Add({{"pass", "reconcile"}})),
      catchup_rows_fenced_(catchup_rows_.Add({{"pass", "fenced"}})),
      catchup_fenced_seconds_(prometheus::BuildHistogram()
                                  .Name("arbalest_cluster_catchup_fenced_seconds")
                                  .Help("How long each catch-up that caught up paused its "
                                        "shard's writes on the primary (the fenced reconcile).")
                                  .Register(registry)
                                  .Add({}, PauseBuckets())),
      catchup_buckets_compared_(catchup_buckets_.Add({{"result", "compared"}})),
      catchup_buckets_differ_(catchup_buckets_.Add({{"result", "differ"}})),
      catchup_segments_adopted_(NewCounter(registry,
                                           "arbalest_cluster_catchup_segments_adopted_total",
                                           "Sealed segments that catch-ups which caught up "
                                           "adopted whole from the primary, with their graphs.")),
      catchup_rows_adopted_(NewCounter(registry, "arbalest_cluster_catchup_rows_adopted_total",
                                       "Rows of the segments catch-ups adopted whole.")),
      catchup_rows_scanned_(NewCounter(registry, "arbalest_cluster_catchup_rows_scanned_total",
                                       "Rows that catch-ups' bulk row scans read from the "
                                       "primary (after the segments they adopted).")),
      catchup_bytes_scanned_(NewCounter(registry, "arbalest_cluster_catchup_bytes_scanned_total",
                                        "Arrow bytes of the rows catch-ups' bulk row scans "
                                        "read from the primary.")),
      catchup_snapshots_(CounterFamily(registry, "arbalest_cluster_catchup_snapshots_total",
                                       "Snapshots of shard copies that adopted segments or "
                                       "copied rows, asked for by their catch-up, by outcome "
                                       "(written: durable before the flip; failed: an error, "
                                       "or not within the wait).")),
      catchup_snapshots_written_(catchup_snapshots_.Add({{"outcome", "written"}})),
      catchup_snapshots_failed_(catchup_snapshots_.Add({{"outcome", "failed"}})) {}

void ClusterMetrics::SetDegraded(bool degraded) { degraded_.Set(degraded ? 1 : 0); }
void ClusterMetrics::SetMembers(int64_t members) { members_.Set(static_cast<double>(members)); }
void ClusterMetrics::EtcdError() { etcd_errors_.Increment(); }
void ClusterMetrics::Rejoined() { rejoins_.Increment(); }
void ClusterMetrics::Hedged() { hedged_.Increment(); }
void ClusterMetrics::PutStreamOpened() { put_streams_opened_.Increment(); }
void ClusterMetrics::PutStreamSlice() { put_stream_slices_.Increment(); }
void ClusterMetrics::PutStreamBroken() { put_streams_broken_.Increment(); }
void ClusterMetrics::PutStreamCancelled() { put_streams_cancelled_.Increment(); }
void ClusterMetrics::SetDigestCacheBytes(int64_t bytes) {
  digest_cache_bytes_.Set(static_cast<double>(bytes));
}

void ClusterMetrics::SetPutStreamsOpen(int64_t open) {
  put_streams_open_.Set(static_cast<double>(open));
}
void ClusterMetrics::CatchupCaughtUp(const CatchupCounts& counts) {
  catchups_caught_up_.Increment();
  catchup_rows_bulk_.Increment(static_cast<double>(counts.rows_bulk));
  catchup_rows_reconcile_.Increment(static_cast<double>(counts.rows_reconcile));
  catchup_rows_fenced_.Increment(static_cast<double>(counts.rows_fenced));
  catchup_fenced_seconds_.Observe(counts.fenced_seconds);
  catchup_buckets_compared_.Increment(static_cast<double>(counts.buckets_compared));
  catchup_buckets_differ_.Increment(static_cast<double>(counts.buckets_differ));
  catchup_segments_adopted_.Increment(static_cast<double>(counts.segments_adopted));
  catchup_rows_adopted_.Increment(static_cast<double>(counts.rows_adopted));
  catchup_rows_scanned_.Increment(static_cast<double>(counts.rows_scanned));
  catchup_bytes_scanned_.Increment(static_cast<double>(counts.bytes_scanned));
  if (counts.snapshot_asked) {
    (counts.snapshot_written ? catchup_snapshots_written_ : catchup_snapshots_failed_).Increment();
  }
}
void ClusterMetrics::CatchupFailed() { catchups_failed_.Increment(); }
void ClusterMetrics::FannedOut(int64_t missing_members) {
  fanouts_.Increment();
  missing_.Increment(static_cast<double>(missing_members));
}

}  // namespace arbalest
