// The merge policy: which adjacent segments of a dataset to merge next, so that a dataset holds
// few graphs (a search costs one graph search per segment) while each merge stays cheap.
//
// Lucene's TieredMergePolicy merges segments of about the same size (a "tier") together, never
// producing one past its maximum merged segment size, and favours the smallest merges; LevelDB
// compacts a level into the next once the level passes its size target. Ours is simpler, for
// two reasons: segments must stay in row order (a merge joins neighbours only, so that rows
// keep their numbering and scans their order), and a merge costs the smaller segment's rows
// (they are inserted into a copy of the larger one's graph, index/hnsw_merge.h), not both.
//
// The policy: a segment is a candidate when it is sealed and all its rows are linked. Among
// the pairs of adjacent candidates whose live vector bytes (rows less deleted rows, times the
// bytes of one vector) fit together in the dataset's segment size, merge the pair holding the
// smallest candidate, with the smaller of its two neighbours when both fit. Merging the
// smallest segment first keeps merges like union by size: a row is inserted again only while
// its segment is the smaller side, so at most log2(segment size / smallest segment) times.
// One merge at a time; the caller asks again after each until there is none.
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
