// The cluster's catalog from its members' own: what ListFlights, GetFlightInfo and GetSchema
// answer on a cluster node (docs/cluster.md, "Catalog").
//
// Each member lists its local datasets (a ListFlights with local_only). A sharded dataset's rows
// are in local datasets "<name>.__shard<n>" on each replica of shard n; the logical dataset
// <name> counts each shard once, from one readable replica (the primary when it answered, else
// the first readable replica that answered; a syncing or leaving copy never). A shard none of
// whose readable replicas answered is missing (its rows are not counted); a readable replica
// that answered without the shard's dataset holds no row of it yet (0 rows). A dataset that is
// not sharded is summed over the members holding it: each holds the rows put to it. Shard
// copies without a map (stale copies) are not listed.
#pragma once

#include <string>
#include <vector>

#include "cluster/shard_map.h"
#include "flight/catalog_entry.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// One member's own catalog entries.
struct MemberCatalog {
  std::string node;
  std::vector<CatalogEntry> entries;
};

// The logical datasets of `members` (this node's first), given every shard map, ordered by
// name. `cluster` of each entry says where its counts come from: {"nodes": [{"node", "rows",
// "deleted_rows", "bytes"}]} or {"shards": S, "replicas": [{"shard", "node", "rows", ...}]},
// and "missing_shards" for the shards not counted; missing shards also go to `missing`.
std::vector<CatalogEntry> MergeCatalogs(const std::vector<MemberCatalog>& members,
                                        const std::vector<ShardMap>& maps,
                                        std::vector<MissingNode>* missing);

}  // namespace arbalest
