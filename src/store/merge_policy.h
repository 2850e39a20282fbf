// The merge policy: which adjacent segments of a dataset to merge next, so that a dataset holds
// few graphs (a search costs one graph search per segment) while each merge stays cheap.
//
// Lucene's TieredMergePolicy merges segments of about the same size (a "tier") together, never
// producing one past its maximum merged segment size, and favours the smallest merges; LevelDB
// compacts a level into the next once the level passes its size target. Both rewrite every
// input, so balanced merges are what keeps their cost down. Ours differs in two ways: segments
// must stay in row order (a merge joins neighbours only, so that rows keep their numbering and
// scans their order), and a merge does not rewrite both inputs: the larger graph is copied
// (memcpy of its vectors and lists) and only the smaller one's rows are inserted
// (index/hnsw_merge.h), which costs far more per row. So the cheapest way to few segments is
// accretion, not balance: small segments are absorbed into big ones, each row inserted about
// once, rather than paired with their equals (which inserts half of all rows at each of
// log2(segments) levels).
//
// The policy: a segment is a candidate when it is sealed and all its rows are linked. Among
// the pairs of adjacent candidates whose live vector bytes (rows less deleted rows, times the
// bytes of one vector) fit together in the dataset's segment size, merge the pair holding the
// smallest candidate (so that small segments never linger), with the larger of its two
// neighbours when both fit (so that its rows join the segment they will stay in). One merge at
// a time; the caller asks again after each until there is none.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace arbalest {

// One segment as the policy sees it, in row order.
struct MergeCandidate {
  int64_t live_bytes = 0;  // vector bytes of its rows that are not deleted
  bool mergeable = false;  // sealed and all its rows linked
};

// The position s of the pair (s, s + 1) to merge next, or nullopt when no pair fits
// `max_bytes`.
std::optional<size_t> PickMerge(const std::vector<MergeCandidate>& segments, int64_t max_bytes);

}  // namespace arbalest
