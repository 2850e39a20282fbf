// `check_readiness` on a cluster node (protocol.md, "Cluster search keys"): every live member
// is asked (local_only) for its state of the dataset, or of all its datasets, and the answer is
// READY only when every member is READY or lacks the dataset, and all of them answered.
#pragma once

#include <arrow/result.h>

#include <functional>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// `request`: the action's body; `local`: this node's answer to it. Answers {"status": READY |
// BUSY | NOT_FOUND, "index_len", "pending", "index_queue_depth" (summed over the members),
// "nodes": [{"node", "status", "index_len", "pending", "index_queue_depth"}, ...] (this node
// first), "missing_nodes": [...]}: BUSY while a member is BUSY or missing, NOT_FOUND when no
// member holds the dataset, else READY.
arrow::Result<Json> ClusterReadiness(ClusterHooks& cluster, const Json& request,
                                     const FanOutOptions& options,
                                     const std::function<arrow::Result<Json>()>& local);

}  // namespace arbalest
