// The `delete` action on a cluster node (protocol.md, "Cluster search keys"): the rows are
// deleted on this node and, in parallel, on every other live member (asked with local_only),
// and the counts summed. Members that lack the dataset deleted nothing and are not missing;
// members that did not answer are named, and with require_all the call fails UNAVAILABLE (the
// members that answered have deleted their rows all the same: docs/cluster.md, Guarantees).
#pragma once

#include <arrow/result.h>

#include <functional>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"

namespace arbalest {

// `request`: the action's body; `local`: this node's {"deleted": n} for it. Answers
// {"deleted": sum, "nodes": [{"node", "deleted"}, ...], "missing_nodes": [...]}. NOT_FOUND when
// no member holds the dataset. On a secured cluster the hops carry options.forwarded_token, the
// client's token, and each member checks that it may delete (docs/security.md); Invalid,
// deleting nothing, when there is none to forward.
arrow::Result<Json> ClusterDelete(ClusterHooks& cluster, const Json& request,
                                  const FanOutOptions& options,
                                  const std::function<arrow::Result<Json>()>& local);

}  // namespace arbalest
