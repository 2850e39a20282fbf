// HnswIndex::LinkBatch: bulk insertion of the rows of an AddBatch, in sub-batches.
//
// Linking rows one by one from several threads makes the graph depend on timing (which rows
// a row sees depends on which were linked first) and has threads contend for the same
// neighbour lists. Here the rows of a sub-batch are linked against a graph that does not
// change while they are: each row searches the graph as it was before the sub-batch and also
// weighs the sub-batch's other rows, whose distances to it come from one tiled distance matrix
// (every row of the sub-batch against every other, computed from rows that stay in cache).
// Each row then writes its own lists, and each neighbour that the sub-batch's rows chose
// merges all of its new back-links at once (one pruning instead of one per link). Every step
// depends on the rows alone, so the graph is the same whatever the thread count.
#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "index/hnsw_search-inl.h"
#include "index/parallel_tasks.h"

namespace arbalest {

using hnsw_internal::NearerOrLower;

namespace {

// Rows of a sub-batch see each other through their matrix, not through the graph, so a
// sub-batch stays small next to the graph it joins: 1/32 of it, at most 256 rows (256 float16
// rows of 384 dimensions are 192 KiB, which stay in L2 while the matrix is computed).
constexpr size_t kGraphRowsPerBatchRow = 32;
constexpr size_t kMaxSubBatch = 256;
// Rows per task of the row step: one block of the matrix.
constexpr size_t kRowsPerTask = 8;
// A helper joins a step per this many tasks at most (waking one costs ~10-20 us).
constexpr size_t kRowTasksPerThread = 2;
constexpr size_t kMergeTasksPerThread = 64;

}  // namespace

// A link a sub-batch row asks its neighbour `to` for, back to it.
struct HnswIndex::BackLink {
  int32_t level;
  RowId to;
  RowId from;
  float distance;
};

struct HnswIndex::SubBatch {
  RowId first = 0;  // the rows [first, first + size)
  size_t size = 0;
  Entry top{0, -1};               // the entry point before the sub-batch
  std::vector<float> queries;     // size x dim: the rows in query form (link space)
  std::vector<const void*> rows;  // the rows as inserts compare them (link space)
  std::vector<float> matrix;      // size x size: matrix[i * size + j] = d(row i, row j)
  std::vector<std::vector<BackLink>> task_links;  // per row-step task
};

void HnswIndex::LinkBatch(RowId first, RowId end, int threads) {
  TaskTeam team(threads);  // helpers kept for all the sub-batches' steps
  SubBatch batch;
  std::vector<BackLink> links;
  std::vector<size_t> groups;  // where each (level, to) run of `links` starts
  for (RowId begin = first; begin < end;) {
    // Rows before `begin` are all linked (AddBatch never runs alongside Add).
    const size_t size = std::min<size_t>(
        end - begin, std::clamp<size_t>(begin / kGraphRowsPerBatchRow, 1, kMaxSubBatch));
    batch.first = begin;
    batch.size = size;
    batch.top = LoadEntry();
    batch.rows.resize(size);
    for (size_t i = 0; i < size; ++i) batch.rows[i] = LinkRow(begin + static_cast<RowId>(i));
    batch.queries.resize(size * dim());
    batch.matrix.resize(size * size);
    const size_t tasks = (size + kRowsPerTask - 1) / kRowsPerTask;
    batch.task_links.resize(std::max(batch.task_links.size(), tasks));
    team.Run(tasks, kRowTasksPerThread, [&](size_t task) {
      const size_t from = task * kRowsPerTask;
      batch.task_links[task].clear();
      LinkSubBatchRows(batch, from, std::min(size, from + kRowsPerTask), &batch.task_links[task]);
    });

    links.clear();
    for (size_t task = 0; task < tasks; ++task) {
      links.insert(links.end(), batch.task_links[task].begin(), batch.task_links[task].end());
    }
    std::sort(links.begin(), links.end(), [](const BackLink& a, const BackLink& b) {
      if (a.level != b.level) return a.level < b.level;
      if (a.to != b.to) return a.to < b.to;
      return NearerOrLower({a.from, a.distance}, {b.from, b.distance});
    });
    groups.clear();
    for (size_t i = 0; i < links.size(); ++i) {
      if (i == 0 || links[i].level != links[i - 1].level || links[i].to != links[i - 1].to) {
        groups.push_back(i);
      }
    }
    groups.push_back(links.size());
    team.Run(groups.size() - 1, kMergeTasksPerThread, [&](size_t group) {
      SearchContextPool::Lease ctx = contexts_.Acquire();
      const BackLink& first_link = links[groups[group]];
      ctx->sorted.clear();
      for (size_t i = groups[group]; i < groups[group + 1]; ++i) {
        ctx->sorted.push_back({links[i].from, links[i].distance});
      }
      AddLinks(*ctx, first_link.to, first_link.level, ctx->sorted);
    });

    // The sub-batch's highest row above the top level becomes the entry point, now that its
    // lists are linked.
    Entry highest = batch.top;
    for (size_t i = 0; i < size; ++i) {
      const RowId row = begin + static_cast<RowId>(i);
      if (Node(row)->level > highest.level) highest = {row, Node(row)->level};
    }
    if (highest.level > batch.top.level) {
      std::lock_guard lock(entry_mutex_);
      entry_.store(uint64_t{static_cast<uint32_t>(highest.level)} << 32 | highest.row,
                   std::memory_order_release);
    }
    begin += static_cast<RowId>(size);
  }
}

void HnswIndex::LinkSubBatchRows(SubBatch& batch, size_t begin, size_t end,
                                 std::vector<BackLink>* back_links) {
  const size_t dim = this->dim();
  for (size_t i = begin; i < end; ++i) {
    float* query = batch.queries.data() + i * dim;
    const float* as_query = link_space_.RowAsQuery(batch.rows[i], query);
    if (as_query != query) std::memcpy(query, as_query, dim * sizeof(float));
  }
  link_space_.DistanceMatrix(batch.queries.data() + begin * dim, end - begin, batch.rows.data(),
                             batch.size, batch.matrix.data() + begin * batch.size);

  SearchContextPool::Lease ctx = contexts_.Acquire();
  std::vector<Neighbor>& candidates = ctx->sorted;
  for (size_t i = begin; i < end; ++i) {
    const RowId row = batch.first + static_cast<RowId>(i);
    const int level = Node(row)->level;
    const Scorer scorer(link_space_, LinkRows(), batch.queries.data() + i * dim);
    const bool graph = batch.top.level >= 0;
    Neighbor entry = graph ? Descend(*ctx, scorer, batch.top, level, batch.first) : Neighbor{0, 0};
    const float* distances = batch.matrix.data() + i * batch.size;
    for (int l = level; l >= 0; --l) {
      candidates.clear();
      if (graph && l <= batch.top.level) {
        // Rows at or past batch.first (this sub-batch and later ones) are not searched.
        SearchLevel(*ctx, scorer, entry, l, params_.ef_construction, batch.first,
                    [](RowId) { return true; });
        ctx->results.DrainSorted(&candidates);
        if (!candidates.empty()) entry = candidates.front();
      }
      // The sub-batch's other rows on this level, unless the graph gave ef_construction
      // nearer ones; merged into the graph's candidates (sorted by the search).
      const size_t from_graph = candidates.size();
      const float bound = from_graph >= params_.ef_construction
                              ? candidates.back().distance
                              : std::numeric_limits<float>::infinity();
      for (size_t j = 0; j < batch.size; ++j) {
        const RowId other = batch.first + static_cast<RowId>(j);
        if (j != i && distances[j] <= bound && (l == 0 || Node(other)->level >= l)) {
          candidates.push_back({other, distances[j]});
        }
      }
      std::sort(candidates.begin() + from_graph, candidates.end(), NearerOrLower);
      std::inplace_merge(candidates.begin(), candidates.begin() + from_graph, candidates.end(),
                         NearerOrLower);
      if (candidates.size() > params_.ef_construction) {
        candidates.resize(params_.ef_construction);
      }
      SelectNeighbors(*ctx, &candidates, params_.m);
      WriteLinks(row, l, candidates);
      for (const Neighbor& n : candidates) back_links->push_back({l, n.row, row, n.distance});
    }
  }
}

}  // namespace arbalest
