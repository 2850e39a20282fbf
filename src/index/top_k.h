// Neighbor (a row and its distance) and TopK, the bounded max-heap that keeps the k nearest
// neighbours seen so far. Used by exact scans and as HNSW's result set.
//
// Not thread-safe; one per search. Reset() keeps the storage, so a reused TopK allocates
// nothing per query.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace arbalest {

using RowId = uint32_t;

struct Neighbor {
  RowId row;
  float distance;
};

// The order "nearest first", as a function object so that the heap and sort algorithms
// inline it (a function pointer is called out of line on every comparison).
struct CloserThanFn {
  bool operator()(const Neighbor& a, const Neighbor& b) const { return a.distance < b.distance; }
};
inline constexpr CloserThanFn CloserThan{};

class TopK {
 public:
  explicit TopK(size_t k = 0) : k_(k) {}

  void Reset(size_t k) {
    k_ = k;
    heap_.clear();
  }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }
  // Distance of the farthest kept neighbour; +inf while not full.
  float bound() const {
    return full() && k_ > 0 ? heap_.front().distance : std::numeric_limits<float>::infinity();
  }
  bool Accepts(float distance) const { return distance < bound(); }

  // Keeps `n` if it is among the k nearest so far.
  void Push(Neighbor n) {
    if (k_ == 0 || !Accepts(n.distance)) return;
    if (full()) {
      std::pop_heap(heap_.begin(), heap_.end(), CloserThan);
      heap_.back() = n;
    } else {
      heap_.push_back(n);
    }
    std::push_heap(heap_.begin(), heap_.end(), CloserThan);
  }

  // The kept neighbours, nearest first, appended to `out`; leaves this TopK empty.
  size_t bytes() const { return heap_.capacity() * sizeof(Neighbor); }
  void DrainSorted(std::vector<Neighbor>* out) {
    std::sort_heap(heap_.begin(), heap_.end(), CloserThan);
    out->insert(out->end(), heap_.begin(), heap_.end());
    heap_.clear();
  }

 private:
  size_t k_;
  std::vector<Neighbor> heap_;  // max-heap by distance
};

}  // namespace arbalest
