// Failover without waiting for a put: a thread that, every interval, reads the shard maps and
// repairs those naming members that are gone (shard_map.h's RepairShardMap: a surviving replica
// becomes primary, the epoch bumps), each by an etcd transaction that compares on the map's
// revision, so that every node may run it and one change wins. Skipped while the node is
// degraded (its member list may be stale) or knows no members. When no member is missing, it
// moves shards towards members that hold fewer (BalanceShardMap: a member that joined takes
// shards), one step per map and pass; a leaving replica goes only once this node has seen it
// marked for twice the age of a cached map. A member leaving wakes it (Wake), so that failover
// starts as soon as the watch sees the member's key go, not at the end of the interval.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "cluster/shard_maps.h"
#include "common/mutex.h"
#include "common/periodic_thread.h"

namespace arbalest {

// Thread-safe. Starts its thread when constructed, stops it when destroyed.
class ShardRepairer {
 public:
  ShardRepairer(ShardMaps& maps, std::function<std::vector<MemberInfo>()> live,
                std::function<bool()> degraded, std::chrono::milliseconds interval);
  ~ShardRepairer();

  // One pass over every map; the number of maps changed.
  arrow::Result<int> RepairOnce();
  // Runs a pass now (or right after the one under way) instead of at the end of the interval.
  void Wake() { thread_.Wake(); }

 private:
  ShardMaps& maps_;
  const std::function<std::vector<MemberInfo>()> live_;
  const std::function<bool()> degraded_;
  Mutex mutex_;
  // When this node first saw each leaving mark, by "<dataset>/<shard>/<epoch>".
  std::map<std::string, std::chrono::steady_clock::time_point> leaving_seen_ GUARDED_BY(mutex_);
  PeriodicThread thread_;  // RepairOnce every interval (last: stopped first)
};

}  // namespace arbalest
