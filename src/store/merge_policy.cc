#include "store/merge_policy.h"

namespace arbalest {

std::optional<size_t> PickMerge(const std::vector<MergeCandidate>& segments, int64_t max_bytes) {
  auto fits = [&](size_t s) {  // the pair (s, s + 1)
    return s + 1 < segments.size() && segments[s].mergeable && segments[s + 1].mergeable &&
           segments[s].live_bytes <= max_bytes - segments[s + 1].live_bytes;
  };
  std::optional<size_t> best;
  int64_t best_bytes = 0;  // the smallest segment of the best pair
  int64_t best_other = 0;  // its neighbour in that pair
  for (size_t s = 0; s < segments.size(); ++s) {
    for (const size_t pair : {s - 1, s}) {  // with its left, then its right neighbour
      if (pair == static_cast<size_t>(-1) || !fits(pair)) continue;
      const int64_t other = segments[pair == s ? s + 1 : s - 1].live_bytes;
      if (!best || segments[s].live_bytes < best_bytes ||
          (segments[s].live_bytes == best_bytes && other > best_other)) {
        best = pair;
        best_bytes = segments[s].live_bytes;
        best_other = other;
      }
    }
  }
  return best;
}

}  // namespace arbalest
