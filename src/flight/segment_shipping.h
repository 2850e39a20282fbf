// The two calls with which a shard's primary ships its sealed segments to a syncing replica
// (docs/cluster.md, "Catch-up and shard moves"; docs/protocol.md; store/segment_transfer.h).
// Both read this node's own dataset only, and are allowed to the cluster token with
// --auth-tokens (flight/auth_policy.h), as the other calls between cluster nodes:
//   - action `shard-segments`, body {"dataset": a local dataset}: its segments that are sealed
//     and whose rows are all linked, from one published view, in order from the first (the
//     rows after them are the active segment's and those still waiting for the index):
//     {"dataset", "rows": rows of the view, "segments": [{"first_row", "rows", "graph"}, ...]}
//     ("graph": a string naming the segment's graph object in this process).
//   - DoGet ticket {"shard_segment": {"dataset", "first_row", "rows", "graph"}}: one of those
//     segments, read from one view taken when the stream starts, in SegmentChunks' form; Invalid
//     when that view no longer holds it (a compaction or a merge replaced it).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "store/segment_transfer.h"
#include "store/vector_store.h"

namespace arbalest {

inline constexpr const char* kShardSegmentsAction = "shard-segments";
inline constexpr const char* kShardSegmentTicketKey = "shard_segment";

// The action's answer for `body`. Invalid for a bad body; KeyError when the dataset is absent.
arrow::Result<Json> ShardSegmentsAction(VectorStore& store, std::string_view body);

// The segments of an answer of the action, checked: Invalid, naming the problem.
arrow::Result<std::vector<SegmentRef>> SegmentsFromAnswer(const Json& answer);

// A segment named in JSON, as the action's answer, the ticket and a scan ticket's
// after_segment carry it: {"first_row", "rows", "graph": a decimal string}.
Json SegmentRefJson(const SegmentRef& segment);
// Its parse: Invalid, naming `what`, unless first_row >= 0, rows > 0 and graph are there.
arrow::Result<SegmentRef> SegmentRefFromJson(const Json& json, std::string_view what);

// The ticket that streams `segment` of `dataset`.
std::string ShardSegmentTicket(const std::string& dataset, const SegmentRef& segment);

// The stream of a DoGet ticket when it is a segment's (nullopt: another ticket). Invalid for a
// bad ticket; KeyError when the dataset is absent.
std::optional<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>> OpenShardSegmentTicket(
    VectorStore& store, std::string_view ticket);

}  // namespace arbalest
