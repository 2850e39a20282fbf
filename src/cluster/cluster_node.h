// A node's part in a cluster (--cluster-etcd): its membership in etcd (membership.h), what
// `cluster-status` and /cluster report, and the scatter-gather of searches, scans and JSON
// actions (stats, delete, check_readiness) over the live members (ClusterHooks), through Flight
// clients with the cluster's TLS and token (cluster_security.h). Datasets are not sharded yet: each
// node holds what was put to it, and a search asks every member for its best rows and merges them.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>

#include "cluster/cluster_metrics.h"
#include "cluster/digest_cache.h"
#include "cluster/id_blocks.h"
#include "cluster/membership.h"
#include "cluster/peer_clients.h"
#include "cluster/put_streams.h"
#include "cluster/replica_race.h"
#include "cluster/scan_chain.h"
#include "cluster/shard_catchup.h"
#include "cluster/shard_drain.h"
#include "cluster/shard_fence.h"
#include "cluster/shard_maps.h"
#include "cluster/shard_puts.h"
#include "cluster/shard_repairer.h"
#include "common/thread_cache.h"
#include "flight/cluster_hooks.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace arbalest {

struct ClusterOptions {
  std::vector<std::string> etcd_endpoints;
  std::string cluster;
  std::string node_id;  // empty: DefaultNodeId(advertised data address)
  int64_t lease_ttl_seconds = 5;
  std::chrono::milliseconds etcd_timeout{2000};
  etcd::ClientTls etcd_tls;
  PeerSecurity peers;  // TLS and the cluster token of the calls to other members
  std::chrono::milliseconds search_timeout{5000};  // a search's default timeout_ms
  // A shard read asks another replica when the first has not answered within this (0: only
  // once the first failed); replica_race.h.
  std::chrono::milliseconds hedge_after{100};
  std::string data_dir;
  // Sharding (docs/cluster.md): a dataset created on this node gets `shards` shards (0: not
  // sharded, each node holds what is put to it) unless its schema says otherwise, replicated
  // on `replication` members (at most the live ones); a put is acked once `write_quorum`
  // replicas hold it (0: the dataset's replication factor). `put_timeout` bounds each call of
  // a routed put to another member.
  int32_t shards = 4;
  int32_t replication = 2;
  int32_t write_quorum = 0;
  std::chrono::milliseconds put_timeout{5000};
};

// The addresses this node publishes (known once its ports are bound).
struct AdvertisedAddresses {
  std::string flight;
  std::string meta;
  std::string metrics;
};

// Thread-safe.
class ClusterNode : public ClusterHooks {
 public:
  // Checks what can be checked before serving: the cluster name against the data dir's record
  // (Invalid naming both), and that etcd answers (IOError naming the endpoints: a node does not
  // start outside its cluster; docs/cluster.md says why).
  static arrow::Result<std::shared_ptr<ClusterNode>> Create(ClusterOptions options,
                                                            prometheus::Registry& registry);
  ~ClusterNode() override;

  // Publishes this node under `addresses` and starts keeping its membership; records the
  // cluster name in the data dir. IOError when etcd does not answer.
  arrow::Status Join(const AdvertisedAddresses& addresses);
  // Drains this node before it leaves (shard_drain.h, docs/cluster.md "Drain"): publishes it
  // as draining, hands every shard it holds over to the other members, within `timeout` or
  // until `abort` is set (a second signal), then keeps answering searches for a moment (those
  // that read a map before the last hand-over). Logs and returns what it handed over and what
  // not. Leave() follows it.
  DrainReport Drain(std::chrono::milliseconds timeout, const std::atomic<bool>& abort);
  // Leaves the cluster (revokes the lease: the member key goes at once). Idempotent.
  void Leave();

  Json Status() const override;
  // One line for /readyz: the cluster and its state.
  std::string ReadyDetail() const;

  arrow::Result<ClusterSearchResult> Search(
      const Json& keys, int64_t k, const FanOutOptions& options,
      const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>& local,
      const std::optional<HybridFusion>& hybrid) override;
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(
      const Json& keys, std::optional<int64_t> limit, const FanOutOptions& options,
      const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()>& local)
      override;
  arrow::Result<ClusterActionResult> Action(
      const std::string& type, const Json& body, const FanOutOptions& options,
      const std::function<arrow::Result<Json>()>& local) override;
  arrow::Result<ClusterCatalog> Catalog(
      std::string_view name_part, const FanOutOptions& options,
      const std::function<std::vector<CatalogEntry>()>& local) override;
  arrow::Result<std::unique_ptr<PutSink>> OpenPut(const arrow::flight::FlightDescriptor& descriptor,
                                                  const std::shared_ptr<arrow::Schema>& schema,
                                                  const LocalPuts& local,
                                                  const std::string& forwarded_token) override;
  std::optional<arrow::Status> ServePutStream(const arrow::flight::FlightDescriptor& descriptor,
                                              arrow::flight::FlightMessageReader& reader,
                                              arrow::flight::FlightMetadataWriter& writer,
                                              const LocalPuts& local,
                                              const std::string& forwarded_token) override;
  bool HopsCarryToken() const override { return peers_.carries_token(); }
  void NoteLocalDelete(const std::string& dataset, const Json& ids) override;
  arrow::Result<std::shared_ptr<void>> AdmitLocalDelete(const std::string& dataset,
                                                        const Json& request) override;
  void AttachLocal(LocalPuts local) override;
  void AttachLocalReads(LocalReads reads) override;
  std::optional<arrow::Result<Json>> InternalAction(std::string_view type,
                                                    std::string_view body) override;

 private:
  ClusterNode(ClusterOptions options, std::shared_ptr<ClusterMetrics> metrics)
      : options_(std::move(options)),
        metrics_(std::move(metrics)),
        peers_(options_.peers),
        maps_(options_.etcd_endpoints, options_.etcd_timeout, options_.etcd_tls, options_.cluster),
        id_blocks_(options_.etcd_endpoints, options_.etcd_timeout, options_.etcd_tls,
                   options_.cluster),
        digests_([metrics = metrics_](int64_t bytes) { metrics->SetDigestCacheBytes(bytes); }),
        streams_(
            peers_, [this] { return StreamAddresses(); }, metrics_.get()) {}

  // -- sharded datasets (cluster_shards.cc) --
  // The shard map of the dataset that `keys` name; nullopt when it is not sharded (or etcd
  // cannot say and no map was seen). `fresh`: read etcd now (else a map cached for a moment).
  std::optional<ShardMap> ShardMapOf(const Json& keys, bool fresh = false);
  ShardEnv ShardEnvironment();
  CatchupEnv CatchupEnvironment();
  // The live members, this node included.
  std::vector<MemberInfo> LiveMembers() const;
  // The Flight addresses of the live members that are not draining: the put streams to others
  // are closed once idle, so that a node that leaves does not wait for them to end.
  std::vector<std::string> StreamAddresses() const;
  // Which replicas of a shard a request asks, and which answers count.
  enum class ShardReach {
    kOneReplica,    // one live replica holding all its rows (the next when one fails)
    kEveryReplica,  // every live replica; the first answer counts (a delete)
    kEveryAnswer,   // every live replica; every answer counts (check_readiness)
  };
  // One request answered, for every shard of `map`, by its replicas as `reach` says (`ask` with
  // the replica, the shard's local dataset and its epoch; a replica lacking the dataset holds
  // no rows of the shard). Shards without an answer go to `missing`; errors as
  // FanOut's (require_all: UNAVAILABLE naming the first missing shard). With kEveryReplica
  // (a delete), replicas that refuse the epoch as stale make it read the map again and ask
  // the replicas of the new epoch that have not answered yet. kOneReplica reads one readable
  // replica of each shard, hedged (ReadOneReplicaPerShard): `ask` must own what it uses, since
  // a hedged loser may outlive the call.
  template <typename Part>
  arrow::Result<std::vector<Part>> ReadOneReplicaPerShard(
      const ShardMap& map, std::chrono::milliseconds timeout,
      const std::vector<MemberInfo>& members, const std::string& self_id,
      const std::function<arrow::Result<Part>(const MemberInfo&, const std::string&, int64_t,
                                              std::chrono::milliseconds)>& ask,
      std::vector<MissingNode>* missing);
  // The parts of a shard fan-out, or its error: require_all with shards missing, or none
  // answered.
  template <typename Part>
  arrow::Result<std::vector<Part>> CheckShardParts(const ShardMap& map,
                                                   const FanOutOptions& options,
                                                   std::vector<Part> parts,
                                                   std::vector<MissingNode>* missing);
  template <typename Part>
  arrow::Result<std::vector<Part>> FanOutShards(
      const ShardMap& map, const FanOutOptions& options, ShardReach reach,
      const std::function<arrow::Result<Part>(const MemberInfo&, const std::string&, int64_t,
                                              std::chrono::milliseconds)>& ask,
      std::vector<MissingNode>* missing);
  // The parts of a search of a sharded dataset: one replica's best rows per shard.
  arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ShardSearchParts(
      const ShardMap& map, const Json& keys, const FanOutOptions& options,
      std::vector<MissingNode>* missing);
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ShardScan(const ShardMap& map,
                                                                     const Json& keys,
                                                                     std::optional<int64_t> limit,
                                                                     const FanOutOptions& options);
  arrow::Result<ClusterActionResult> ShardAction(const ShardMap& map, const std::string& type,
                                                 const Json& body, const FanOutOptions& options);
  // -- one replica of a shard (local_shards.cc): in-process when `member` is this node and
  // its Flight service is attached, else as SearchPeer, OpenPeerScan and ActionPeer --
  std::optional<LocalReads> LocalReadsFor(const MemberInfo& member) const;
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchShard(const MemberInfo& member,
                                                                 const std::string& ticket,
                                                                 std::chrono::milliseconds timeout);
  arrow::Result<ScanPart> ScanShard(const MemberInfo& member, const std::string& ticket,
                                    std::chrono::milliseconds timeout);
  arrow::Result<Json> ActionShard(const MemberInfo& member, const std::string& type,
                                  const std::string& body, std::chrono::milliseconds timeout,
                                  const std::string& forwarded_token = {});
  // The shard maps for cluster-status.
  Json ShardMapsStatus() const;

  // The parts of a search (`keys`, `local` as Search's): one replica's per shard of a sharded
  // dataset, else every member's (this node's by `local`). Shards or members without an
  // answer go to `missing`; errors as FanOut's and FanOutShards'.
  arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> SearchParts(
      const Json& keys, const FanOutOptions& options,
      const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>& local,
      std::vector<MissingNode>* missing);
  // -- hybrid search with global BM25 statistics (hybrid_fan_out.cc, docs/cluster.md) --
  // Phase 1: every shard's (or member's) `text-stats` for the query, summed; phase 2: the
  // search hops with the sums (`text_stats`), whose candidates FuseCandidates fuses. This
  // node's parts go through its own Flight handlers (LocalReads). Shards missing from phase 1
  // are reported missing too.
  arrow::Result<ClusterSearchResult> HybridSearch(const Json& keys, int64_t k,
                                                  const HybridFusion& hybrid,
                                                  const FanOutOptions& options);
  // This node's own Flight handlers, once attached.
  std::optional<LocalReads> OwnReads() const;

  // The search result of `peer` for DoGet ticket `ticket`, within `timeout`.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchPeer(const MemberInfo& peer,
                                                                const std::string& ticket,
                                                                std::chrono::milliseconds timeout);
  // `peer`'s scan stream for DoGet ticket `ticket`, opened (its schema read) within `timeout`,
  // which bounds the whole stream too.
  arrow::Result<ScanPart> OpenPeerScan(const MemberInfo& peer, const std::string& ticket,
                                       std::chrono::milliseconds timeout);
  // The live members other than this node (whose id goes to `self_id`); forgets the clients of
  // the others.
  std::vector<MemberInfo> Peers(std::string* self_id);
  // One request answered by this node (`local`) and, in parallel, every peer (`ask_peer`): the
  // parts that answered, this node's first. Members that did not go to `missing` (also those
  // whose part's columns, by `schema_of` when given, differ from the first's). The
  // error of a single node when no member holds the dataset; UNAVAILABLE when none answered,
  // or with options.require_all when one is missing.
  template <typename Part>
  arrow::Result<std::vector<Part>> FanOut(
      const FanOutOptions& options, const std::function<arrow::Result<Part>()>& local,
      const std::function<arrow::Result<Part>(const MemberInfo&, std::chrono::milliseconds)>&
          ask_peer,
      const std::function<std::shared_ptr<arrow::Schema>(const Part&)>& schema_of,
      std::vector<MissingNode>* missing);
  // `peer`'s first Result of action `type` with `body`, as JSON, within `timeout`; with
  // `forwarded_token` (a write on a client's behalf) when the hops carry the cluster token.
  arrow::Result<Json> ActionPeer(const MemberInfo& peer, const std::string& type,
                                 const std::string& body, std::chrono::milliseconds timeout,
                                 const std::string& forwarded_token = {});
  // `peer`'s own catalog entries: a ListFlights with `criteria` (local_only), within `timeout`.
  arrow::Result<std::vector<CatalogEntry>> ListPeer(const MemberInfo& peer,
                                                    const std::string& criteria,
                                                    std::chrono::milliseconds timeout);
  std::string SelfId() const;
  std::shared_ptr<Membership> membership() const;

  const ClusterOptions options_;
  const std::shared_ptr<ClusterMetrics> metrics_;
  PeerClients peers_;
  mutable ShardMaps maps_;  // its reads refresh a cache
  IdBlocks id_blocks_;      // server-assigned ids of sharded datasets
  mutable Mutex mutex_;
  std::shared_ptr<Membership> membership_ GUARDED_BY(mutex_);   // null until joined
  std::unique_ptr<ShardRepairer> repairer_ GUARDED_BY(mutex_);  // failover; null until joined
  ShardFences fences_;
  ShardDeletes deletes_;  // ids deleted lately from this node's shard copies
  DigestCache digests_;   // the content hashes of its shard copies' segments
  std::optional<LocalPuts> local_ GUARDED_BY(mutex_);         // this node's store, attached
  std::optional<LocalReads> local_reads_ GUARDED_BY(mutex_);  // its Flight service's answers
  std::unique_ptr<ShardCatchup> catchup_ GUARDED_BY(mutex_);  // null until joined
  std::optional<Json> drain_ GUARDED_BY(mutex_);              // the drain's report, once it ended
  AttemptsInFlight attempts_;  // shard reads' attempts still running (replica_race.h)
  // The threads a search's hops run on, one per hop at once, kept for the next search's hops
  // (after attempts_: destroyed first, once every hop it runs has ended).
  ThreadCache hop_threads_{"arb-hop"};
  // The put streams to the peers (destroyed before the rest, while what its sweeper asks
  // exists).
  PutStreams streams_;
  // The threads a put's slices and their replication run on (shard_puts.h), kept for the next
  // put's (last: destroyed first, once every slice under way, which may use the streams, ended).
  ThreadCache put_threads_{"arb-put"};
};

}  // namespace arbalest
