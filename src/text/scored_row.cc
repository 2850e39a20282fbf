#include "text/scored_row.h"

#include <algorithm>
#include <utility>

namespace arbalest {

TopRows::TopRows(size_t k) : k_(k) {}

void TopRows::Offer(ScoredRow candidate) {
  if (heap_.size() < k_) {
    heap_.push_back(candidate);
    std::push_heap(heap_.begin(), heap_.end(), RanksBefore);
  } else if (k_ > 0 && RanksBefore(candidate, heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), RanksBefore);
    heap_.back() = candidate;
    std::push_heap(heap_.begin(), heap_.end(), RanksBefore);
  }
}

std::vector<ScoredRow> TopRows::Take() {
  std::sort_heap(heap_.begin(), heap_.end(), RanksBefore);
  return std::exchange(heap_, {});
}

}  // namespace arbalest
