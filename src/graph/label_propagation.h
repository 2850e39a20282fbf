// Community detection over a dataset's edges for GetGraphStats: label propagation (Raghavan,
// Albert and Kumara 2007) on the undirected graph, edges weighted by their weight. Each node
// starts in its own community and repeatedly takes the label carrying the most edge weight
// among its neighbours (ties: its own label if among the best, else the smallest), visiting
// nodes in a fixed pseudo-random order, until no label changes or `max_rounds` pass. The
// order's seed is fixed, so the answer is deterministic for a given graph.
//
// Written here rather than taken from a library: of Debian's packages only igraph
// (libigraph-dev, a C library) offers it, and it would need a copy of the whole graph in its
// own structure per call and a new system dependency for about forty lines.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/edge_graph.h"

namespace arbalest {

struct Communities {
  std::vector<uint32_t> label;  // per node (EdgeGraph numbering): a node number of the community
  int64_t count = 0;
  int rounds = 0;
};

Communities PropagateLabels(const EdgeGraph& graph, int max_rounds = 100);

}  // namespace arbalest
