// traverse-graph: every simple path of 1..max_hops edges from a start row, scored. A path's
// score is the product over its hops of the edge weight (1 when not weighted) times `decay`
// for every hop after the first: score = decay^(hops-1) * w1 * ... * wh. Paths never revisit
// a node. Following incoming edges walks them from object to subject.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

#include "graph/edge_graph.h"

namespace arbalest {

struct TraversalOptions {
  int64_t start = 0;  // a row id
  int max_hops = 2;
  bool incoming = false;
  bool weighted = false;
  double decay = 0.5;
  // Only edges of these predicates (numbers in the graph's predicate names); unset: all.
  std::optional<std::unordered_set<uint32_t>> predicates;
  // Paths returned, best first.
  int64_t limit = 1000;
  // Paths enumerated at most before the traversal is refused (CapacityError-free: Invalid).
  int64_t max_paths = 1'000'000;
};

struct GraphPath {
  std::vector<int64_t> nodes;   // row ids, the start first
  std::vector<uint32_t> edges;  // edge numbers of the graph, in hop order
  double score = 0;
};

// The best `limit` paths (by score, then fewer hops, then node ids), or Invalid when more than
// max_paths paths lie within max_hops. A start no edge names has no paths.
arrow::Result<std::vector<GraphPath>> Traverse(const EdgeGraph& graph,
                                               const TraversalOptions& options);

}  // namespace arbalest
