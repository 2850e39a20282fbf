// Routed puts into sharded datasets (docs/cluster.md):
//   - ShardRouter, the sink of a client's put on any node: each batch is split by shard (the
//     xxhash of its ids) with Arrow's take, each slice sent to its shard's primary as a shard
//     put (a slice on the long-lived put stream to that node, put_streams.h; without streams,
//     a DoPut whose CMD descriptor is ShardPutHop's JSON), all in parallel; the batch is
//     acked once every slice is, and fails (UNAVAILABLE naming the shard) otherwise. Before
//     routing, a shard map naming members that are gone is repaired (shard_map.h), by an etcd
//     transaction: failover.
//   - ShardReplicaSink, the sink of a shard put: checks the put's epoch against the shard map
//     (an older epoch, or a node that is not the primary, or not a replica, at it: refused),
//     stores the rows in the local dataset of the shard, and on the primary sends them on to the
//     other replicas, acking only once W replicas (itself included) hold them.
// Every call between nodes waits at most the put timeout. The calls of one batch run in
// parallel on the node's put threads (common/thread_cache.h: reused across puts, and never
// queued behind a call that waits on a slow peer).
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "cluster/peer_clients.h"
#include "cluster/put_streams.h"
#include "cluster/shard_fence.h"
#include "cluster/shard_map.h"
#include "cluster/shard_maps.h"
#include "cluster/shard_put_hop.h"
#include "common/thread_cache.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// What the put routing needs of the node.
struct ShardEnv {
  PeerClients* peers = nullptr;
  ShardMaps* maps = nullptr;
  std::function<std::vector<MemberInfo>()> members;  // the live members, this node included
  std::string self_id;
  std::chrono::milliseconds timeout{5000};  // one call to a peer
  int32_t write_quorum = 0;                 // W; 0: the map's replication factor
  ShardFences* fences = nullptr;            // a shard put's batches hold the shard's fence open
  // This node's store: a slice whose primary is this node is stored (and replicated) in-process
  // instead of over a loopback Flight hop. Unset: every slice hops.
  std::optional<LocalPuts> local;
  // The first of `count` consecutive ids unique in the cluster, for datasets with server-assigned
  // ids (id_blocks.h).
  std::function<arrow::Result<uint64_t>(int64_t count)> assign_ids;
  // The client's token, sent with every shard put beside the cluster token (a secured cluster:
  // each node checks the client's permission, flight/call_credentials.h); empty: none.
  std::string forwarded_token;
  // The put streams to the peers (put_streams.h) that carry the slices; null: a one-shot
  // shard put per slice.
  PutStreams* streams = nullptr;
  // The threads a put's slices (router -> primaries) and their replication (primary -> other
  // replicas) are sent on, in parallel, one per slice at once (required).
  ThreadCache* threads = nullptr;
};

// The sink of a client's put into sharded dataset `map.dataset`. A dataset with server-assigned
// ids (map.assigned_ids) gets each batch's ids from env.assign_ids, as a uint64 `id` column
// first (its ack says the first: the batch's rows have consecutive ids from it). Invalid when
// `schema` has an id column and the dataset assigns its ids, or has none and it does not.
arrow::Result<std::unique_ptr<PutSink>> OpenShardRouter(ShardEnv env, ShardMap map,
                                                        const arrow::Schema& schema);

// The sink of shard put `hop`: refused (Invalid, "stale epoch ...") unless the map at the
// hop's epoch makes this node the shard's primary (or a replica, for a replica's put).
arrow::Result<std::unique_ptr<PutSink>> OpenShardReplicaSink(ShardEnv env, ShardPutHop hop,
                                                             const LocalPuts& local);

// What a shard put of `batch` (null: `schema` alone) with `hop` does on this node, as one call:
// the sink opened (the epoch checked), the batch stored (and replicated, on the primary), the
// sink finished; the batch's ack. The errors of a DoPut with the hop's descriptor.
arrow::Result<Json> PutShardSlice(const ShardEnv& env, const ShardPutHop& hop,
                                  const std::shared_ptr<arrow::Schema>& schema,
                                  const std::shared_ptr<arrow::RecordBatch>& batch,
                                  const LocalPuts& local);

}  // namespace arbalest
