// Catch-up of the shards this node holds as a `syncing` replica, and the dropping of the stale
// shard copies it holds without being their replica (docs/cluster.md, "Catch-up"):
//   - A replica added after a shard was created (failover, shard_map.h) receives every new
//     write but lacks the earlier rows. Catch-up copies them from the shard's primary (which
//     holds them all) in two passes (shard_copy.h): a bulk pass that streams the primary's rows
//     and stores those this node lacks while the shard's writes go on, then a reconcile pass
//     while the shard's writes pause: the primary closes its fence (shard_fence.h, the
//     `shard-fence` action) once the writes under way have reached every replica, this node
//     closes its own, the two copies are compared (by digests per bucket of ids, then id by id
//     within the buckets that differ, shard_digest.h) and the ids that differ are replaced by
//     the primary's rows. The same comparison runs once before the fences, right after the
//     bulk pass, so that the fenced one mostly finds nothing to repair. A bulk pass that
//     adopted sealed segments whole or copied rows asks for a snapshot of the copy at once
//     (LocalPuts::snapshot) and waits for it before the fences close (not past the node's
//     stop): once the map names this node a full replica, a restart maps the adopted graphs
//     from segment files rather than indexing their rows again from the log, and reads the
//     copied rows from the snapshot. Then this node turns itself
//     into a full replica by an etcd transaction (compare on the map's revision, only if the
//     shard's epoch and primary are still those it copied from), and both fences open again. The
//     writes pause for the reconcile pass only: two bucket tables, the ids of the buckets that
//     differ and the rows that differ, not the shard's vectors nor its whole id columns. A copy
//     that fails (its source died, the fence's hold ran out, the map changed) flips nothing; it is
//     retried at the next pass, from the primary the map names then.
//   - A node back on its data dir after its shards failed over (a returning node) keeps the
//     copies it holds (KeepBeforeJoining): no map names it their replica, so none is served.
//     A copy whose graph its snapshot did not restore for more than half its rows is dropped
//     there instead (indexing it again takes longer than copying the shard afresh, which
//     adopts the primary's graphs). While the shard's map is still being balanced (a shard
//     syncing, leaving or short of replicas, or members' loads 2 or more apart) and within
//     CatchupEnv::return_grace, a kept copy stays (after, it is dropped as below, and reconciled
//     by content until then); moves prefer to give a member the shards it held before
//     (shard_map.h, `former`). When a map names it
//     a syncing replica of such a shard again, the catch-up compares content digests
//     (PlanKeptCopy, shard_copy.h): when few buckets differ it skips the bulk pass and both
//     reconcile passes replace, by content, only the rows that differ (deleted, put again
//     with another vector, or new while it was away); the shard is served only after the fenced
//     pass and the flip, as for any catch-up. A primary of a build before content digests, or
//     a copy too far behind, gets the copy purged and the shard copied afresh.
//   - A shard copy this node holds while the map does not name it a replica otherwise (a move
//     took it away, or a kept copy no move gave back) is stale: it is dropped, under the
//     shard's fence and after the map was read again from etcd, so that it is never served,
//     nor merged into a later catch-up.
// One thread per node passes over every shard map at an interval. Thread-safe.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/digest_cache.h"
#include "cluster/member.h"
#include "cluster/scan_chain.h"
#include "cluster/shard_copy.h"
#include "cluster/shard_deletes.h"
#include "cluster/shard_fence.h"
#include "cluster/shard_maps.h"
#include "common/json_util.h"
#include "common/mutex.h"
#include "common/periodic_thread.h"
#include "flight/cluster_hooks.h"
#include "flight/segment_shipping.h"

namespace arbalest {

// What catch-up needs of the node.
struct CatchupEnv {
  ShardMaps* maps = nullptr;
  ShardFences* fences = nullptr;
  std::function<std::vector<MemberInfo>()> members;  // the live members, this node included
  std::function<std::optional<MemberInfo>()> self;   // nullopt until joined
  std::function<bool()> degraded;                    // etcd unreachable: no pass
  std::function<std::optional<LocalPuts>()> local;   // this node's store; nullopt until attached
  // A peer's (or this node's) scan stream and first action answer, within a timeout.
  std::function<arrow::Result<ScanPart>(const MemberInfo&, const std::string&,
                                        std::chrono::milliseconds)>
      scan;
  std::function<arrow::Result<Json>(const MemberInfo&, const std::string&, const std::string&,
                                    std::chrono::milliseconds)>
      action;
  std::chrono::milliseconds timeout{5000};  // each call; the wait for writes under way
  std::chrono::milliseconds hold{30000};    // how long a catch-up may pause a shard's writes
  std::chrono::milliseconds bulk_timeout{3600000};  // the bulk pass's scan of the primary
  std::chrono::milliseconds bulk_batch_delay{0};    // ShardCopyEnv::bulk_batch_delay
  std::chrono::milliseconds scan_delay{0};          // ShardCopyEnv::scan_delay
  std::chrono::milliseconds start_delay{0};         // ShardCopyEnv::start_delay
  std::chrono::milliseconds interval{1000};
  // How long a catch-up that adopted segments waits, before it closes the fences, for the
  // snapshot of the copy it asked for after its bulk pass (LocalPuts::snapshot); past it, the
  // catch-up goes on and so does the snapshot.
  std::chrono::milliseconds snapshot_wait{60000};
  // How long a copy stays after the map stopped naming this node its replica: searches that
  // read the map before it changed may still ask it meanwhile.
  std::chrono::milliseconds drop_grace{6000};
  // How long at most a returning node keeps a copy no map names it a replica of, waiting for a
  // move to give the shard back.
  std::chrono::milliseconds return_grace{600000};
  ShardDeletes* deletes = nullptr;  // the ids deleted lately from this node's shard copies
  // This node's digests kept per segment (digest_cache.h) and a local dataset's view to answer
  // them from (LocalReads::snapshot; NotImplemented or KeyError as it). Either null: digests
  // are computed over a scan of the copy.
  DigestCache* digests = nullptr;
  std::function<arrow::Result<DatasetSnapshot>(const std::string& dataset)> snapshot;
  // Called as each catch-up ends, with its state as Status() shows it ("state": "caught_up"
  // with what it copied, or "failed"): the metrics. May be empty.
  std::function<void(const Json& state)> on_outcome;
};

// The action that closes, checks and opens a primary's fence (protocol.md).
inline constexpr const char* kShardFenceAction = "shard-fence";

// The primary's side of action kShardFenceAction: {"dataset", "shard", "epoch", "node", "op":
// "close"|"check"|"release", "token", "hold_ms"}. Close is refused (Invalid, "stale epoch")
// unless this node is the shard's primary at that epoch and `node` one of its replicas.
arrow::Result<Json> ShardFenceAction(const CatchupEnv& env, std::string_view body);

// How long a catch-up waits at once for its copy's snapshot before it checks whether its node
// is stopping.
inline constexpr std::chrono::milliseconds kSnapshotWaitSlice{50};

// The snapshot a catch-up asked for (LocalPuts::snapshot), within `wait` or until `stopping`
// is set (its node stops: the shutdown waits for no snapshot, checked every
// kSnapshotWaitSlice): its report, or {"error"} (the snapshot failed, was not written in time,
// or was not waited for), logged, for the catch-up's state.
Json AwaitSnapshot(const LocalPuts::SnapshotWait& snapshotted, const std::string& name,
                   std::chrono::milliseconds wait, const std::atomic<bool>& stopping);

// The answer to action kShardDigestAction (shard_digest.h) from this node's copy of the shard.
// Invalid for a dataset without a shard map or a shard it does not have; KeyError when this
// node holds no copy of the shard.
arrow::Result<Json> ShardDigestAction(const CatchupEnv& env, std::string_view body);

class ShardCatchup {
 public:
  explicit ShardCatchup(CatchupEnv env);
  ~ShardCatchup();

  // One pass: catches up every shard this node is syncing for, drops every stale copy. The
  // shards caught up and the copies dropped.
  arrow::Result<int> PassOnce();
  // Runs a pass at once rather than at the end of the interval (a map changed: this node may
  // have become a shard's syncing replica, or a copy of its stale).
  void Wake() { thread_.Wake(); }
  // Before this node (`self_id`) joins: notes every shard copy it holds that the maps do not
  // name it a replica of (a node back from a crash) as kept, for a catch-up to reconcile, or
  // drops it when its snapshot restored the graph of at most half its rows. The copies kept.
  arrow::Result<int> KeepBeforeJoining(const std::string& self_id);
  // {"caught_up", "dropped", "kept", "shards": [{"dataset", "shard", "state", ...}]} for
  // cluster-status.
  Json Status() const;

 private:
  // What a catch-up copied, and how long each pass took.
  struct Copied {
    int64_t bulk_rows = 0;
    Adopted adopted;    // the segments the bulk pass adopted whole, before its row scan
    BulkScan scan;      // what the bulk pass's row scan read
    Reconciled before;  // the reconcile before the fences
    Reconciled fenced;
    std::optional<KeptPlan> kept;  // a kept copy: what PlanKeptCopy found
    int64_t rows_purged = 0;       // a kept copy purged: its rows removed
    // Both reconciles compared the copies by content digests (a kept copy, or a dataset whose
    // ids are unique), not by ids.
    bool by_content = false;
    double bulk_seconds = 0;
    double fenced_seconds = 0;  // the shard's writes paused on the primary
    // The snapshot of the copy asked for once segments were adopted: its report, {"error"}, or
    // null when none was asked for.
    Json snapshot;

    Json ToJson() const;
  };
  // The primary `source`'s sealed, linked segments of shard dataset `name`, and one of them
  // (flight/segment_shipping.h).
  arrow::Result<std::vector<SegmentRef>> ShardSegmentsOf(const MemberInfo& source,
                                                         const std::string& name,
                                                         std::chrono::milliseconds timeout) const;
  arrow::Result<ReceivedSegment> ShardSegmentOf(const MemberInfo& source, const std::string& name,
                                                const SegmentRef& segment,
                                                std::chrono::milliseconds timeout) const;
  // Copies shard `shard` of `map` from its primary and flips this node to a full replica.
  arrow::Result<Copied> CatchUp(const ShardMap& map, int32_t shard, const MemberInfo& self);
  // The reconcile pass, run while the primary's fence (`source_token`) is closed: closes this
  // node's, reconciles, checks that both held throughout, flips.
  arrow::Result<Reconciled> ReconcileFenced(const ShardMap& map, int32_t shard,
                                            const MemberInfo& self, const MemberInfo& source,
                                            uint64_t source_token, ShardCopyEnv copy);
  // Removes this node from the shard's syncing replicas by a transaction, if the shard is still
  // at `epoch` with primary `source`.
  arrow::Status Flip(const std::string& dataset, int32_t shard, int64_t epoch,
                     const std::string& source, const std::string& self_id);
  // Drops shard dataset `name` if the map read again still does not name this node.
  arrow::Result<bool> DropStale(const std::string& dataset, int32_t shard, const std::string& name,
                                const std::string& self_id, const LocalPuts& local);
  // DropStale, its failure logged; 1 when it dropped the copy.
  int DropStaleLogged(const std::string& dataset, int32_t shard, const std::string& name,
                      const std::string& self_id, const LocalPuts& local);
  void Record(const std::string& dataset, int32_t shard, Json state);
  // Whether shard dataset `name` was seen stale (not this node's) for env_.drop_grace.
  bool StaleLongEnough(const std::string& name);
  // Whether `name` is a copy kept from before joining that may still be given back: kept
  // within env_.return_grace and `map` still moving shards among the `live` members (a shard
  // syncing, leaving or short of replicas, or loads 2 or more apart). A copy no longer waited
  // for stays marked kept until dropped.
  bool KeptForReturn(const std::string& name, const ShardMap& map,
                     const std::set<std::string>& live);
  // Whether `name` is a copy kept from before joining; Forget stops keeping it.
  bool Kept(const std::string& name) const;
  void Forget(const std::string& name);
  // A kept copy's plan (PlanKeptCopy): reconciled by content (copy->content set), or purged.
  arrow::Status PlanKept(ShardCopyEnv* copy, Copied* copied);

  const CatchupEnv env_;
  // Set as the catch-up stops: a catch-up under way stops waiting for its snapshot, and its
  // bulk pass stops at its next batch (ShardCopyEnv::stopping), so that a node's shutdown does
  // not wait for them.
  std::atomic<bool> stopping_{false};
  mutable Mutex mutex_;
  int64_t caught_up_ GUARDED_BY(mutex_) = 0;
  int64_t dropped_ GUARDED_BY(mutex_) = 0;
  int64_t kept_count_ GUARDED_BY(mutex_) = 0;
  // The copies kept from before joining, and when.
  std::map<std::string, std::chrono::steady_clock::time_point> kept_ GUARDED_BY(mutex_);
  std::map<std::pair<std::string, int32_t>, Json> shards_ GUARDED_BY(mutex_);
  std::map<std::string, std::chrono::steady_clock::time_point> stale_since_ GUARDED_BY(mutex_);
  PeriodicThread thread_;  // PassOnce every interval (last: stopped first)
};

}  // namespace arbalest
