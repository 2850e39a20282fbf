// A row with a relevance score, the order results are returned in, and a bounded collector of
// the best k. Shared by BM25 search and rank fusion so both rank and break ties the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace arbalest {

struct ScoredRow {
  uint64_t row = 0;
  double score = 0;

  friend bool operator==(const ScoredRow&, const ScoredRow&) = default;
};

// Result order: higher score first; equal scores by ascending row, so results are
// deterministic whatever order rows were added or visited in.
inline bool RanksBefore(const ScoredRow& a, const ScoredRow& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.row < b.row;
}

// Keeps the k best rows offered, in O(log k) per offer and O(k) memory. Not thread-safe; one
// per search.
class TopRows {
 public:
  explicit TopRows(size_t k);

  void Offer(ScoredRow candidate);

  // The kept rows, best first. Leaves the collector empty.
  std::vector<ScoredRow> Take();

 private:
  size_t k_;
  std::vector<ScoredRow> heap_;  // worst kept row at the front
};

}  // namespace arbalest
