#include "graph/edge_log.h"

#include <gtest/gtest.h>

#include "graph/dataset_graph.h"
#include "graph_fixtures.h"

namespace arbalest {
namespace {

using testing_graph::RandomEdges;
using testing_graph::RowsOf;

TEST(EdgeLogTest, AppendsAcrossChunksAndCutsStayValid) {
  EdgeLog log;
  const auto edges = RandomEdges(50, 3 * EdgeChunk::kCapacity / 2, 1);
  log.Append(RowsOf({edges.begin(), edges.begin() + 10}));
  const EdgeCut early = log.Cut();
  log.Append(RowsOf({edges.begin() + 10, edges.end()}));
  const EdgeCut late = log.Cut();
  ASSERT_EQ(early.count, 10);
  ASSERT_EQ(late.count, static_cast<int64_t>(edges.size()));
  EXPECT_NE(early.version, late.version);
  for (int64_t i = 0; i < late.count; ++i) {
    const Edge& edge = late.at(i);
    EXPECT_EQ(edge.subject, edges[i].subject);
    EXPECT_EQ(edge.object, edges[i].object);
    EXPECT_EQ((*late.predicates)[edge.predicate], edges[i].predicate);
    if (i < early.count) {
      EXPECT_EQ(early.at(i).object, edges[i].object);  // unchanged
    }
  }
}

TEST(EdgeLogTest, RemoveNodesDropsEveryEdgeTouchingThemAndKeepsOrder) {
  EdgeLog log;
  const auto edges = RandomEdges(30, 2000, 2);
  log.Append(RowsOf(edges));
  const EdgeCut before = log.Cut();
  int64_t freed = 0;
  const int64_t removed = log.RemoveNodes({100, 150}, &freed);
  std::vector<testing_graph::TestEdge> expected;
  for (const auto& edge : edges) {
    if (edge.subject != 100 && edge.subject != 150 && edge.object != 100 && edge.object != 150) {
      expected.push_back(edge);
    }
  }
  EXPECT_EQ(removed, static_cast<int64_t>(edges.size() - expected.size()));
  EXPECT_GT(removed, 0);
  const EdgeCut after = log.Cut();
  ASSERT_EQ(after.count, static_cast<int64_t>(expected.size()));
  for (int64_t i = 0; i < after.count; ++i) {
    EXPECT_EQ(after.at(i).subject, expected[i].subject);
    EXPECT_EQ(after.at(i).object, expected[i].object);
  }
  EXPECT_EQ(before.count, static_cast<int64_t>(edges.size()));  // the old cut still reads
  EXPECT_EQ(log.RemoveNodes({99999}, &freed), 0);
  EXPECT_EQ(freed, 0);
}

TEST(DatasetGraphTest, ChargesAndGivesBackItsMemory) {
  int64_t charged = 0;
  int64_t limit = 1 << 20;
  DatasetGraph::Memory memory{[&](int64_t bytes) -> arrow::Status {
                                if (charged + bytes > limit) {
                                  return arrow::Status::CapacityError("over");
                                }
                                charged += bytes;
                                return arrow::Status::OK();
                              },
                              [&](int64_t delta) { charged += delta; }};
  {
    DatasetGraph graph(memory);
    const auto edges = RandomEdges(20, 1000, 3);
    auto reserved = graph.Reserve(static_cast<int64_t>(edges.size()));
    ASSERT_TRUE(reserved.ok());
    graph.Append(RowsOf(edges), *reserved);
    const int64_t log_bytes = charged;
    EXPECT_GT(log_bytes, 0);
    const auto adjacency = graph.Adjacency();
    EXPECT_EQ(charged, log_bytes + adjacency->bytes());  // the adjacency is charged too
    EXPECT_EQ(graph.Adjacency(), adjacency);             // reused while nothing changed
    EXPECT_TRUE(graph.Reserve(100'000'000).status().IsCapacityError());
  }
  EXPECT_EQ(charged, 0);  // all given back

  // A dataset dropped between a load's reservation and its logging: the reservation is given
  // back once, by the drop, not again when the load gives up.
  DatasetGraph dropped(memory);
  auto reserved = dropped.Reserve(10);
  ASSERT_TRUE(reserved.ok());
  EXPECT_GT(charged, 0);
  dropped.Clear();
  EXPECT_EQ(charged, 0);
  dropped.Unreserve(*reserved);
  EXPECT_EQ(charged, 0);
  EXPECT_TRUE(dropped.Reserve(10).status().IsKeyError());
  EXPECT_EQ(charged, 0);
}

}  // namespace
}  // namespace arbalest
