// DoAction handlers of protocol.md.
#pragma once

#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <functional>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"
#include "metrics/server_metrics.h"
#include "store/vector_store.h"

namespace arbalest {

// The actions this server implements, with descriptions, for ListActions.
std::vector<arrow::flight::ActionType> SupportedActions();

// Whether the client has cancelled the call (or its deadline has passed): long waits stop.
using CallCancelled = std::function<bool()>;

// Runs action `type` with JSON `body` (empty = {}) against `store` and returns the bodies of
// its Results: one JSON document, or for VectorSearch one Arrow IPC stream per query.
// NotImplemented names an unknown action type; Invalid a malformed body; KeyError an unknown
// dataset. Searches are timed into `metrics` when it is not null. `call_cancelled`, when set,
// ends the wait of a `snapshot` call. `cluster`, when set, answers `cluster-status` and fans
// VectorSearch out (flight/cluster_hooks.h). `caller_token`: the client's token, forwarded with
// a delete's hops to the other members (flight/call_credentials.h).
arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> RunAction(
    VectorStore& store, std::string_view type, std::string_view body, ServerMetrics* metrics,
    const CallCancelled& call_cancelled = nullptr, ClusterHooks* cluster = nullptr,
    const std::string& caller_token = {});

// {"dataset", "lsn", "rows", "deleted_rows", "indexed_rows", "bytes", "seconds"}: one dataset's
// entry of the `snapshot` action's result.
Json SnapshotReportJson(const SnapshotReport& report);

}  // namespace arbalest
