// The drain of a node that leaves the cluster for good (SIGTERM; docs/cluster.md, "Drain"):
// before its member key goes, the node hands every shard it holds over to the other members,
// so that no shard waits for a failover and none is lost with it (R = 1).
//   - A shard of which another replica holds all the rows: the node leaves its replicas by an
//     etcd transaction (compare on the map's revision, epoch bumped; shard_map.h's DrainShard),
//     another full replica becoming primary if the node was, and members that are not
//     draining being added as syncing replicas up to R (catch-up copies the shard to them).
//     Where the node is the primary it first closes the shard's fence (shard_fence.h): the
//     writes under way end (replicated, acked) before the epoch changes, and those that waited
//     at the fence find the new epoch and are refused as stale, so their router sends them to
//     the new primary.
//   - A shard of which the node holds the only full copy (R = 1, or its other replica still
//     syncing): a member that is not draining is added as a syncing replica, catch-up copies
//     the shard from the node (it keeps serving meanwhile), and once that replica is full the
//     shard is handed over as above.
// The drain ends when no map names the node, or at its deadline, or when aborted (a second
// signal); what was not handed over then fails over as when a node dies.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "cluster/shard_fence.h"
#include "cluster/shard_maps.h"
#include "common/json_util.h"

namespace arbalest {

// What a drain needs of the node.
struct DrainEnv {
  ShardMaps* maps = nullptr;
  ShardFences* fences = nullptr;
  std::string self_id;
  std::function<std::vector<MemberInfo>()> members;  // the live members, this node included
  std::chrono::milliseconds fence_wait{5000};        // the wait for a shard's writes under way
  std::chrono::milliseconds poll{100};               // between passes while a copy is under way
};

// What a drain did, for its log line and cluster-status.
struct DrainReport {
  std::vector<std::string> handed_over;  // "<dataset>/<shard> -> <primary>"
  std::vector<std::string> copied;       // "<dataset>/<shard> -> <node>": copies it started
  std::vector<std::string> left;         // "<dataset>/<shard>: <why>": still naming the node
  bool finished = false;                 // no map names the node any more
  std::chrono::milliseconds took{0};

  Json ToJson() const;
  std::string Summary() const;
};

// Drains env.self_id from every shard map, as above, until `deadline` or `abort`.
DrainReport DrainShards(const DrainEnv& env, std::chrono::steady_clock::time_point deadline,
                        const std::atomic<bool>& abort);

}  // namespace arbalest
