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
      (out->sq8_ && !out->sq8_codes_.Reserve(kept))) {
    return arrow::Status::CapacityError("no memory to compact an HNSW index of ", kept, " rows");
  }

  // Vectors, flags, levels (kept, so the hierarchy stays as it was) and SQ8 codes.
  const bool sq8_ready = index.sq8_ready_.load(std::memory_order_acquire);
  if (sq8_ready) out->sq8_->SetRange(index.sq8_->min(), index.sq8_->max());
  uint64_t deleted = 0;
  for (uint64_t i = 0; i < kept; ++i) {
    const RowId row = survivors[i];
    std::memcpy(new_rows.rows().At(i), old_rows.Row(row), old_rows.rows().record_bytes());
    *new_rows.flags().At(i) = *old_rows.flags().At(row);
    if (old_rows.IsDeleted(row)) ++deleted;
    if (sq8_ready) {
      std::memcpy(out->sq8_codes_.At(i), index.sq8_codes_.At(row), index.sq8_codes_.record_bytes());
    }
    const int level = index.Node(row)->level;
    HnswIndex::NodeInfo* node = out->Node(i);
    node->level = level;
    if (level > 0) {
      const size_t words = out->UpperWords(level);
      node->upper = new uint32_t[words]();
      out->upper_bytes_.fetch_add(words * sizeof(uint32_t), std::memory_order_relaxed);
    }
  }
  new_rows.SetLoadedCount(static_cast<RowId>(kept), deleted);
  if (sq8_ready) out->sq8_ready_.store(true, std::memory_order_release);

  // Neighbour lists, each written by the thread that repairs its row.
  auto repair = [&](SearchContext& ctx, uint32_t row) {
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
      ctx.ids.clear();
      for (uint32_t j = 0; j < count; ++j) {
        const RowId next = list[1 + j];
        if (new_id[next] != kDropped) {
          ctx.ids.push_back(next);
          continue;
        }
        const uint32_t* second = index.Links(next, level);
        for (uint32_t k = 0; k < second[0]; ++k) {
          const RowId other = second[1 + k];
          if (other != old && new_id[other] != kDropped) ctx.ids.push_back(other);
        }
      }
      std::sort(ctx.ids.begin(), ctx.ids.end());
      ctx.ids.erase(std::unique(ctx.ids.begin(), ctx.ids.end()), ctx.ids.end());
      std::vector<Neighbor>& candidates = ctx.sorted;
      candidates.clear();
      for (const RowId id : ctx.ids) {
        candidates.push_back({id, space.Distance(base, old_rows.Row(id))});
      }
      std::sort(candidates.begin(), candidates.end(), CloserThan);
      index.SelectNeighbors(ctx, &candidates, level == 0 ? index.max_links0_ : index.params_.m);
      for (size_t j = 0; j < candidates.size(); ++j) target[1 + j] = new_id[candidates[j].row];
      target[0] = static_cast<uint32_t>(candidates.size());
    }
  };
  std::atomic<size_t> next{0};
  auto repair_rows = [&] {
    SearchContext ctx;
    ctx.query.resize(space.dim());
    for (size_t begin = next.fetch_add(kRowsPerClaim); begin < kept;
         begin = next.fetch_add(kRowsPerClaim)) {
      const size_t end = std::min<size_t>(kept, begin + kRowsPerClaim);
      for (size_t row = begin; row < end; ++row) repair(ctx, static_cast<uint32_t>(row));
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
      out->Link(static_cast<RowId>(i));
    }
  }
  return out;
}

}  // namespace arbalest
