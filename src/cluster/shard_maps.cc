#include "cluster/shard_maps.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace arbalest {
namespace {

constexpr std::chrono::milliseconds kWatchRetry{500};

arrow::Result<ShardMap> ParseStored(const etcd::KeyValue& kv) {
  ARROW_ASSIGN_OR_RAISE(ShardMap map, ParseShardMap(kv.value));
  map.mod_revision = kv.mod_revision;
  return map;
}

}  // namespace

void ShardMaps::Keep(const std::string& dataset, std::optional<ShardMap> map, int64_t revision) {
  Entry& entry = cache_[dataset];
  if (entry.revision > revision) return;
  entry = Entry{std::move(map), std::chrono::steady_clock::now(), revision};
}

arrow::Result<std::optional<ShardMap>> ShardMaps::Read(const std::string& dataset) {
  ARROW_ASSIGN_OR_RAISE(etcd::RangeReply reply, etcd_.Range(ShardMapKey(cluster_, dataset)));
  std::optional<ShardMap> map;
  int64_t revision = reply.revision;
  if (!reply.kvs.empty()) {
    ARROW_ASSIGN_OR_RAISE(map, ParseStored(reply.kvs.front()));
    revision = map->mod_revision;
  }
  MutexLock lock(&mutex_);
  Keep(dataset, map, revision);
  return cache_[dataset].map;
}

void ShardMaps::StartWatch() {
  if (watcher_.joinable()) return;
  stopping_ = false;
  watcher_ = std::thread([this] { RunWatch(); });
}

void ShardMaps::StopWatch() {
  stopping_ = true;
  if (watcher_.joinable()) watcher_.join();
}

Json ShardMaps::WatchStatus() const {
  MutexLock lock(&mutex_);
  Json epochs = Json::object();
  for (const auto& [dataset, entry] : cache_) {
    if (!entry.map) continue;
    Json shards = Json::array();
    for (const auto& placement : entry.map->placement) shards.push_back(placement.epoch);
    epochs[dataset] = std::move(shards);
  }
  return {{"watching", watching_}, {"revision", watched_revision_}, {"epochs", std::move(epochs)}};
}

void ShardMaps::RunWatch() {
  SetCurrentThreadName("arb-etcd-maps");
  while (!stopping_.load()) {
    const arrow::Status status = ReadAndWatch();
    {
      MutexLock lock(&mutex_);
      watching_ = false;
    }
    if (stopping_.load()) break;
    spdlog::debug("cluster {}: shard map watch ended ({}); maps read with a cache meanwhile",
                  cluster_, status.ToString());
    for (auto waited = std::chrono::milliseconds(0); waited < kWatchRetry && !stopping_.load();
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

arrow::Status ShardMaps::ReadAndWatch() {
  const std::string prefix = ShardMapsPrefix(cluster_);
  ARROW_ASSIGN_OR_RAISE(etcd::RangeReply all, etcd_.RangePrefix(prefix));
  std::map<std::string, ShardMap> read;
  for (const auto& kv : all.kvs) {
    ARROW_ASSIGN_OR_RAISE(read[kv.key.substr(prefix.size())], ParseStored(kv));
  }
  {
    MutexLock lock(&mutex_);
    for (auto& [dataset, entry] : cache_) {
      if (!read.contains(dataset)) Keep(dataset, std::nullopt, all.revision);
    }
    for (auto& [dataset, map] : read) Keep(dataset, std::move(map), map.mod_revision);
    watched_revision_ = all.revision;
  }
  return etcd_.Watch(
      prefix, all.revision + 1,
      [this, &prefix](const etcd::WatchMessage& message) -> arrow::Status {
        if (message.canceled) {
          return arrow::Status::IOError("etcd cancelled the shard map watch: ",
                                        message.cancel_reason);
        }
        {
          MutexLock lock(&mutex_);
          for (const auto& event : message.events) {
            const std::string dataset = event.kv.key.substr(prefix.size());
            if (event.deleted) {
              Keep(dataset, std::nullopt, message.revision);
              continue;
            }
            // A map no node wrote ends the watch: the maps are read again (Get reads etcd).
            ARROW_ASSIGN_OR_RAISE(ShardMap map, ParseStored(event.kv));
            Keep(dataset, std::move(map), event.kv.mod_revision);
          }
          // Once etcd confirms the watch, every change after the read reaches the cache.
          if (message.created) watching_ = true;
          watched_revision_ = std::max(watched_revision_, message.revision);
        }
        if (!message.events.empty() && on_change_) on_change_();
        return arrow::Status::OK();
      },
      [this] { return stopping_.load(); });
}

arrow::Result<std::optional<ShardMap>> ShardMaps::Get(const std::string& dataset, bool fresh) {
  std::optional<Entry> cached;
  {
    MutexLock lock(&mutex_);
    auto it = cache_.find(dataset);
    if (it != cache_.end()) cached = it->second;
    if (watching_ && !fresh) {
      if (!cached) return std::optional<ShardMap>();  // the watch saw every map: it has none
      return cached->map;
    }
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
