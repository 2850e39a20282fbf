// Merging a dataset's small adjacent segments (Dataset::MergeSegments, segment_merge.cc), run by
// the merge thread (VectorStore, --segment-merge) after indexing turns and compactions.
//
// Contract:
//  - Which segments: store/merge_policy.h (sealed, all rows linked, live vectors fitting the
//    dataset's segment size together; the smallest first).
//  - How: the two graphs are merged into a new one (index/hnsw_merge.h: the larger copied, the
//    smaller's rows inserted) with no lock of the dataset held, so puts, deletes, scans,
//    searches and indexing go on. It is swapped in as one segment under the maintenance mutex
//    (no snapshot or compaction is running), with indexing paused and the state lock held for
//    the swap only, as a compaction's Replace: readers keep the graphs they started with.
//    Graphs are never changed in place, so a snapshot that saved a segment's graph knows it by
//    the graph object.
//  - Rows keep their numbering: nothing is dropped, renumbered or logged, so a replay is the
//    same with or without merges. Deleted rows of the merged segments stay in the merged graph,
//    tombstoned: the merged segment's deleted set is the left one's plus the right one's moved
//    up by the left one's rows (searches exclude them as before); a compaction drops them
//    later. Since nothing is logged, a merge advances the dataset's layout generation
//    (Dataset::layout_generation), which makes the next snapshot round write the dataset.
//  - A merge abandoned (a compaction replaced one of the graphs meanwhile, the dataset was
//    dropped, or the merge thread stops) changes nothing.
//  - Memory: the merged graph's bytes are charged to --max-memory before it is built and
//    released once it replaced the two (MemoryReservation); a merge that does not fit waits.
#pragma once

#include <cstdint>

namespace arbalest {

// What Dataset::MergeSegments did.
struct SegmentMergeReport {
  int64_t merges = 0;         // pairs of segments merged into one
  int64_t inserted_rows = 0;  // rows inserted into a larger segment's graph copy
  int64_t deferred = 0;       // a merge left for later: its graph did not fit --max-memory
  double seconds = 0;
};

}  // namespace arbalest
