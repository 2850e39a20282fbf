#include "cluster/shard_map.h"

#include <arrow/array.h>
#include <arrow/status.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "common/dataset_name.h"

namespace arbalest {
namespace {

bool Contains(const std::vector<std::string>& nodes, std::string_view node) {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

// The live members ranked by rendezvous hashing for shard `shard` of `dataset`, best first.
std::vector<std::string> Ranked(std::string_view dataset, int32_t shard,
                                std::vector<std::string> nodes) {
  auto score = [&](const std::string& node) {
    const std::string key = std::string(dataset) + "/" + std::to_string(shard) + "/" + node;
    return XXH3_64bits(key.data(), key.size());
  };
  std::sort(nodes.begin(), nodes.end(), [&](const std::string& a, const std::string& b) {
    const uint64_t sa = score(a), sb = score(b);
    return sa != sb ? sa > sb : a < b;
  });
  return nodes;
}

arrow::Result<std::vector<std::string>> StringList(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return std::vector<std::string>{};
  if (!it->is_array()) return arrow::Status::Invalid("shard map: '", key, "' is not an array");
  std::vector<std::string> list;
  for (const auto& item : *it) {
    if (!item.is_string())
      return arrow::Status::Invalid("shard map: '", key, "' holds a non-string");
    list.push_back(item.get<std::string>());
  }
  return list;
}

// Hands primaries over along chains of replicas until no member is primary of two more shards
// than a member some chain leads to: member A primary of shard s1 that B also holds, B primary of
// s2 that C holds, ... Z; moving each of those shards one step shifts one primary from A to Z and
// leaves the others' counts as they were. With no such chain left the spread is the best the
// replicas allow (an optimal semi-matching). Deterministic: members and shards in a fixed order.
// The primary of each shard is put first among its replicas.
void SpreadPrimaries(std::vector<ShardPlacement>* placement) {
  std::map<std::string, int32_t> primaries;
  for (const auto& shard : *placement) {
    for (const auto& node : shard.replicas) primaries[node] += shard.primary == node ? 1 : 0;
  }
  // One chain from `from` to a member primary of at most primaries[from] - 2 shards, as the
  // shards to move (each to the member that holds it next); empty when there is none.
  auto chain_from = [&](const std::string& from) {
    std::map<std::string, std::pair<size_t, std::string>> reached;  // member -> (shard, previous)
    std::vector<std::string> frontier = {from};
    reached[from] = {placement->size(), std::string()};
    for (size_t next = 0; next < frontier.size(); ++next) {
      const std::string here = frontier[next];
      for (size_t shard = 0; shard < placement->size(); ++shard) {
        if ((*placement)[shard].primary != here) continue;
        for (const auto& node : (*placement)[shard].replicas) {
          if (reached.count(node)) continue;
          reached[node] = {shard, here};
          if (primaries[node] + 2 > primaries[from]) {
            frontier.push_back(node);
            continue;
          }
          std::vector<std::pair<size_t, std::string>> moves;  // (shard, new primary)
          for (std::string at = node; at != from; at = reached[at].second) {
            moves.emplace_back(reached[at].first, at);
          }
          return moves;
        }
      }
    }
    return std::vector<std::pair<size_t, std::string>>{};
  };
  for (bool moved = true; moved;) {
    moved = false;
    for (const auto& [from, count] : primaries) {
      auto moves = chain_from(from);
      if (moves.empty()) continue;
      --primaries[from];
      ++primaries[moves.front().second];
      for (const auto& [shard, node] : moves) (*placement)[shard].primary = node;
      moved = true;
      break;
    }
  }
  for (auto& shard : *placement) {
    std::stable_partition(shard.replicas.begin(), shard.replicas.end(),
                          [&](const std::string& node) { return node == shard.primary; });
  }
}

template <typename Integer>
uint64_t HashInteger(Integer value) {
  unsigned char bytes[sizeof(Integer)];
  for (size_t i = 0; i < sizeof(Integer); ++i) {
    bytes[i] = static_cast<unsigned char>(static_cast<uint64_t>(value) >> (8 * i));
  }
  return XXH3_64bits(bytes, sizeof(bytes));
}

}  // namespace

std::vector<std::string> ShardPlacement::Readable() const {
  std::vector<std::string> readable;
  for (const auto& node : replicas) {
    if (!Contains(syncing, node) && !Contains(leaving, node)) readable.push_back(node);
  }
  return readable;
}

bool ShardPlacement::HasReplica(std::string_view node) const { return Contains(replicas, node); }

Json ShardMap::ToJson() const {
  Json shards_json = Json::array();
  for (size_t i = 0; i < placement.size(); ++i) {
    const ShardPlacement& shard = placement[i];
    shards_json.push_back({{"shard", i},
                           {"replicas", shard.replicas},
                           {"primary", shard.primary},
                           {"epoch", shard.epoch},
                           {"syncing", shard.syncing},
                           {"leaving", shard.leaving}});
    if (!shard.former.empty()) shards_json.back()["former"] = shard.former;
  }
  return {{"dataset", dataset},
          {"shards", shards},
          {"replication", replication},
          {"ids", assigned_ids ? "assigned" : "client"},
          {"placement", std::move(shards_json)}};
}

arrow::Result<ShardMap> ParseShardMap(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json json, ParseJsonObject(text, "shard map"));
  ShardMap map;
  if (!json.contains("dataset") || !json["dataset"].is_string() || !json.contains("shards") ||
      !json["shards"].is_number_integer() || !json.contains("placement") ||
      !json["placement"].is_array()) {
    return arrow::Status::Invalid("shard map without dataset, shards or placement: ",
                                  std::string(text.substr(0, 200)));
  }
  map.dataset = json["dataset"].get<std::string>();
  map.shards = json["shards"].get<int32_t>();
  map.replication = json.value("replication", 1);
  map.assigned_ids = json.value("ids", std::string("client")) == "assigned";
  for (const auto& entry : json["placement"]) {
    if (!entry.is_object()) return arrow::Status::Invalid("shard map: a shard is not an object");
    ShardPlacement shard;
    ARROW_ASSIGN_OR_RAISE(shard.replicas, StringList(entry, "replicas"));
    ARROW_ASSIGN_OR_RAISE(shard.syncing, StringList(entry, "syncing"));
    ARROW_ASSIGN_OR_RAISE(shard.leaving, StringList(entry, "leaving"));
    ARROW_ASSIGN_OR_RAISE(shard.former, StringList(entry, "former"));
    shard.primary = entry.value("primary", std::string());
    shard.epoch = entry.value("epoch", int64_t{1});
    map.placement.push_back(std::move(shard));
  }
  if (map.shards < 1 || static_cast<size_t>(map.shards) != map.placement.size()) {
    return arrow::Status::Invalid("shard map of '", map.dataset, "': ", map.shards, " shards but ",
                                  map.placement.size(), " placements");
  }
  return map;
}

std::string ShardMapsPrefix(std::string_view cluster) {
  std::string prefix = "/";
  prefix.append(cluster).append("/shards/");
  return prefix;
}

std::string ShardMapKey(std::string_view cluster, std::string_view dataset) {
  return ShardMapsPrefix(cluster) + std::string(dataset);
}

arrow::Result<std::string> ShardDatasetName(std::string_view dataset, int32_t shard) {
  std::string name = std::string(dataset) + kShardDatasetMarker + std::to_string(shard);
  if (!IsValidDatasetName(name)) {
    return arrow::Status::Invalid("dataset name '", dataset,
                                  "' is too long for a sharded dataset (its shards are stored as '",
                                  name, "', at most ", kMaxDatasetNameLength, " characters)");
  }
  return name;
}

bool IsStaleEpoch(const arrow::Status& status) {
  return status.IsInvalid() && status.message().find(kStaleEpoch) != std::string::npos;
}

std::optional<std::pair<std::string, int32_t>> ShardOfDatasetName(std::string_view name) {
  const size_t marker = name.rfind(kShardDatasetMarker);
  if (marker == std::string_view::npos) return std::nullopt;
  const std::string_view digits = name.substr(marker + std::strlen(kShardDatasetMarker));
  int32_t shard = -1;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), shard);
  if (error != std::errc() || end != digits.data() + digits.size() || shard < 0) {
    return std::nullopt;
  }
  return std::pair{std::string(name.substr(0, marker)), shard};
}

ShardMap PlaceShards(std::string dataset, int32_t shards, int32_t replication,
                     const std::vector<std::string>& nodes) {
  ShardMap map;
  map.dataset = std::move(dataset);
  map.shards = shards;
  map.replication = replication;
  std::map<std::string, int32_t> loads;
  for (int32_t shard = 0; shard < shards; ++shard) {
    // The least loaded members first (so that no member holds 2 replicas more than another),
    // in rendezvous order among equals.
    std::vector<std::string> ranked = Ranked(map.dataset, shard, nodes);
    std::stable_sort(ranked.begin(), ranked.end(), [&](const std::string& a, const std::string& b) {
      return loads[a] < loads[b];
    });
    ranked.resize(std::min<size_t>(ranked.size(), static_cast<size_t>(replication)));
    for (const auto& node : ranked) ++loads[node];
    ShardPlacement placement;
    placement.primary = ranked.empty() ? std::string() : ranked.front();
    placement.replicas = std::move(ranked);
    map.placement.push_back(std::move(placement));
  }
  SpreadPrimaries(&map.placement);
  return map;
}

namespace {

// `candidates` in rendezvous order for `shard`; with `least_loaded`, those holding the fewest
// replicas of `map` first (rendezvous order among equals).
std::vector<std::string> Candidates(const ShardMap& map, int32_t shard,
                                    const std::set<std::string>& candidates, bool least_loaded) {
  std::vector<std::string> ranked =
      Ranked(map.dataset, shard, std::vector<std::string>(candidates.begin(), candidates.end()));
  if (!least_loaded) return ranked;
  std::map<std::string, int32_t> loads;
  for (const auto& placement : map.placement) {
    for (const auto& node : placement.replicas) ++loads[node];
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](const std::string& a, const std::string& b) { return loads[a] < loads[b]; });
  return ranked;
}

// Adds the `candidates` (Candidates' order) that are not replicas of `shard` as syncing
// replicas until it has map->replication replicas.
void AddSyncingReplicas(ShardMap* map, int32_t shard, const std::set<std::string>& candidates,
                        bool least_loaded = false) {
  ShardPlacement& placement = map->placement[shard];
  for (const auto& node : Candidates(*map, shard, candidates, least_loaded)) {
    if (placement.replicas.size() >= static_cast<size_t>(map->replication)) break;
    if (placement.HasReplica(node)) continue;
    placement.replicas.push_back(node);
    placement.syncing.push_back(node);
    std::erase(placement.former, node);
  }
}

// Notes the replicas of `before` that `placement` lost as its former ones.
void NoteFormer(const ShardPlacement& before, ShardPlacement* placement) {
  for (const auto& node : before.replicas) {
    if (placement->HasReplica(node) || Contains(placement->former, node)) continue;
    placement->former.push_back(node);
  }
  if (placement->former.size() > kMaxFormer) {
    placement->former.erase(placement->former.begin(),
                            placement->former.end() - static_cast<std::ptrdiff_t>(kMaxFormer));
  }
}

std::set<std::string> Without(const std::set<std::string>& nodes,
                              const std::set<std::string>& gone) {
  std::set<std::string> kept;
  for (const auto& node : nodes) {
    if (!gone.contains(node)) kept.insert(node);
  }
  return kept;
}

}  // namespace

bool RepairShardMap(ShardMap* map, const std::set<std::string>& live,
                    const std::set<std::string>& draining) {
  bool changed_any = false;
  const std::set<std::string> placeable = Without(live, draining);
  for (int32_t shard = 0; shard < map->shards; ++shard) {
    ShardPlacement& placement = map->placement[shard];
    const ShardPlacement before = placement;
    std::erase_if(placement.replicas,
                  [&](const std::string& node) { return !live.contains(node); });
    std::erase_if(placement.syncing, [&](const std::string& node) { return !live.contains(node); });
    std::erase_if(placement.leaving, [&](const std::string& node) { return !live.contains(node); });
    if (placement.replicas.empty()) {  // nobody left to take over: the shard waits as it is
      placement = before;
      continue;
    }
    if (!live.contains(placement.primary)) {
      const std::vector<std::string> readable = placement.Readable();
      placement.primary = readable.empty() ? placement.replicas.front() : readable.front();
    }
    NoteFormer(before, &placement);
    AddSyncingReplicas(map, shard, placeable);
    if (placement.replicas != before.replicas || placement.primary != before.primary ||
        placement.syncing != before.syncing || placement.leaving != before.leaving) {
      placement.epoch = before.epoch + 1;
      changed_any = true;
    }
  }
  return changed_any;
}

namespace {

// How many replicas of `map` each of the `live` members holds.
std::map<std::string, int32_t> ReplicaLoads(const ShardMap& map,
                                            const std::set<std::string>& live) {
  std::map<std::string, int32_t> loads;
  for (const auto& node : live) loads[node] = 0;
  for (const auto& placement : map.placement) {
    for (const auto& node : placement.replicas) {
      if (live.contains(node)) ++loads[node];
    }
  }
  return loads;
}

}  // namespace

bool BalanceShardMap(ShardMap* map, const std::set<std::string>& all_live,
                     const std::function<bool(int32_t shard)>& leaving_long_enough,
                     const std::set<std::string>& draining) {
  const std::set<std::string> live = Without(all_live, draining);
  if (live.empty()) return false;
  std::map<std::string, int32_t> loads = ReplicaLoads(*map, live);
  bool moving = false;
  for (int32_t shard = 0; shard < map->shards; ++shard) {
    ShardPlacement& placement = map->placement[shard];
    if (std::any_of(placement.replicas.begin(), placement.replicas.end(),
                    [&](const std::string& node) { return draining.contains(node); })) {
      moving = true;  // its drain hands it over
      continue;
    }
    if (!placement.leaving.empty()) {  // 1.
      moving = true;
      if (!leaving_long_enough(shard)) continue;
      std::erase_if(placement.replicas,
                    [&](const std::string& node) { return Contains(placement.leaving, node); });
      placement.leaving.clear();
      ++placement.epoch;
      return true;
    }
    if (!placement.syncing.empty()) {
      moving = true;
      continue;
    }
    if (placement.replicas.size() <= static_cast<size_t>(map->replication)) continue;
    std::string busiest;  // 2.
    for (const auto& node : placement.replicas) {
      if (busiest.empty() || loads[node] > loads[busiest]) busiest = node;
    }
    placement.leaving.push_back(busiest);
    if (placement.primary == busiest) placement.primary = placement.Readable().front();
    ++placement.epoch;
    return true;
  }
  if (moving) return false;
  // Of members of equal load, the first (idlest) and the last (busiest) in a rendezvous order of
  // the dataset's, not of their names: across datasets, the replica more that some members keep
  // (when S x R is not a multiple of the members) rests on different members, not always on
  // the first names.
  std::vector<std::string> order;
  for (const auto& [node, load] : loads) order.push_back(node);
  order = Ranked(map->dataset, -1, std::move(order));
  std::string idlest = order.front();
  std::string busiest = order.front();
  for (const auto& node : order) {
    if (loads[node] < loads[idlest]) idlest = node;
    if (loads[node] >= loads[busiest]) busiest = node;
  }
  if (loads[busiest] - loads[idlest] < 2) return false;
  // 3. A shard the idlest held before first: it may have kept its copy.
  for (const bool former_only : {true, false}) {
    for (ShardPlacement& placement : map->placement) {
      if (!placement.HasReplica(busiest) || placement.HasReplica(idlest)) continue;
      if (former_only && !Contains(placement.former, idlest)) continue;
      placement.replicas.push_back(idlest);
      placement.syncing.push_back(idlest);
      std::erase(placement.former, idlest);
      ++placement.epoch;
      return true;
    }
  }
  return false;
}

DrainStep DrainShard(ShardMap* map, int32_t shard, const std::string& node,
                     const std::set<std::string>& placeable) {
  ShardPlacement& placement = map->placement[shard];
  if (!placement.HasReplica(node)) return DrainStep::kNotHeld;
  std::vector<std::string> others = placement.Readable();
  std::erase(others, node);
  if (!others.empty()) {
    for (auto* list : {&placement.replicas, &placement.syncing, &placement.leaving}) {
      std::erase(*list, node);
    }
    if (placement.primary == node) placement.primary = others.front();
    // The least loaded members, so that no move follows the drain at once.
    AddSyncingReplicas(map, shard, Without(placeable, {node}), /*least_loaded=*/true);
    ++placement.epoch;
    return DrainStep::kHandOver;
  }
  for (const auto& replica : placement.syncing) {
    if (replica != node) return DrainStep::kWaitCopy;
  }
  for (const auto& candidate : Candidates(*map, shard, placeable, /*least_loaded=*/true)) {
    if (candidate == node || placement.HasReplica(candidate)) continue;
    placement.replicas.push_back(candidate);
    placement.syncing.push_back(candidate);
    ++placement.epoch;
    return DrainStep::kCopy;
  }
  return DrainStep::kNoTarget;
}

arrow::Result<int32_t> MetadataCount(const arrow::Schema& schema, const std::string& key,
                                     int32_t default_value, int32_t max) {
  const auto& metadata = schema.metadata();
  if (!metadata) return default_value;
  auto value = metadata->Get(key);
  if (!value.ok()) return default_value;
  int32_t count = 0;
  const std::string& text = *value;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc() || end != text.data() + text.size() || count < 1 || count > max) {
    return arrow::Status::Invalid("schema metadata '", key, "' must be an integer in [1, ", max,
                                  "], got '", text, "'");
  }
  return count;
}

arrow::Result<std::vector<int32_t>> ShardsOfIds(const arrow::Array& ids, int32_t shards) {
  if (ids.null_count() > 0) {
    return arrow::Status::Invalid("the id column has nulls: a sharded dataset needs every id");
  }
  std::vector<int32_t> result(ids.length());
  const auto modulo = static_cast<uint64_t>(shards);
  switch (ids.type_id()) {
    case arrow::Type::INT64: {
      const auto& array = static_cast<const arrow::Int64Array&>(ids);
      for (int64_t i = 0; i < ids.length(); ++i) {
        result[i] = static_cast<int32_t>(HashInteger(array.Value(i)) % modulo);
      }
      return result;
    }
    case arrow::Type::UINT64: {
      const auto& array = static_cast<const arrow::UInt64Array&>(ids);
      for (int64_t i = 0; i < ids.length(); ++i) {
        result[i] = static_cast<int32_t>(HashInteger(array.Value(i)) % modulo);
      }
      return result;
    }
    case arrow::Type::STRING: {
      const auto& array = static_cast<const arrow::StringArray&>(ids);
      for (int64_t i = 0; i < ids.length(); ++i) {
        const std::string_view id = array.GetView(i);
        result[i] = static_cast<int32_t>(XXH3_64bits(id.data(), id.size()) % modulo);
      }
      return result;
    }
    default:
      return arrow::Status::Invalid("ids of type ", ids.type()->ToString(),
                                    " cannot be sharded (int64, uint64 or utf8)");
  }
}

}  // namespace arbalest
