// Edge lists for the graph tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "graph/edge_log.h"

namespace arbalest::testing_graph {

struct TestEdge {
  int64_t subject, object;
  std::string predicate;
  float weight;
};

inline EdgeRows RowsOf(const std::vector<TestEdge>& edges) {
  EdgeRows rows;
  for (const auto& edge : edges) {
    rows.subjects.push_back(edge.subject);
    rows.objects.push_back(edge.object);
    rows.weights.push_back(edge.weight);
    rows.predicates.push_back(edge.predicate);
  }
  return rows;
}

// `count` random edges among ids 100, 110, ..., 100 + 10 (nodes - 1), predicates p0..p2,
// weights in [0.1, 1).
inline std::vector<TestEdge> RandomEdges(int nodes, int count, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> node(0, nodes - 1);
  std::uniform_int_distribution<int> predicate(0, 2);
  std::uniform_real_distribution<float> weight(0.1f, 1.0f);
  std::vector<TestEdge> edges;
  const std::vector<std::string> names{"p0", "p1", "p2"};
  for (int i = 0; i < count; ++i) {
    const int64_t subject = 100 + 10 * node(random);
    const int64_t object = 100 + 10 * node(random);
    const std::string& name = names[static_cast<size_t>(predicate(random))];
    edges.push_back({subject, object, name, weight(random)});
  }
  return edges;
}

}  // namespace arbalest::testing_graph
