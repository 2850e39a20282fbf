// The `stats` action on a cluster node (protocol.md, "Cluster search keys"): this node's
// document, as on a single node, with a "cluster" object that sums the row and byte counts of
// every live member and lists each member's, asked with local_only.
#pragma once

#include <arrow/result.h>

#include <functional>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// `request`: the action's body (dataset|name optional, and the cluster keys). `local`: this
// node's stats document for it. The document of the first member that answered (this node's
// when it holds the dataset) with "cluster": {the sums, "nodes": [...], "missing_nodes": [...]}.
arrow::Result<Json> ClusterStats(ClusterHooks& cluster, const Json& request,
                                 const FanOutOptions& options,
                                 const std::function<arrow::Result<Json>()>& local);

}  // namespace arbalest
