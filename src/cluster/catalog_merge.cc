#include "cluster/catalog_merge.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace arbalest {
namespace {

Json CountsJson(const CatalogEntry& entry) {
  return Json{{"rows", entry.rows}, {"deleted_rows", entry.deleted_rows}, {"bytes", entry.bytes}};
}

void AddCounts(const CatalogEntry& from, CatalogEntry* to) {
  to->rows += from.rows;
  to->deleted_rows += from.deleted_rows;
  to->bytes += from.bytes;
  if (!to->schema) {
    to->schema = from.schema;
    to->dim = from.dim;
  }
}

// The entry named `name` of `member`, or null.
const CatalogEntry* Find(const MemberCatalog& member, const std::string& name) {
  for (const CatalogEntry& entry : member.entries) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

const MemberCatalog* FindMember(const std::vector<MemberCatalog>& members,
                                const std::string& node) {
  for (const MemberCatalog& member : members) {
    if (member.node == node) return &member;
  }
  return nullptr;
}

// The logical entry of sharded `map`: each shard from one readable replica that answered.
CatalogEntry MergeShards(const std::vector<MemberCatalog>& members, const ShardMap& map,
                         std::vector<MissingNode>* missing) {
  CatalogEntry merged;
  merged.name = map.dataset;
  Json replicas = Json::array();
  Json missing_shards = Json::array();
  for (int32_t shard = 0; shard < map.shards; ++shard) {
    const ShardPlacement& placement = map.placement[shard];
    std::vector<std::string> readable = placement.Readable();
    // The primary first, when readable.
    auto primary = std::find(readable.begin(), readable.end(), placement.primary);
    if (primary != readable.end()) std::rotate(readable.begin(), primary, primary + 1);
    auto local_name = ShardDatasetName(map.dataset, shard);
    const MemberCatalog* answered = nullptr;
    for (const std::string& node : readable) {
      if ((answered = FindMember(members, node))) break;
    }
    if (!answered || !local_name.ok()) {
      const std::string node = readable.empty() ? placement.primary : readable.front();
      const std::string reason = "shard " + std::to_string(shard) + " of '" + map.dataset +
                                 "': no readable replica answered";
      missing->push_back(MissingNode{node, reason, shard});
      missing_shards.push_back(Json{{"shard", shard}, {"node", node}, {"reason", reason}});
      continue;
    }
    Json part{{"shard", shard}, {"node", answered->node}};
    if (const CatalogEntry* entry = Find(*answered, *local_name)) {
      AddCounts(*entry, &merged);
      part.update(CountsJson(*entry));
    } else {
      part.update(Json{{"rows", 0}, {"deleted_rows", 0}, {"bytes", 0}});
    }
    replicas.push_back(std::move(part));
  }
  merged.cluster = Json{{"shards", map.shards}, {"replicas", std::move(replicas)}};
  if (!missing_shards.empty()) merged.cluster["missing_shards"] = std::move(missing_shards);
  return merged;
}

}  // namespace

std::vector<CatalogEntry> MergeCatalogs(const std::vector<MemberCatalog>& members,
                                        const std::vector<ShardMap>& maps,
                                        std::vector<MissingNode>* missing) {
  std::map<std::string, CatalogEntry> merged;
  for (const ShardMap& map : maps) {
    CatalogEntry entry = MergeShards(members, map, missing);
    // A map whose shards hold no rows anywhere yet has no schema to list.
    if (entry.schema) merged.emplace(map.dataset, std::move(entry));
  }
  std::set<std::string, std::less<>> sharded;
  for (const ShardMap& map : maps) sharded.insert(map.dataset);
  for (const MemberCatalog& member : members) {
    for (const CatalogEntry& entry : member.entries) {
      if (entry.name.find(kShardDatasetMarker) != std::string::npos ||
          sharded.contains(entry.name)) {
        continue;  // counted from the shards above, or a stale shard copy
      }
      auto [it, added] = merged.try_emplace(entry.name);
      CatalogEntry& logical = it->second;
      if (added) {
        logical.name = entry.name;
        logical.cluster = Json{{"nodes", Json::array()}};
      }
      AddCounts(entry, &logical);
      Json part = CountsJson(entry);
      part["node"] = member.node;
      logical.cluster["nodes"].push_back(std::move(part));
    }
  }
  std::vector<CatalogEntry> entries;
  entries.reserve(merged.size());
  for (auto& [name, entry] : merged) entries.push_back(std::move(entry));
  return entries;
}

}  // namespace arbalest
