// VectorSearchByID on a cluster node (protocol.md, "Cluster search keys"): the row's vector is
// read from this node, or from the first member that holds the id (a local_only scan hop
// filtered on the id), then searched for across every member as a VectorSearch whose filters
// leave that id out, so that a row is never its own neighbour, as on a single node.
#pragma once

#include <arrow/result.h>

#include "flight/cluster_hooks.h"
#include "flight/search_request.h"
#include "store/vector_store.h"

namespace arbalest {

// `keys`: the action's body, parsed into `search`. KeyError when no member that answered holds
// the dataset or the id (naming the members missing from the lookup); the errors of a search.
arrow::Result<ClusterSearchResult> ClusterSearchById(VectorStore& store, ClusterHooks& cluster,
                                                     const Json& keys,
                                                     const ParsedSearchById& search,
                                                     ServerMetrics* metrics);

}  // namespace arbalest
