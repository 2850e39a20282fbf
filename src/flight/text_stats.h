// The BM25 statistics of a cluster-wide hybrid search (docs/cluster.md, "Hybrid search"), as
// they travel between nodes: the `text-stats` action (phase 1: a shard's statistics for a
// query's terms) and the `text_stats` key of a search hop (phase 2: the sums, which the shard
// scores with). JSON form: {"docs": N, "total_length": L, "doc_freq": {"term": n, ...}}.
#pragma once

#include <arrow/result.h>

#include <string_view>

#include "common/json_util.h"
#include "store/vector_store.h"
#include "text/bm25_stats.h"

namespace arbalest {

inline constexpr const char* kTextStatsAction = "text-stats";

Json Bm25StatsToJson(const Bm25Stats& stats);

// Parses the JSON form; `what` names where it came from in errors. Invalid, naming the key,
// unless it is an object with non-negative integers "docs" and "total_length" and a
// "doc_freq" object of non-negative integers none above "docs", and nothing else.
arrow::Result<Bm25Stats> Bm25StatsFromJson(const Json& json, std::string_view what);

// The `text-stats` action: body {"dataset": name, "text_query": text} (and optionally
// "local_only": true, what a hop says; the answer is always this node's own dataset's);
// answers the dataset's statistics for the query's terms in the JSON form. Invalid for a bad
// body or a dataset without text columns; KeyError for a dataset this node does not hold.
arrow::Result<Json> TextStatsAction(VectorStore& store, std::string_view body);

}  // namespace arbalest
