// This node's view of the cluster's shard maps (shard_map.h), read from etcd and kept for a
// moment: a map read less than kMaxAge ago (or known absent that recently) is answered from
// memory; older, it is read again (a stale map is used when etcd does not answer: the node
// keeps serving while degraded). Creating and changing a map go through etcd transactions
// that compare on the key's revision, so two nodes racing to create or repair a map agree on
// one outcome: the loser reads the winner's map.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>

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
  };
  arrow::Result<std::optional<ShardMap>> Read(const std::string& dataset);
  // Stores `map` under `expected_mod_revision` (0: create); the map stored afterwards.
  arrow::Result<ShardMap> Write(const ShardMap& map, int64_t expected_mod_revision);

  etcd::Client etcd_;
  const std::string cluster_;
  Mutex mutex_;
  std::map<std::string, Entry> cache_ GUARDED_BY(mutex_);
};

}  // namespace arbalest
