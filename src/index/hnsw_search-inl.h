// Internals of HnswIndex shared by its source files (hnsw_index.cc, hnsw_batch_link.cc):
// atomic access to neighbour-list slots, the order of candidate lists, the Scorer that compares a
// query with rows or codes, and the best-first search of one graph level. Not part of the index's
// interface.
#pragma once

#include <hwy/cache_control.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "index/hnsw_index.h"
#include "index/quantizer.h"

namespace arbalest {
namespace hnsw_internal {

// Neighbour-list slots are read without locks by searches while inserts write them.
inline uint32_t LoadLink(uint32_t* slot) {
  return std::atomic_ref<uint32_t>(*slot).load(std::memory_order_acquire);
}
inline void StoreLink(uint32_t* slot, uint32_t value) {
  std::atomic_ref<uint32_t>(*slot).store(value, std::memory_order_release);
}

// The candidate queue of a search: a min-heap by distance.
struct FartherThanFn {
  bool operator()(const Neighbor& a, const Neighbor& b) const { return b.distance < a.distance; }
};
inline void PushCandidate(std::vector<Neighbor>& heap, Neighbor n) {
  heap.push_back(n);
  std::push_heap(heap.begin(), heap.end(), FartherThanFn{});
}
inline Neighbor PopCandidate(std::vector<Neighbor>& heap) {
  std::pop_heap(heap.begin(), heap.end(), FartherThanFn{});
  const Neighbor n = heap.back();
  heap.pop_back();
  return n;
}

// Nearest first; equal distances by row, so that the order never depends on arrival (a
// function object, so that sorts inline it).
struct NearerOrLowerFn {
  bool operator()(const Neighbor& a, const Neighbor& b) const {
    return a.distance < b.distance || (a.distance == b.distance && a.row < b.row);
  }
};
inline constexpr NearerOrLowerFn NearerOrLower{};

}  // namespace hnsw_internal

// The rows one search compares its query with: stored vectors (exact distances) or code
// records (approximate distances, `query` then being the quantizer's prepared query).
class HnswIndex::Scorer {
 public:
  Scorer(const DistanceSpace& space, const RecordArena& rows, const float* query,
         const Quantizer* quantizer = nullptr, float constant = 0)
      : space_(space), rows_(rows), query_(query), quantizer_(quantizer), constant_(constant) {}

  const void* Row(RowId row) const { return rows_.At(row); }
  void Distances(const void* const* rows, size_t n, float* out) const {
    if (quantizer_ == nullptr) return space_.DistancesToRows(query_, rows, n, out);
    quantizer_->Distances(query_, constant_, rows, n, out);
  }
  Neighbor Score(RowId row) const {
    const void* rows[1] = {Row(row)};
    float distance;
    Distances(rows, 1, &distance);
    return {row, distance};
  }

 private:
  const DistanceSpace& space_;
  const RecordArena& rows_;
  const float* query_;
  const Quantizer* quantizer_;
  float constant_;
};

template <class Accept>
void HnswIndex::SearchLevel(SearchContext& ctx, const Scorer& scorer, Neighbor entry, int level,
                            size_t ef, RowId limit, Accept accept) const {
  using hnsw_internal::LoadLink;
  ctx.visited.Reset(limit);
  ctx.visited.Visit(entry.row);
  ctx.candidates.clear();
  ctx.results.Reset(ef);
  hnsw_internal::PushCandidate(ctx.candidates, entry);
  if (accept(entry.row)) ctx.results.Push(entry);
  while (!ctx.candidates.empty()) {
    const Neighbor current = hnsw_internal::PopCandidate(ctx.candidates);
    if (ctx.results.full() && current.distance > ctx.results.bound()) break;
    uint32_t* list = Links(current.row, level);
    const uint32_t count = LoadLink(list);
    // The next candidate's list (unless this one's neighbours beat it) loads while the
    // distances below are computed; the visited tags load before they are tested.
    if (!ctx.candidates.empty()) hwy::Prefetch(Links(ctx.candidates.front().row, level));
    for (uint32_t j = 0; j < count; ++j) {
      const RowId next = LoadLink(list + 1 + j);
      if (next < limit) ctx.visited.Prefetch(next);
    }
    ctx.ids.clear();
    ctx.rows.clear();
    for (uint32_t j = 0; j < count; ++j) {
      const RowId next = LoadLink(list + 1 + j);
      if (next >= limit || !ctx.visited.Visit(next)) continue;
      ctx.ids.push_back(next);
      ctx.rows.push_back(scorer.Row(next));
      hwy::Prefetch(ctx.rows.back());
    }
    ctx.distances.resize(ctx.ids.size());
    scorer.Distances(ctx.rows.data(), ctx.ids.size(), ctx.distances.data());
    for (size_t j = 0; j < ctx.ids.size(); ++j) {
      const Neighbor n{ctx.ids[j], ctx.distances[j]};
      if (!ctx.results.Accepts(n.distance)) continue;
      hnsw_internal::PushCandidate(ctx.candidates, n);
      if (accept(n.row)) ctx.results.Push(n);
    }
  }
}

}  // namespace arbalest
