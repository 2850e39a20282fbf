// This node's view of the cluster's shard maps (shard_map.h), kept in memory. While the node
// watches the maps' prefix in etcd (StartWatch: etcd's streaming watch, from a thread of its
// own), every change is in memory within moments of its transaction and maps are answered from
// memory alone (a dataset without a map in memory has none). While the watch is not in place
// (before StartWatch, etcd down, the watch broken and not yet re-established), a map read less
// than kMaxAge ago (or known absent that recently) is answered from memory; older, it is read
// again (a stale map is used when etcd does not answer: the node keeps serving while
// degraded). Creating and changing a map go through etcd transactions
// that compare on the key's revision, so two nodes racing to create or repair a map agree on
// one outcome: the loser reads the winner's map.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/shard_map.h"
#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class ShardMaps {
 public:
  static constexpr std::chrono::milliseconds kMaxAge{1000};

  ShardMaps(std::vector<std::string> etcd_endpoints, std::chrono::milliseconds etcd_timeout,
            etcd::ClientTls etcd_tls, std::string cluster)
      : etcd_(std::move(etcd_endpoints), etcd_timeout, std::move(etcd_tls)),
        cluster_(std::move(cluster)) {}
  ~ShardMaps() { StopWatch(); }

  // Called, from the watch's thread and without the maps' lock, after the watch applied a change
  // of any map (a catch-up to run at once). Set before StartWatch.
  void SetOnChange(std::function<void()> on_change) { on_change_ = std::move(on_change); }
  // Starts watching the maps in etcd (idempotent); StopWatch ends it (within about a second:
  // etcd_client.h's Watch).
  void StartWatch();
  void StopWatch();
  // Whether the watch is in place, and the etcd revision up to which it applied every change
  // (0: none): cluster-status's `shard_maps_watch`, with the epochs of each map in memory.
  Json WatchStatus() const;

  // `dataset`'s map; nullopt when it has none (not sharded). `fresh`: read etcd now.
  arrow::Result<std::optional<ShardMap>> Get(const std::string& dataset, bool fresh = false);
  // Stores `proposed` unless the dataset has a map already; the map that is stored then.
  arrow::Result<ShardMap> Create(const ShardMap& proposed);
  // Stores `changed` if the stored map is still the one it was derived from (its
  // mod_revision); the stored map, changed or not (the caller checks what it got).
  arrow::Result<ShardMap> Update(const ShardMap& changed);
  // Every map in etcd (cluster-status).
  arrow::Result<std::vector<ShardMap>> All();

 private:
  struct Entry {
    std::optional<ShardMap> map;
    std::chrono::steady_clock::time_point read_at;
    int64_t revision = 0;  // the map's mod_revision, or the revision it was known absent at
  };
  arrow::Result<std::optional<ShardMap>> Read(const std::string& dataset);
  // Keeps `map` (nullopt: absent) for `dataset`, known at etcd revision `revision`, unless
  // what is in memory is newer (a read after a write may overtake the watch).
  void Keep(const std::string& dataset, std::optional<ShardMap> map, int64_t revision)
      REQUIRES(mutex_);
  // The watch's thread: reads every map, then applies the watch's events, again after a pause
  // when the watch breaks, until StopWatch.
  void RunWatch();
  arrow::Status ReadAndWatch();
  // Stores `map` under `expected_mod_revision` (0: create); the map stored afterwards.
  arrow::Result<ShardMap> Write(const ShardMap& map, int64_t expected_mod_revision);

  etcd::Client etcd_;
  const std::string cluster_;
  mutable Mutex mutex_;
  std::map<std::string, Entry> cache_ GUARDED_BY(mutex_);
  bool watching_ GUARDED_BY(mutex_) = false;  // the watch is in place: cache_ is complete
  int64_t watched_revision_ GUARDED_BY(mutex_) = 0;
  std::function<void()> on_change_;  // set before the watch starts
  std::atomic<bool> stopping_{false};
  std::thread watcher_;  // started and joined by StartWatch and StopWatch, from one thread
};

}  // namespace arbalest
