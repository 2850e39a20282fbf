// ClusterNode's part for sharded datasets (docs/cluster.md): routed puts and shard puts
// (shard_puts.h), and searches, scans and actions that ask one replica of every shard.
#include <arrow/flight/types.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <set>

#include "cluster/cluster_node.h"
#include "cluster/fan_out_util.h"
#include "cluster/put_stream_server.h"
#include "cluster/search_merge.h"
#include "common/dataset_name.h"
#include "store/dataset_layout.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// `candidates` that are live members, this node first, the others starting at `shard`'s turn
// (so that the shards a node does not hold spread over their replicas).
std::vector<MemberInfo> AskOrder(const std::vector<std::string>& candidates,
                                 const std::vector<MemberInfo>& members, const std::string& self_id,
                                 int32_t shard) {
  std::vector<MemberInfo> self, others;
  for (const auto& node : candidates) {
    for (const auto& member : members) {
      if (member.node_id != node) continue;
      (node == self_id ? self : others).push_back(member);
    }
  }
  if (!others.empty()) {
    std::rotate(others.begin(), others.begin() + shard % static_cast<int32_t>(others.size()),
                others.end());
  }
  self.insert(self.end(), others.begin(), others.end());
  return self;
}

std::string ShardLabel(const std::string& dataset, int32_t shard) {
  return "shard " + std::to_string(shard) + " of '" + dataset + "'";
}

std::string NoLiveReplica(const ShardPlacement& placement) {
  return "no live replica holds all its rows (replicas: " + Json(placement.replicas).dump() + ")";
}

std::string ShardLabel(const ShardMap& map, int32_t shard) {
  return ShardLabel(map.dataset, shard);
}

}  // namespace

std::vector<MemberInfo> ClusterNode::LiveMembers() const {
  const auto membership = this->membership();
  return membership ? membership->members() : std::vector<MemberInfo>{};
}

std::optional<ShardMap> ClusterNode::ShardMapOf(const Json& keys, bool fresh) {
  if (!keys.is_object()) return std::nullopt;
  auto it = keys.find("dataset");
  if (it == keys.end() || !it->is_string()) return std::nullopt;
  auto map = maps_.Get(it->get<std::string>(), fresh);
  if (!map.ok()) {
    spdlog::warn("cluster {}: cannot read the shard map of '{}': {}", options_.cluster,
                 it->get<std::string>(), map.status().message());
    return std::nullopt;
  }
  return *map;
}

std::vector<std::string> ClusterNode::StreamAddresses() const {
  std::vector<std::string> addresses;
  for (const auto& member : LiveMembers()) {
    if (!member.draining) addresses.push_back(member.flight);
  }
  return addresses;
}

ShardEnv ClusterNode::ShardEnvironment() {
  ShardEnv env;
  env.peers = &peers_;
  env.maps = &maps_;
  env.members = [this] { return LiveMembers(); };
  env.self_id = SelfId();
  env.timeout = options_.put_timeout;
  env.write_quorum = options_.write_quorum;
  env.fences = &fences_;
  env.assign_ids = [this](int64_t count) { return id_blocks_.Take(count); };
  env.streams = &streams_;
  env.threads = &put_threads_;
  MutexLock lock(&mutex_);
  env.local = local_;
  return env;
}

CatchupEnv ClusterNode::CatchupEnvironment() {
  CatchupEnv env;
  env.maps = &maps_;
  env.fences = &fences_;
  env.members = [this] { return LiveMembers(); };
  env.self = [this]() -> std::optional<MemberInfo> {
    const auto membership = this->membership();
    if (!membership) return std::nullopt;
    return membership->options().self;
  };
  env.degraded = [this] {
    const auto membership = this->membership();
    return !membership || membership->health().degraded;
  };
  env.local = [this] {
    MutexLock lock(&mutex_);
    return local_;
  };
  // This node's own copy read in-process (local_shards.cc), a peer's over Flight.
  env.scan = [this](const MemberInfo& member, const std::string& ticket,
                    std::chrono::milliseconds timeout) {
    return ScanShard(member, ticket, timeout);
  };
  env.action = [this](const MemberInfo& member, const std::string& type, const std::string& body,
                      std::chrono::milliseconds timeout) {
    return ActionPeer(member, type, body, timeout);
  };
  env.timeout = options_.put_timeout;
  env.drop_grace = ShardMaps::kMaxAge + options_.search_timeout;
  env.interval =
      std::chrono::milliseconds(std::max<int64_t>(500, options_.lease_ttl_seconds * 1000 / 4));
  env.deletes = &deletes_;
  env.digests = &digests_;
  env.snapshot = [this](const std::string& dataset) -> arrow::Result<DatasetSnapshot> {
    std::optional<LocalReads> reads;
    {
      MutexLock lock(&mutex_);
      reads = local_reads_;
    }
    if (!reads || !reads->snapshot) {
      return arrow::Status::NotImplemented("this node's store offers no views");
    }
    return reads->snapshot(dataset);
  };
  env.on_outcome = [metrics = metrics_](const Json& state) {
    if (state.value("state", "") != "caught_up") return metrics->CatchupFailed();
    auto count = [&](const char* pass, const char* key) {
      const auto it = state.find(pass);
      return it == state.end() || !it->is_object() ? int64_t{0} : it->value(key, int64_t{0});
    };
    ClusterMetrics::CatchupCounts counts;
    counts.rows_bulk = state.value("rows_bulk", int64_t{0});
    counts.rows_reconcile = count("reconcile_before_fences", "rows_copied");
    counts.rows_fenced = state.value("rows_fenced", int64_t{0});
    counts.fenced_seconds = state.value("fenced_seconds", 0.0);
    counts.buckets_compared =
        count("reconcile_before_fences", "buckets") + count("reconcile_fenced", "buckets");
    counts.buckets_differ = count("reconcile_before_fences", "buckets_differ") +
                            count("reconcile_fenced", "buckets_differ");
    counts.segments_adopted = state.value("segments_adopted", int64_t{0});
    counts.rows_adopted = state.value("rows_adopted", int64_t{0});
    counts.rows_scanned = state.value("rows_scanned", int64_t{0});
    counts.bytes_scanned = state.value("bytes_scanned", int64_t{0});
    const auto snapshot = state.find("snapshot");
    counts.snapshot_asked = snapshot != state.end() && snapshot->is_object();
    counts.snapshot_written = counts.snapshot_asked && snapshot->contains("lsn");
    metrics->CatchupCaughtUp(counts);
  };
  // Test-only: slows the bulk pass of every catch-up (tests that need one that lasts).
  if (const char* delay = std::getenv("ARBALEST_TEST_CATCHUP_BULK_DELAY_MS")) {
    env.bulk_batch_delay = std::chrono::milliseconds(std::strtoll(delay, nullptr, 10));
  }
  // Test-only: a pause between a catch-up's segment adoption and its row scan (tests that
  // compact or merge the primary's segments meanwhile).
  if (const char* delay = std::getenv("ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS")) {
    env.scan_delay = std::chrono::milliseconds(std::strtoll(delay, nullptr, 10));
  }
  // Test-only: a pause before a catch-up's bulk pass counts the rows the node holds (tests of
  // writes that reach a syncing replica before that).
  if (const char* delay = std::getenv("ARBALEST_TEST_CATCHUP_START_DELAY_MS")) {
    env.start_delay = std::chrono::milliseconds(std::strtoll(delay, nullptr, 10));
  }
  if (const char* hold = std::getenv("ARBALEST_TEST_CATCHUP_HOLD_MS")) {
    env.hold = std::chrono::milliseconds(std::max<int64_t>(1, std::strtoll(hold, nullptr, 10)));
  }
  return env;
}

void ClusterNode::NoteLocalDelete(const std::string& dataset, const Json& ids) {
  if (dataset.find(kShardDatasetMarker) != std::string::npos) deletes_.Note(dataset, ids);
}

arrow::Result<std::shared_ptr<void>> ClusterNode::AdmitLocalDelete(const std::string& dataset,
                                                                   const Json& request) {
  const auto shard_of = ShardOfDatasetName(dataset);
  if (!shard_of) return nullptr;
  const auto& [logical, shard] = *shard_of;
  const std::string label = ShardLabel(logical, shard);
  auto fence = fences_.Of(dataset);
  ARROW_RETURN_NOT_OK(fence->Enter(options_.put_timeout, label));
  // Held until the delete ran, its ids noted first: a catch-up's bulk copy either stores a row
  // before it (the delete removes it) or sees its id deleted (shard_fence.h).
  auto entered = std::make_shared<DeleteEntry>(fence);
  const auto epoch_key = request.find("shard_epoch");
  if (epoch_key == request.end()) return entered;  // a client's own local_only delete
  if (!epoch_key->is_number_integer()) {
    return arrow::Status::Invalid("'shard_epoch' must be an integer, got ",
                                  JsonForMessage(*epoch_key));
  }
  // Checked in the fence, where a catch-up may have held the delete while the map moved.
  const int64_t epoch = epoch_key->get<int64_t>();
  ARROW_ASSIGN_OR_RAISE(auto map, maps_.Get(logical));
  if (!map || shard >= map->shards || epoch > map->placement[shard].epoch) {
    ARROW_ASSIGN_OR_RAISE(map, maps_.Get(logical, /*fresh=*/true));
  }
  if (!map || shard >= map->shards) {
    return arrow::Status::Invalid("delete from ", label, ": no such shard in the shard map");
  }
  const ShardPlacement& placement = map->placement[shard];
  if (epoch != placement.epoch || !placement.HasReplica(SelfId())) {
    return arrow::Status::Invalid(kStaleEpoch, " ", epoch, " for ", label,
                                  ": the shard map is at epoch ", placement.epoch,
                                  " with replicas ", Json(placement.replicas).dump());
  }
  return entered;
}

void ClusterNode::AttachLocal(LocalPuts local) {
  MutexLock lock(&mutex_);
  local_ = std::move(local);
}

std::optional<arrow::Result<Json>> ClusterNode::InternalAction(std::string_view type,
                                                               std::string_view body) {
  if (type == kShardFenceAction) return ShardFenceAction(CatchupEnvironment(), body);
  if (type == kShardDigestAction) return ShardDigestAction(CatchupEnvironment(), body);
  return std::nullopt;
}

std::optional<arrow::Status> ClusterNode::ServePutStream(const fl::FlightDescriptor& descriptor,
                                                         fl::FlightMessageReader& reader,
                                                         fl::FlightMetadataWriter& writer,
                                                         const LocalPuts& local,
                                                         const std::string& forwarded_token) {
  if (descriptor.type != fl::FlightDescriptor::CMD) return std::nullopt;
  auto dataset = ParsePutStreamCommand(descriptor.cmd);
  if (!dataset.ok()) return dataset.status();
  if (!*dataset) return std::nullopt;
  ShardEnv env = ShardEnvironment();
  // The replication hops carry the client's token beside the cluster token, as OpenPut's.
  if (peers_.carries_token()) env.forwarded_token = forwarded_token;
  return ServeShardPutStream(env, **dataset, reader, writer, local);
}

arrow::Result<std::unique_ptr<PutSink>> ClusterNode::OpenPut(
    const fl::FlightDescriptor& descriptor, const std::shared_ptr<arrow::Schema>& schema,
    const LocalPuts& local, const std::string& forwarded_token) {
  ShardEnv env = ShardEnvironment();
  // The shard puts carry the client's token beside the cluster token: each node checks it.
  if (peers_.carries_token()) env.forwarded_token = forwarded_token;
  if (descriptor.type == fl::FlightDescriptor::CMD) {
    ARROW_ASSIGN_OR_RAISE(auto hop, ParseShardPutHop(descriptor.cmd));
    if (!hop) return nullptr;
    return OpenShardReplicaSink(std::move(env), std::move(*hop), local);
  }
  if (descriptor.type != fl::FlightDescriptor::PATH || descriptor.path.size() != 1 ||
      !IsValidDatasetName(descriptor.path[0])) {
    return nullptr;  // the single node's error
  }
  const std::string& name = descriptor.path[0];
  if (name.find(kShardDatasetMarker) != std::string::npos) {
    return arrow::Status::Invalid("dataset name '", name, "': names holding '", kShardDatasetMarker,
                                  "' are reserved for the shards of sharded datasets");
  }
  auto existing = maps_.Get(name);
  if (!existing.ok()) {
    if (local.holds(name)) return nullptr;  // this node's own dataset, as before sharding
    return fl::MakeFlightError(
        fl::FlightStatusCode::Unavailable,
        "cannot read the shard map of '" + name + "' from etcd: " + existing.status().message());
  }
  std::optional<ShardMap> map = std::move(*existing);
  if (!map) {
    if (local.holds(name)) return nullptr;  // created before sharding, or with 0 shards
    ARROW_ASSIGN_OR_RAISE(int32_t shards,
                          MetadataCount(*schema, kShardsMetadataKey, options_.shards, kMaxShards));
    if (shards == 0) return nullptr;
    ARROW_ASSIGN_OR_RAISE(
        int32_t replication,
        MetadataCount(*schema, kReplicationMetadataKey, options_.replication, kMaxReplication));
    ARROW_RETURN_NOT_OK(InspectPutSchema(*schema).status());
    ARROW_RETURN_NOT_OK(ShardDatasetName(name, shards - 1).status());
    std::vector<std::string> live;
    for (const auto& member : LiveMembers()) {
      if (!member.draining) live.push_back(member.node_id);  // a draining member takes none
    }
    if (live.empty()) {
      return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                 "no member to place the shards of '" + name +
                                     "' on (this node has not joined its cluster yet, or every "
                                     "member is draining)");
    }
    replication = std::min<int32_t>(replication, static_cast<int32_t>(live.size()));
    ShardMap proposed = PlaceShards(name, shards, replication, live);
    proposed.assigned_ids = schema->GetFieldIndex("id") < 0;  // as a single node: id_blocks.h
    ARROW_ASSIGN_OR_RAISE(map, maps_.Create(proposed));
    spdlog::info("cluster {}: dataset '{}' sharded: {}", options_.cluster, name,
                 map->ToJson().dump());
  }
  return OpenShardRouter(std::move(env), std::move(*map), *schema);
}

template <typename Part>
arrow::Result<std::vector<Part>> ClusterNode::FanOutShards(
    const ShardMap& map, const FanOutOptions& options, ShardReach reach,
    const std::function<arrow::Result<Part>(const MemberInfo&, const std::string&, int64_t,
                                            std::chrono::milliseconds)>& ask,
    std::vector<MissingNode>* missing) {
  const auto timeout = (options.timeout_ms ? std::chrono::milliseconds(*options.timeout_ms)
                                           : options_.search_timeout) +
                       std::chrono::milliseconds(options.extra_timeout_ms);
  const std::vector<MemberInfo> members = LiveMembers();
  const std::string self_id = SelfId();
  if (reach == ShardReach::kOneReplica) {
    ARROW_ASSIGN_OR_RAISE(
        std::vector<Part> parts,
        ReadOneReplicaPerShard<Part>(map, timeout, members, self_id, ask, missing));
    return CheckShardParts(map, options, std::move(parts), missing);
  }
  struct ShardAnswer {
    std::vector<Part> parts;  // none: the shard holds no rows (or did not answer)
    std::vector<MissingNode> missing;
  };
  // Every replica of a shard, each asked once, following the map when one refuses the
  // request's epoch as stale (at most a few times).
  auto answer_shard = [&](int32_t shard) -> arrow::Result<ShardAnswer> {
    ARROW_ASSIGN_OR_RAISE(std::string dataset, ShardDatasetName(map.dataset, shard));
    ShardAnswer answer;
    ShardPlacement placement = map.placement[shard];
    if (AskOrder(placement.replicas, members, self_id, shard).empty()) {
      answer.missing.push_back({"", NoLiveReplica(placement), shard});
      return answer;
    }
    std::set<std::string> answered;
    for (int round = 0;; ++round) {
      std::vector<MissingNode> failed;
      bool stale = false;
      for (const auto& member : AskOrder(placement.replicas, members, self_id, shard)) {
        if (answered.contains(member.node_id)) continue;
        auto part = ask(member, dataset, placement.epoch, timeout);
        if (part.ok() || part.status().IsKeyError()) {  // KeyError: it holds no rows of the shard
          answered.insert(member.node_id);
          if (part.ok() && (answer.parts.empty() || reach == ShardReach::kEveryAnswer)) {
            answer.parts.push_back(std::move(*part));
          }
          continue;
        }
        stale = stale || IsStaleEpoch(part.status());
        failed.push_back({member.node_id,
                          ShardLabel(map, shard) + ": " +
                              MissingReason(part.status(), timeout, member, peers_.tls()),
                          shard});
      }
      auto fresh = stale && round < 3 ? maps_.Get(map.dataset, /*fresh=*/true)
                                      : arrow::Result<std::optional<ShardMap>>(std::nullopt);
      if (!fresh.ok() || !*fresh || shard >= (*fresh)->shards) {
        for (auto& node : failed) answer.missing.push_back(std::move(node));
        return answer;
      }
      placement = (*fresh)->placement[shard];
    }
  };
  std::vector<std::future<arrow::Result<ShardAnswer>>> answers;
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    answers.push_back(hop_threads_.Submit([&answer_shard, shard] { return answer_shard(shard); }));
  }
  std::vector<Part> parts;
  arrow::Status failure;
  for (auto& future : answers) {
    auto answer = future.get();
    if (!answer.ok()) {
      if (failure.ok()) failure = answer.status();
      continue;
    }
    for (auto& part : answer->parts) parts.push_back(std::move(part));
    for (auto& node : answer->missing) missing->push_back(std::move(node));
  }
  ARROW_RETURN_NOT_OK(failure);
  return CheckShardParts(map, options, std::move(parts), missing);
}

template <typename Part>
arrow::Result<std::vector<Part>> ClusterNode::ReadOneReplicaPerShard(
    const ShardMap& map, std::chrono::milliseconds timeout, const std::vector<MemberInfo>& members,
    const std::string& self_id,
    const std::function<arrow::Result<Part>(const MemberInfo&, const std::string&, int64_t,
                                            std::chrono::milliseconds)>& ask,
    std::vector<MissingNode>* missing) {
  std::vector<std::vector<MemberInfo>> candidates;
  std::vector<std::string> datasets;
  std::vector<int64_t> epochs;
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    ARROW_ASSIGN_OR_RAISE(std::string dataset, ShardDatasetName(map.dataset, shard));
    datasets.push_back(std::move(dataset));
    epochs.push_back(map.placement[shard].epoch);
    candidates.push_back(AskOrder(map.placement[shard].Readable(), members, self_id, shard));
  }
  // The attempts may outlive this call (a hedged loser): they own copies of what they use.
  auto reads = RaceReplicas<Part>(
      candidates, options_.hedge_after, timeout,
      [ask, datasets, epochs](int32_t shard, const MemberInfo& member,
                              std::chrono::milliseconds left) {
        return ask(member, datasets[shard], epochs[shard], left);
      },
      [this, timeout](const arrow::Status& status, const MemberInfo& member) {
        return MissingReason(status, timeout, member, peers_.tls());
      },
      attempts_, hop_threads_);
  std::vector<Part> parts;
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    auto& read = reads[shard];
    if (read.hedged) metrics_->Hedged();
    if (read.part) parts.push_back(std::move(*read.part));
    if (read.answered) continue;
    if (candidates[shard].empty()) {
      missing->push_back({"", NoLiveReplica(map.placement[shard]), shard});
    } else {
      missing->push_back({read.last_node,
                          ShardLabel(map, shard) + ": no replica answered: " + read.reasons,
                          shard});
    }
  }
  return parts;
}

template <typename Part>
arrow::Result<std::vector<Part>> ClusterNode::CheckShardParts(const ShardMap& map,
                                                              const FanOutOptions& options,
                                                              std::vector<Part> parts,
                                                              std::vector<MissingNode>* missing) {
  metrics_->FannedOut(static_cast<int64_t>(missing->size()));
  if (options.require_all && !missing->empty()) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "require_all: " + missing->front().reason +
                                   "; all missing: " + MissingShardsJson(*missing).dump());
  }
  if (parts.empty()) {
    if (missing->empty()) {
      return arrow::Status::KeyError("dataset '", map.dataset, "' holds no rows on any shard");
    }
    return fl::MakeFlightError(
        fl::FlightStatusCode::Unavailable,
        "no shard of '" + map.dataset + "' answered: " + MissingShardsJson(*missing).dump());
  }
  return parts;
}

namespace {

// `keys` as a hop to one shard's local dataset.
Json ShardHopKeys(const Json& keys, const std::string& shard_dataset) {
  Json hop = HopKeys(keys);
  hop["dataset"] = shard_dataset;
  return hop;
}

}  // namespace

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ClusterNode::ShardSearchParts(
    const ShardMap& map, const Json& keys, const FanOutOptions& options,
    std::vector<MissingNode>* missing) {
  using Batch = std::shared_ptr<arrow::RecordBatch>;
  return FanOutShards<Batch>(
      map, options, ShardReach::kOneReplica,
      [this, keys](const MemberInfo& member, const std::string& dataset, int64_t,
                   std::chrono::milliseconds timeout) {
        return SearchShard(member, Json{{"search", ShardHopKeys(keys, dataset)}}.dump(), timeout);
      },
      missing);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ClusterNode::ShardScan(
    const ShardMap& map, const Json& keys, std::optional<int64_t> limit,
    const FanOutOptions& options) {
  std::vector<MissingNode> missing;
  ARROW_ASSIGN_OR_RAISE(
      auto parts, FanOutShards<ScanPart>(
                      map, options, ShardReach::kOneReplica,
                      [this, keys](const MemberInfo& member, const std::string& dataset, int64_t,
                                   std::chrono::milliseconds timeout) {
                        return ScanShard(member, ShardHopKeys(keys, dataset).dump(), timeout);
                      },
                      &missing));
  auto schema = SchemaWithMissingNodes(parts.front().reader->schema(), missing);
  return std::make_shared<ChainedScanReader>(std::move(schema), std::move(parts), limit);
}

arrow::Result<ClusterActionResult> ClusterNode::ShardAction(const ShardMap& map,
                                                            const std::string& type,
                                                            const Json& body,
                                                            const FanOutOptions& options) {
  ClusterActionResult result;
  // A delete must reach every replica (each shard's count once); readiness is every replica's
  // (a search may ask any); the other actions read one.
  const ShardReach reach = type == "delete"            ? ShardReach::kEveryReplica
                           : type == "check_readiness" ? ShardReach::kEveryAnswer
                                                       : ShardReach::kOneReplica;
  ARROW_ASSIGN_OR_RAISE(
      result.answers,
      FanOutShards<NodeAnswer>(
          map, options, reach,
          [this, type, body, token = options.forwarded_token, name = map.dataset](
              const MemberInfo& member, const std::string& dataset, int64_t epoch,
              std::chrono::milliseconds timeout) -> arrow::Result<NodeAnswer> {
            Json hop = ShardHopKeys(body, dataset);
            // A delete carries the epoch it was routed under; a replica at another one refuses
            // it, and the shard's replicas are asked again from the map read afresh.
            if (type == "delete") hop["shard_epoch"] = epoch;
            ARROW_ASSIGN_OR_RAISE(Json answer,
                                  ActionShard(member, type, hop.dump(), timeout, token));
            if (answer.is_object() && answer.contains("dataset")) answer["dataset"] = name;
            return NodeAnswer{
                member.node_id + " (shard " + dataset.substr(dataset.rfind("__shard") + 7) + ")",
                std::move(answer)};
          },
          &result.missing));
  return result;
}

Json ClusterNode::ShardMapsStatus() const {
  auto maps = maps_.All();
  if (!maps.ok()) return Json{{"error", maps.status().message()}};
  Json all = Json::array();
  for (const auto& map : *maps) all.push_back(map.ToJson());
  return all;
}

}  // namespace arbalest
