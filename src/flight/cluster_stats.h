// The `stats` action on a cluster node (protocol.md, "Cluster search keys"): this node's
// document, as on a single node, with a "cluster" object that sums the row and byte counts of
// every live member and lists each member's, asked with local_only. Without a dataset one
// fan-out, the cluster's catalog (ClusterHooks::Catalog), gives both the totals (a sharded
// dataset's rows counted once, not once per replica) and each member's own totals in "nodes"
// (summed from its listing, every shard copy it holds included).
#pragma once

#include <arrow/result.h>

#include <functional>
#include <vector>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// `request`: the action's body (dataset|name optional, and the cluster keys). `local`: this
// node's stats document for it. The document of the first member that answered (this node's
// when it holds the dataset) with "cluster": {the sums, "nodes": [...], "missing_nodes": [...]}
// and, without a dataset, "datasets": [{"dataset", "rows", "deleted_rows", "bytes"}, ...].
// `local_catalog`: this node's catalog entries.
arrow::Result<Json> ClusterStats(ClusterHooks& cluster, const Json& request,
                                 const FanOutOptions& options,
                                 const std::function<arrow::Result<Json>()>& local,
                                 const std::function<std::vector<CatalogEntry>()>& local_catalog);

}  // namespace arbalest
