// segment_merge_bench: what merging a dataset's small segments buys and costs, at the index
// level. Clustered rows are cut into --segments consecutive graphs (as a dataset sealed into
// that many segments holds them, each built with AddBatch), then:
//
//   before   every graph searched per query (ef each) and the top-k lists merged by distance,
//            as SearchDataset does over segments: QPS (one thread) and recall@k against exact
//   merge    the graphs merged into one, pair by pair in the order store/merge_policy.h picks
//            (with a segment size of all rows: the smallest into its larger neighbour), each
//            merge HnswMerge (the larger graph copied, the smaller one's rows inserted): time
//   rebuild  one graph built from all rows from scratch (AddBatch): time
//   after    the merged graph searched, and the rebuilt one: QPS and recall@k
//
// Build, merge and rebuild use --threads threads; searches one.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "../../tests/index/clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/hnsw_merge.h"
#include "store/merge_policy.h"

namespace {

using arbalest::HnswIndex;
using arbalest::Neighbor;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Graph {
  std::unique_ptr<HnswIndex> index;
  size_t first = 0;  // data row of its row 0
};

// The k nearest over `graphs`, rows numbered as data rows.
std::vector<Neighbor> SearchAll(const std::vector<Graph>& graphs, const float* query, size_t dim,
                                int k, int ef, std::vector<Neighbor>* scratch) {
  std::vector<Neighbor> all;
  for (const Graph& graph : graphs) {
    auto status = graph.index->Search(
        {query, dim}, {.k = static_cast<size_t>(k), .ef = static_cast<size_t>(ef)}, scratch);
    if (!status.ok()) std::abort();
    for (Neighbor n : *scratch)
      all.push_back({n.row + static_cast<uint32_t>(graph.first), n.distance});
  }
  std::sort(all.begin(), all.end(),
            [](const Neighbor& a, const Neighbor& b) { return a.distance < b.distance; });
  if (all.size() > static_cast<size_t>(k)) all.resize(static_cast<size_t>(k));
  return all;
}

struct Measured {
  double qps = 0;
  double recall = 0;
};

Measured Measure(const std::vector<Graph>& graphs, const arbalest::testing::Dataset& queries,
                 const std::vector<std::vector<Neighbor>>& truth, int k, int ef, int rounds) {
  std::vector<Neighbor> scratch;
  size_t found = 0, wanted = 0;
  for (size_t q = 0; q < queries.rows(); ++q) {
    const auto got = SearchAll(graphs, queries.row(q).data(), queries.dim, k, ef, &scratch);
    for (const Neighbor& t : truth[q]) {
      found +=
          std::any_of(got.begin(), got.end(), [&](const Neighbor& g) { return g.row == t.row; });
    }
    wanted += truth[q].size();
  }
  const auto start = Clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (size_t q = 0; q < queries.rows(); ++q) {
      SearchAll(graphs, queries.row(q).data(), queries.dim, k, ef, &scratch);
    }
  }
  return {static_cast<double>(queries.rows()) * rounds / Seconds(start),
          static_cast<double>(found) / static_cast<double>(wanted)};
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows = 100000, dim = 128, segments = 10, queries_n = 1000;
  int k = 10, ef = 64, threads = 2, rounds = 3;
  CLI::App app{"segment_merge_bench"};
  app.add_option("--rows", rows);
  app.add_option("--dim", dim);
  app.add_option("--segments", segments);
  app.add_option("--queries", queries_n);
  app.add_option("--k", k);
  app.add_option("--ef", ef);
  app.add_option("--threads", threads);
  app.add_option("--rounds", rounds);
  CLI11_PARSE(app, argc, argv);

  const auto data = arbalest::testing::ClusteredData(rows, dim, /*seed=*/1);
  const auto queries = arbalest::testing::ClusteredData(queries_n, dim, /*seed=*/2);
  const arbalest::HnswParams params{.m = 16, .ef_construction = 100};
  arbalest::FlatIndex flat(dim, arbalest::Metric::kL2);
  if (!arbalest::testing::AddAll(flat, data).ok()) return 1;
  std::vector<std::vector<Neighbor>> truth(queries.rows());
  for (size_t q = 0; q < queries.rows(); ++q) {
    if (!flat.Search(queries.row(q), {.k = static_cast<size_t>(k)}, &truth[q]).ok()) return 1;
  }
  auto build = [&](size_t first, size_t end) {
    auto index =
        HnswIndex::Make(dim, arbalest::Metric::kL2, arbalest::simd::ElementType::kFloat32, params)
            .ValueOrDie();
    if (!index->AddBatch({data.values.data() + first * dim, (end - first) * dim}, threads).ok()) {
      std::abort();
    }
    return index;
  };

  std::vector<Graph> graphs;
  auto start = Clock::now();
  for (size_t s = 0; s < segments; ++s) {
    const size_t first = rows * s / segments, end = rows * (s + 1) / segments;
    graphs.push_back({build(first, end), first});
  }
  const double build_segments_s = Seconds(start);
  const Measured before = Measure(graphs, queries, truth, k, ef, rounds);

  start = Clock::now();
  size_t inserted = 0;
  int merges = 0;
  while (graphs.size() > 1) {
    std::vector<arbalest::MergeCandidate> candidates;
    for (const Graph& g : graphs) {
      candidates.push_back({static_cast<int64_t>(g.index->size()), true});
    }
    const auto pick = arbalest::PickMerge(candidates, static_cast<int64_t>(rows));
    if (!pick) break;
    Graph& left = graphs[*pick];
    const Graph& right = graphs[*pick + 1];
    inserted += std::min(left.index->size(), right.index->size());
    left.index = arbalest::HnswMerge::Merge(*left.index, *right.index, threads).ValueOrDie();
    graphs.erase(graphs.begin() + static_cast<ptrdiff_t>(*pick) + 1);
    ++merges;
  }
  const double merge_s = Seconds(start);
  const Measured merged = Measure(graphs, queries, truth, k, ef, rounds);

  start = Clock::now();
  std::vector<Graph> rebuilt;
  rebuilt.push_back({build(0, rows), 0});
  const double rebuild_s = Seconds(start);
  const Measured one = Measure(rebuilt, queries, truth, k, ef, rounds);

  std::printf("# %zu x %zu clustered float32, %zu segments, k %d, ef %d, %d threads to build\n",
              rows, dim, segments, k, ef, threads);
  std::printf("%-28s %10s %10s %10s\n", "", "seconds", "QPS", "recall@k");
  std::printf("%-28s %10.2f %10.0f %10.3f\n", "segments (built)", build_segments_s, before.qps,
              before.recall);
  std::printf("%-28s %10.2f %10.0f %10.3f   (%d merges, %zu rows inserted)\n",
              "merged into one (HnswMerge)", merge_s, merged.qps, merged.recall, merges, inserted);
  std::printf("%-28s %10.2f %10.0f %10.3f\n", "one graph rebuilt", rebuild_s, one.qps, one.recall);
  return 0;
}
