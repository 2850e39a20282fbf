#include "graph/edge_graph.h"

#include <gtest/gtest.h>

#include <set>

#include "graph_fixtures.h"

namespace arbalest {
namespace {

using testing_graph::RandomEdges;
using testing_graph::RowsOf;

TEST(EdgeGraphTest, AdjacencyInBothDirectionsMatchesTheEdgeList) {
  const auto edges = RandomEdges(40, 3000, 4);
  EdgeLog log;
  log.Append(RowsOf(edges));
  const auto graph = EdgeGraph::Build(log.Cut());
  ASSERT_EQ(graph->num_edges(), static_cast<int64_t>(edges.size()));
  std::set<int64_t> ids;
  for (const auto& edge : edges) ids.insert({edge.subject, edge.object});
  ASSERT_EQ(graph->num_nodes(), static_cast<int64_t>(ids.size()));
  for (int64_t id : ids) {
    const uint32_t node = *graph->NodeOf(id);
    EXPECT_EQ(graph->IdOf(node), id);
    std::multiset<std::tuple<int64_t, std::string, float>> out_expected, in_expected, out, in;
    for (const auto& edge : edges) {
      if (edge.subject == id) out_expected.insert({edge.object, edge.predicate, edge.weight});
      if (edge.object == id) in_expected.insert({edge.subject, edge.predicate, edge.weight});
    }
    uint32_t previous = 0;
    bool first = true;
    for (uint32_t edge : graph->Out(node)) {
      EXPECT_EQ(graph->subject(edge), node);
      EXPECT_TRUE(first || edge > previous);  // log order
      previous = edge;
      first = false;
      out.insert({graph->IdOf(graph->object(edge)),
                  graph->predicate_names()[graph->predicate(edge)], graph->weight(edge)});
    }
    for (uint32_t edge : graph->In(node)) {
      EXPECT_EQ(graph->object(edge), node);
      in.insert({graph->IdOf(graph->subject(edge)),
                 graph->predicate_names()[graph->predicate(edge)], graph->weight(edge)});
    }
    EXPECT_EQ(out, out_expected) << id;
    EXPECT_EQ(in, in_expected) << id;
  }
  EXPECT_FALSE(graph->NodeOf(7).has_value());
  EXPECT_GT(graph->bytes(), static_cast<int64_t>(edges.size()) * 16);
}

TEST(EdgeGraphTest, EmptyCut) {
  const auto graph = EdgeGraph::Build(EdgeLog().Cut());
  EXPECT_EQ(graph->num_nodes(), 0);
  EXPECT_EQ(graph->num_edges(), 0);
  EXPECT_FALSE(graph->NodeOf(0).has_value());
}

}  // namespace
}  // namespace arbalest
