#include "cluster/shard_maps.h"

#include <arrow/status.h>

namespace arbalest {

arrow::Result<std::optional<ShardMap>> ShardMaps::Read(const std::string& dataset) {
  ARROW_ASSIGN_OR_RAISE(etcd::RangeReply reply, etcd_.Range(ShardMapKey(cluster_, dataset)));
  std::optional<ShardMap> map;
  if (!reply.kvs.empty()) {
    ARROW_ASSIGN_OR_RAISE(ShardMap parsed, ParseShardMap(reply.kvs.front().value));
    parsed.mod_revision = reply.kvs.front().mod_revision;
    map = std::move(parsed);
  }
  MutexLock lock(&mutex_);
  cache_[dataset] = Entry{map, std::chrono::steady_clock::now()};
  return map;
}

arrow::Result<std::optional<ShardMap>> ShardMaps::Get(const std::string& dataset, bool fresh) {
  std::optional<Entry> cached;
  {
    MutexLock lock(&mutex_);
    if (auto it = cache_.find(dataset); it != cache_.end()) cached = it->second;
  }
  if (cached && !fresh && std::chrono::steady_clock::now() - cached->read_at < kMaxAge) {
    return cached->map;
  }
  auto read = Read(dataset);
  if (!read.ok() && cached) return cached->map;  // etcd down: the last map seen
  return read;
}

arrow::Result<ShardMap> ShardMaps::Write(const ShardMap& map, int64_t expected_mod_revision) {
  ARROW_ASSIGN_OR_RAISE(bool stored, etcd_.PutIf(ShardMapKey(cluster_, map.dataset),
                                                 map.ToJson().dump(), expected_mod_revision));
  (void)stored;  // either way, the stored map is what counts
  ARROW_ASSIGN_OR_RAISE(auto current, Read(map.dataset));
  if (!current) return arrow::Status::IOError("the shard map of '", map.dataset, "' vanished");
  return *current;
}

arrow::Result<ShardMap> ShardMaps::Create(const ShardMap& proposed) { return Write(proposed, 0); }

arrow::Result<ShardMap> ShardMaps::Update(const ShardMap& changed) {
  return Write(changed, changed.mod_revision);
}

arrow::Result<std::vector<ShardMap>> ShardMaps::All() {
  ARROW_ASSIGN_OR_RAISE(etcd::RangeReply reply, etcd_.RangePrefix(ShardMapsPrefix(cluster_)));
  std::vector<ShardMap> maps;
  for (const auto& kv : reply.kvs) {
    ARROW_ASSIGN_OR_RAISE(ShardMap map, ParseShardMap(kv.value));
    map.mod_revision = kv.mod_revision;
    maps.push_back(std::move(map));
  }
  return maps;
}

}  // namespace arbalest
