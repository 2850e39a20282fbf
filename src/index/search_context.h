// SearchContext: the per-search scratch state of a graph search (visited tags, candidate and
// result heaps, gather buffers), and the pool that lends contexts to concurrent searches so
// that a search allocates nothing once the pool is warm.
//
// A context is used by one thread at a time; the pool is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "index/top_k.h"

namespace arbalest {

// Visited marks by epoch: a row is visited when its tag equals the current epoch, so
// starting a new search is one increment, not a clear.
class VisitedSet {
 public:
  // Starts a new search over rows [0, rows).
  void Reset(size_t rows) {
    if (tags_.size() < rows) tags_.resize(rows + rows / 2);
    if (++epoch_ == 0) {
      std::fill(tags_.begin(), tags_.end(), uint16_t{0});
      epoch_ = 1;
    }
  }
  size_t bytes() const { return tags_.capacity() * sizeof(uint16_t); }
  // Starts loading `row`'s tag into cache (ahead of Visit).
  void Prefetch(RowId row) const { __builtin_prefetch(tags_.data() + row); }
  // True when `row` was not visited yet in this search; marks it.
  bool Visit(RowId row) {
    if (tags_[row] == epoch_) return false;
    tags_[row] = epoch_;
    return true;
  }

 private:
  std::vector<uint16_t> tags_;
  uint16_t epoch_ = 0;
};

struct SearchContext {
  VisitedSet visited;
  std::vector<Neighbor> candidates;  // min-heap by distance
  TopK results;
  std::vector<Neighbor> sorted;
  std::vector<RowId> ids;
  std::vector<const void*> rows;
  std::vector<float> distances;
  std::vector<float> query;      // the query in query form
  std::vector<float> decoded;    // stored rows decoded to float (those a selection keeps)
  std::vector<float> base;       // a neighbour's row in query form, while its list is pruned
  std::vector<Neighbor> merged;  // a neighbour's old and new links, while its list is pruned
  std::vector<float> prepared;   // the query in a quantizer's form (SQ8 weights, PQ table)
  // An insert's chosen neighbours per level, written once every level is searched.
  std::vector<std::vector<Neighbor>> chosen;
  // The rows other inserts were linking when this insert began (HnswIndex::Link).
  std::vector<RowId> in_flight;

  // The heap memory the context holds (its buffers grow with the rows and the dimension).
  size_t bytes() const {
    size_t chosen_bytes = chosen.capacity() * sizeof(std::vector<Neighbor>);
    for (const std::vector<Neighbor>& level : chosen) {
      chosen_bytes += level.capacity() * sizeof(Neighbor);
    }
    return sizeof(SearchContext) + visited.bytes() + chosen_bytes +
           (candidates.capacity() + sorted.capacity() + merged.capacity()) * sizeof(Neighbor) +
           results.bytes() + (ids.capacity() + in_flight.capacity()) * sizeof(RowId) +
           rows.capacity() * sizeof(const void*) +
           (distances.capacity() + query.capacity() + decoded.capacity() + base.capacity() +
            prepared.capacity()) *
               sizeof(float);
  }
};

class SearchContextPool {
 public:
  struct Return {
    SearchContextPool* pool;
    void operator()(SearchContext* context) const { pool->Release(context); }
  };
  using Lease = std::unique_ptr<SearchContext, Return>;

  // A context for the calling thread; goes back to the pool when the lease is destroyed.
  Lease Acquire() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return Lease(new SearchContext, Return{this});
    Lease lease(free_.back().release(), Return{this});
    free_.pop_back();
    pooled_bytes_.fetch_sub(lease->bytes(), std::memory_order_relaxed);
    return lease;
  }

  // The memory the pooled contexts hold (not those leased out now): one context per thread
  // that searched or linked at the same time, each sized to the largest search it ran.
  size_t bytes() const { return pooled_bytes_.load(std::memory_order_relaxed); }

 private:
  void Release(SearchContext* context) {
    const size_t bytes = context->bytes();
    std::lock_guard lock(mutex_);
    free_.emplace_back(context);
    pooled_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }

  std::mutex mutex_;
  std::vector<std::unique_ptr<SearchContext>> free_;
  std::atomic<size_t> pooled_bytes_{0};  // bytes() of the contexts in free_
};

}  // namespace arbalest
