// The cluster's Prometheus metrics (docs/operations.md), registered in the node's registry:
//   arbalest_cluster_degraded             1 while etcd is unreachable (lease or watch failing)
//   arbalest_cluster_members              members listed in etcd as this node last saw them
//   arbalest_cluster_etcd_errors_total    failed etcd calls (keepalive, put, range, watch)
//   arbalest_cluster_rejoins_total        times this node re-granted its lease and re-put its key
//   arbalest_cluster_fanout_searches_total  searches fanned out to the members
//   arbalest_cluster_missing_members_total  members missing from a fanned-out search's result
//   arbalest_cluster_put_streams_opened_total  put streams opened to peers (put_streams.h)
//   arbalest_cluster_put_stream_slices_total   slices sent on them
//   arbalest_cluster_put_streams_broken_total  streams that failed (their slices with them)
//   arbalest_cluster_put_streams_cancelled_total  streams cancelled as their peer did not end the
//                                                call when closed (a hung peer)
//   arbalest_cluster_put_streams_open          put streams open now
//   arbalest_cluster_digest_cache_bytes        the content hashes kept per segment (also
//                                              charged to --max-memory)
//   arbalest_cluster_catchups_total{outcome}   catch-ups ended: caught_up, failed
//   arbalest_cluster_catchup_rows_copied_total{pass}  rows they stored: bulk, reconcile (before
//                                              the fences), fenced (while the writes paused)
//   arbalest_cluster_catchup_fenced_seconds    how long each paused its shard's writes
//   arbalest_cluster_catchup_digest_buckets_total{result}  digest buckets their reconciles
//                                              compared: compared, differ
//   arbalest_cluster_catchup_segments_adopted_total  sealed segments their bulk passes adopted
//   arbalest_cluster_catchup_rows_adopted_total      rows of those segments
//   arbalest_cluster_catchup_rows_scanned_total      rows their bulk passes' row scans read
//   arbalest_cluster_catchup_bytes_scanned_total     the Arrow bytes of those rows
//   arbalest_cluster_catchup_snapshots_total{outcome}  snapshots of copies that adopted segments
//                                              or copied rows, asked for before the flip:
//                                              written, failed (not in time)
#pragma once

#include <cstdint>
#include <memory>

namespace prometheus {
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
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
  // The put streams to peers (put_streams.h).
  void PutStreamOpened();
  void PutStreamSlice();
  void PutStreamBroken();
  void PutStreamCancelled();
  void SetPutStreamsOpen(int64_t open);
  // The memory of the content hashes kept per segment (digest_cache.h).
  void SetDigestCacheBytes(int64_t bytes);
  // What a catch-up that ended copied (shard_catchup.h); nothing for one that failed.
  struct CatchupCounts {
    int64_t rows_bulk = 0;
    int64_t rows_reconcile = 0;  // by the reconcile before the fences
    int64_t rows_fenced = 0;
    double fenced_seconds = 0;
    int64_t buckets_compared = 0;  // by both reconciles
    int64_t buckets_differ = 0;
    int64_t segments_adopted = 0;
    int64_t rows_adopted = 0;
    int64_t rows_scanned = 0;
    int64_t bytes_scanned = 0;
    // The snapshot of the adopted copy (shard_catchup.h): asked for, and written in time.
    bool snapshot_asked = false;
    bool snapshot_written = false;
  };
  void CatchupCaughtUp(const CatchupCounts& counts);
  void CatchupFailed();

 private:
  prometheus::Gauge& degraded_;
  prometheus::Gauge& members_;
  prometheus::Counter& etcd_errors_;
  prometheus::Counter& rejoins_;
  prometheus::Counter& fanouts_;
  prometheus::Counter& missing_;
  prometheus::Counter& hedged_;
  prometheus::Counter& put_streams_opened_;
  prometheus::Counter& put_stream_slices_;
  prometheus::Counter& put_streams_broken_;
  prometheus::Counter& put_streams_cancelled_;
  prometheus::Gauge& put_streams_open_;
  prometheus::Gauge& digest_cache_bytes_;
  prometheus::Family<prometheus::Counter>& catchups_;
  prometheus::Family<prometheus::Counter>& catchup_rows_;
  prometheus::Family<prometheus::Counter>& catchup_buckets_;
  prometheus::Counter& catchups_caught_up_;
  prometheus::Counter& catchups_failed_;
  prometheus::Counter& catchup_rows_bulk_;
  prometheus::Counter& catchup_rows_reconcile_;
  prometheus::Counter& catchup_rows_fenced_;
  prometheus::Histogram& catchup_fenced_seconds_;
  prometheus::Counter& catchup_buckets_compared_;
  prometheus::Counter& catchup_buckets_differ_;
  prometheus::Counter& catchup_segments_adopted_;
  prometheus::Counter& catchup_rows_adopted_;
  prometheus::Counter& catchup_rows_scanned_;
  prometheus::Counter& catchup_bytes_scanned_;
  prometheus::Family<prometheus::Counter>& catchup_snapshots_;
  prometheus::Counter& catchup_snapshots_written_;
  prometheus::Counter& catchup_snapshots_failed_;
};

}  // namespace arbalest
