#include "graph/traversal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

#include "graph_fixtures.h"

namespace arbalest {
namespace {

using testing_graph::RandomEdges;
using testing_graph::RowsOf;
using testing_graph::TestEdge;

// Every simple path of 1..max_hops edges from `start`, found breadth first over the plain edge
// list: (edge numbers in hop order) -> score.
std::map<std::vector<uint32_t>, double> BruteForcePaths(const std::vector<TestEdge>& edges,
                                                        const TraversalOptions& options) {
  struct Partial {
    std::vector<int64_t> nodes;
    std::vector<uint32_t> edges;
    double score;
  };
  std::map<std::vector<uint32_t>, double> found;
  std::deque<Partial> queue{{{options.start}, {}, 1.0}};
  while (!queue.empty()) {
    Partial partial = std::move(queue.front());
    queue.pop_front();
    if (static_cast<int>(partial.edges.size()) == options.max_hops) continue;
    for (uint32_t e = 0; e < edges.size(); ++e) {
      const TestEdge& edge = edges[e];
      const int64_t from = options.incoming ? edge.object : edge.subject;
      const int64_t to = options.incoming ? edge.subject : edge.object;
      if (from != partial.nodes.back()) continue;
      if (std::find(partial.nodes.begin(), partial.nodes.end(), to) != partial.nodes.end()) {
        continue;
      }
      if (options.predicates && !options.predicates->contains(edge.predicate[1] - '0')) continue;
      Partial next = partial;
      next.nodes.push_back(to);
      next.edges.push_back(e);
      next.score *=
          (options.weighted ? edge.weight : 1.0) * (partial.edges.empty() ? 1.0 : options.decay);
      found[next.edges] = next.score;
      queue.push_back(std::move(next));
    }
  }
  return found;
}

TEST(TraversalTest, MatchesBruteForceOnRandomGraphs) {
  for (uint32_t seed = 0; seed < 40; ++seed) {
    const auto edges = RandomEdges(12, 30, seed);
    EdgeLog log;
    log.Append(RowsOf(edges));
    const auto graph = EdgeGraph::Build(log.Cut());
    // Predicate numbers follow first appearance; map p0..p2 to the test's digit.
    TraversalOptions options;
    options.start = edges[seed % edges.size()].subject;
    options.max_hops = 1 + static_cast<int>(seed % 4);
    options.incoming = seed % 2 == 1;
    options.weighted = seed % 3 != 0;
    options.decay = 0.3 + 0.1 * (seed % 7);
    options.limit = 1'000'000;
    if (seed % 5 == 4) {
      options.predicates.emplace();
      for (uint32_t p = 0; p < graph->predicate_names().size(); ++p) {
        if (graph->predicate_names()[p] != "p1") options.predicates->insert(p);
      }
    }
    auto paths = Traverse(*graph, options);
    ASSERT_TRUE(paths.ok()) << paths.status().ToString();
    TraversalOptions brute = options;
    if (brute.predicates) brute.predicates = std::unordered_set<uint32_t>{0, 2};  // p0, p2
    const auto expected = BruteForcePaths(edges, brute);
    ASSERT_EQ(paths->size(), expected.size()) << "seed " << seed;
    for (size_t i = 0; i < paths->size(); ++i) {
      const GraphPath& path = (*paths)[i];
      auto it = expected.find(path.edges);
      ASSERT_NE(it, expected.end()) << "seed " << seed;
      EXPECT_NEAR(path.score, it->second, 1e-9);
      ASSERT_EQ(path.nodes.size(), path.edges.size() + 1);
      EXPECT_EQ(path.nodes.front(), options.start);
      for (size_t hop = 0; hop < path.edges.size(); ++hop) {
        const TestEdge& edge = edges[path.edges[hop]];
        EXPECT_EQ(path.nodes[hop + 1], options.incoming ? edge.subject : edge.object);
      }
      if (i > 0) {
        EXPECT_GE((*paths)[i - 1].score, path.score);  // best first
      }
    }
  }
}

TEST(TraversalTest, LimitKeepsTheBestPaths) {
  const auto edges = RandomEdges(10, 40, 99);
  EdgeLog log;
  log.Append(RowsOf(edges));
  const auto graph = EdgeGraph::Build(log.Cut());
  TraversalOptions options;
  options.start = edges[0].subject;
  options.max_hops = 3;
  options.weighted = true;
  auto all = Traverse(*graph, options);
  ASSERT_TRUE(all.ok());
  ASSERT_GT(all->size(), 5u);
  options.limit = 5;
  auto best = Traverse(*graph, options);
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ((*best)[i].edges, (*all)[i].edges);
}

TEST(TraversalTest, RefusesTooManyPathsAndHandlesUnknownStarts) {
  const auto edges = RandomEdges(8, 200, 5);  // dense: many paths
  EdgeLog log;
  log.Append(RowsOf(edges));
  const auto graph = EdgeGraph::Build(log.Cut());
  TraversalOptions options;
  options.start = edges[0].subject;
  options.max_hops = 6;
  options.max_paths = 1000;
  auto refused = Traverse(*graph, options);
  ASSERT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("lower max_hops"), std::string::npos);
  options.start = 123456;
  auto none = Traverse(*graph, options);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace arbalest
