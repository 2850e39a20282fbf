#include "graph/label_propagation.h"

#include <gtest/gtest.h>

#include <random>

#include "graph_fixtures.h"

namespace arbalest {
namespace {

using testing_graph::RowsOf;
using testing_graph::TestEdge;

// `groups` dense groups of `size` nodes (each edge present with probability 0.6) and a few
// light edges between groups: the planted communities.
std::vector<TestEdge> PlantedCommunities(int groups, int size, uint32_t seed) {
  std::mt19937 random(seed);
  std::bernoulli_distribution inside(0.6);
  std::vector<TestEdge> edges;
  for (int g = 0; g < groups; ++g) {
    for (int a = 0; a < size; ++a) {
      for (int b = a + 1; b < size; ++b) {
        if (inside(random)) edges.push_back({g * 1000 + a, g * 1000 + b, "in", 1.0f});
      }
    }
    edges.push_back({g * 1000, ((g + 1) % groups) * 1000 + 1, "across", 0.05f});
  }
  return edges;
}

TEST(LabelPropagationTest, FindsPlantedCommunities) {
  for (uint32_t seed = 0; seed < 5; ++seed) {
    const int groups = 3 + static_cast<int>(seed);
    const auto edges = PlantedCommunities(groups, 12, seed);
    EdgeLog log;
    log.Append(RowsOf(edges));
    const auto graph = EdgeGraph::Build(log.Cut());
    const Communities communities = PropagateLabels(*graph);
    EXPECT_EQ(communities.count, groups) << "seed " << seed;
    for (int64_t node = 0; node < graph->num_nodes(); ++node) {
      for (int64_t other = 0; other < graph->num_nodes(); ++other) {
        const bool same_group = graph->IdOf(node) / 1000 == graph->IdOf(other) / 1000;
        EXPECT_EQ(communities.label[node] == communities.label[other], same_group)
            << graph->IdOf(node) << " " << graph->IdOf(other);
      }
    }
  }
}

TEST(LabelPropagationTest, DisconnectedPairsAreTheirOwnCommunities) {
  EdgeLog log;
  log.Append(RowsOf({{1, 2, "p", 1.0f}, {3, 4, "p", 1.0f}, {5, 6, "p", 1.0f}}));
  const Communities communities = PropagateLabels(*EdgeGraph::Build(log.Cut()));
  EXPECT_EQ(communities.count, 3);
  EXPECT_EQ(PropagateLabels(*EdgeGraph::Build(EdgeLog().Cut())).count, 0);
}

}  // namespace
}  // namespace arbalest
