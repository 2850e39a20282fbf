#include "index/hnsw_compaction.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "index/hnsw_index.h"

namespace arbalest {
namespace {

constexpr uint32_t kDropped = ~uint32_t{0};
// Survivors a repair thread takes at a time.
constexpr size_t kRowsPerClaim = 256;
// Dropped rows whose lists one repair reads at most (the candidates are their survivors).
constexpr size_t kMaxDroppedHops = 64;

}  // namespace

arrow::Result<std::unique_ptr<HnswIndex>> HnswCompaction::Compact(const HnswIndex& index,
                                                                  const Roaring& dropped,
                                                                  int threads) {
  const IndexRows& old_rows = index.store_;
  const DistanceSpace& space = old_rows.space();
  const RowId rows = old_rows.count();
  // Old row -> new row (kDropped for dropped rows), and the survivors in order.
  std::vector<uint32_t> new_id(rows, kDropped);
  std::vector<RowId> survivors;
  survivors.reserve(rows);
  for (RowId row = 0; row < rows; ++row) {
    if (dropped.contains(row)) continue;
    new_id[row] = static_cast<uint32_t>(survivors.size());
    survivors.push_back(row);
  }
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<HnswIndex> out,
                        HnswIndex::Make(space.dim(), space.metric(), space.type(), index.params_));
  const uint64_t kept = survivors.size();
  if (kept == 0) return out;
  IndexRows& new_rows = out->store_;
  if (!new_rows.rows().Reserve(kept) || !new_rows.flags().Reserve(kept) ||
      !out->links0_.Reserve(kept) || !out->nodes_.Reserve(kept) ||
      (out->quantizer_ && !out->codes_.Reserve(kept))) {
    return arrow::Status::CapacityError("no memory to compact an HNSW index of ", kept, " rows");
  }

  // Vectors, flags, levels (kept, so the hierarchy stays as it was) and quantized codes (SQ8 or
  // PQ, with the trained quantizer).
  const bool codes_ready = index.codes_ready_.load(std::memory_order_acquire);
  if (codes_ready) ARROW_RETURN_NOT_OK(out->quantizer_->Restore(index.quantizer_->State()));
  for (uint64_t i = 0; i < kept; ++i) {
    const RowId row = survivors[i];
    std::memcpy(new_rows.rows().At(i), old_rows.Row(row), old_rows.rows().record_bytes());
    *new_rows.flags().At(i) = *old_rows.flags().At(row);
    if (codes_ready) {
      std::memcpy(out->codes_.At(i), index.codes_.At(row), index.codes_.record_bytes());
    }
    out->SetLevel(i, index.Node(row)->level);
  }
  new_rows.SetLoadedCount(static_cast<RowId>(kept));
  ARROW_RETURN_NOT_OK(out->WriteAllBuildCopies(static_cast<RowId>(kept), &index));
  if (codes_ready) out->codes_ready_.store(true, std::memory_order_release);

  // Neighbour lists, each written by the thread that repairs its row.
  auto repair = [&](SearchContext& ctx, std::vector<RowId>& frontier, uint32_t row) {
    const RowId old = survivors[row];
    const float* base = space.RowAsQuery(old_rows.Row(old), ctx.query.data());
    for (int level = 0; level <= index.Node(old)->level; ++level) {
      const uint32_t* list = index.Links(old, level);
      uint32_t* target = out->Links(row, level);
      const uint32_t count = list[0];
      const bool intact = std::all_of(list + 1, list + 1 + count,
                                      [&](uint32_t next) { return new_id[next] != kDropped; });
      if (intact) {
        for (uint32_t j = 0; j < count; ++j) target[1 + j] = new_id[list[1 + j]];
        target[0] = count;
        continue;
      }
      // The surviving neighbours stay. The slots of the dropped ones go to the nearest of the
      // survivors among the dropped neighbours' neighbours (and, when a dropped row gives none,
      // a run of dropped rows, beyond its dropped neighbours too) that are closer to the row
      // than to any neighbour it has (the insertion heuristic, SelectNeighbors).
      const uint32_t max_links = level == 0 ? index.max_links0_ : index.params_.m;
      ctx.ids.clear();  // the row's links, old ids
      ctx.visited.Reset(rows);
      ctx.visited.Visit(old);
      frontier.clear();
      for (uint32_t j = 0; j < count; ++j) {
        const RowId next = list[1 + j];
        ctx.visited.Visit(next);
        (new_id[next] != kDropped ? ctx.ids : frontier).push_back(next);
      }
      // Survivors met through dropped rows; a dropped row that gives some is not followed
      // further.
      std::vector<Neighbor>& candidates = ctx.sorted;
      candidates.clear();
      for (size_t hop = 0; hop < frontier.size() && hop < kMaxDroppedHops; ++hop) {
        const uint32_t* links = index.Links(frontier[hop], level);
        const size_t found = candidates.size();
        const size_t dropped_before = frontier.size();
        for (uint32_t j = 0; j < links[0]; ++j) {
          const RowId next = links[1 + j];
          if (!ctx.visited.Visit(next)) continue;
          if (new_id[next] == kDropped) {
            frontier.push_back(next);
          } else {
            candidates.push_back({next, space.Distance(base, old_rows.Row(next))});
          }
        }
        if (candidates.size() > found) frontier.resize(dropped_before);
      }
      std::sort(candidates.begin(), candidates.end(), CloserThan);
      ctx.decoded.resize(space.dim());
      for (const Neighbor& candidate : candidates) {
        if (ctx.ids.size() == max_links) break;
        const float* as_query = space.RowAsQuery(old_rows.Row(candidate.row), ctx.decoded.data());
        const bool diverse = std::all_of(ctx.ids.begin(), ctx.ids.end(), [&](RowId link) {
          return space.Distance(as_query, old_rows.Row(link)) >= candidate.distance;
        });
        if (diverse) ctx.ids.push_back(candidate.row);
      }
      for (size_t j = 0; j < ctx.ids.size(); ++j) target[1 + j] = new_id[ctx.ids[j]];
      target[0] = static_cast<uint32_t>(ctx.ids.size());
    }
  };
  std::atomic<size_t> next{0};
  auto repair_rows = [&] {
    SearchContext ctx;
    ctx.query.resize(space.dim());
    std::vector<RowId> frontier;
    for (size_t begin = next.fetch_add(kRowsPerClaim); begin < kept;
         begin = next.fetch_add(kRowsPerClaim)) {
      const size_t end = std::min<size_t>(kept, begin + kRowsPerClaim);
      for (size_t row = begin; row < end; ++row) repair(ctx, frontier, static_cast<uint32_t>(row));
    }
  };
  std::vector<std::thread> helpers;
  const size_t extra = std::min<size_t>(std::max(threads, 1) - 1, kept / kRowsPerClaim);
  for (size_t i = 0; i < extra; ++i) helpers.emplace_back(repair_rows);
  repair_rows();
  for (auto& helper : helpers) helper.join();

  // The entry point: the old one if it survives, else the first survivor of the top level.
  const HnswIndex::Entry top = index.LoadEntry();
  RowId entry = 0;
  int entry_level = -1;
  if (top.level >= 0 && top.row < rows && new_id[top.row] != kDropped) {
    entry = new_id[top.row];
    entry_level = top.level;
  } else {
    for (uint64_t i = 0; i < kept; ++i) {
      if (out->Node(i)->level > entry_level) {
        entry = static_cast<RowId>(i);
        entry_level = out->Node(i)->level;
      }
    }
  }
  out->entry_.store(uint64_t{static_cast<uint32_t>(entry_level)} << 32 | entry,
                    std::memory_order_release);

  // Rows the repair left unreachable on level 0 (no row links to them any more) or without a
  // neighbour: inserted again, which links them both ways.
  std::vector<uint32_t> linked_to(kept, 0);
  for (uint64_t i = 0; i < kept; ++i) {
    const uint32_t* list = out->Links(static_cast<RowId>(i), 0);
    for (uint32_t j = 0; j < list[0]; ++j) ++linked_to[list[1 + j]];
  }
  for (uint64_t i = 0; i < kept && kept > 1; ++i) {
    if (i == entry) continue;
    if (linked_to[i] == 0 || out->Links(static_cast<RowId>(i), 0)[0] == 0) {
      out->Relink(static_cast<RowId>(i));
    }
  }
  return out;
}

}  // namespace arbalest
