// Segments: a dataset's rows cut into consecutive ranges, each with its own HNSW graph.
//
// Contract:
//  - A dataset's rows keep one numbering (dataset rows), the concatenation of its segments'
//    rows in order. Segment s holds dataset rows [first_row, first_row + rows); inside it a row
//    is numbered local row = dataset row - first_row, and its graph's row i is local row i.
//  - The last segment is the active one: it takes the rows of every put. It is sealed once its
//    vectors reach the dataset's segment size (SegmentMaxBytes) at a batch boundary, and the
//    next batch published starts a new active segment. A sealed segment never takes rows again;
//    once all its rows are linked its graph never changes (a compaction replaces it whole).
//  - Readers see the segments in a DatasetSnapshot (SegmentView), swapped with the batches
//    under the dataset's state lock: a view's segments cover exactly its rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <roaring/roaring.hh>
#include <vector>

#include "index/hnsw_index.h"
#include "index/memory_usage.h"

namespace arbalest {

// The default segment size (--segment-max-bytes): 2 GiB of vectors, 1.4M rows at 384-d float32,
// so a dataset of a million such rows is one graph. Snapshots keep one graph file per segment
// (store/segment_files.h), so a restart maps every segment's graph and sealing costs it
// nothing.
inline constexpr int64_t kDefaultSegmentMaxBytes = int64_t{2} << 30;
// --segment-max-bytes 0: never seal, one segment per dataset.
inline constexpr int64_t kNeverSeal = std::numeric_limits<int64_t>::max();

// The segment size of datasets whose schema does not set one (longbow.index.segment_max_bytes):
// --segment-max-bytes, set once at startup before any dataset exists (main.cc).
int64_t DefaultSegmentMaxBytes();
void SetDefaultSegmentMaxBytes(int64_t bytes);

// One segment as a DatasetSnapshot holds it.
struct SegmentView {
  int64_t first_row = 0;  // dataset row of local row 0
  int64_t rows = 0;       // rows in the segment in this view, deleted ones included
  // The segment's graph; local rows [0, indexed_rows) are linked into it (never more than
  // `rows`, once the rows the graph was loaded with are published).
  std::shared_ptr<const HnswIndex> graph;
  int64_t indexed_rows = 0;

  int64_t end_row() const { return first_row + rows; }
  // Dataset rows [first_row + linked, end_row()) are not in the graph: scanned exactly.
  int64_t linked_rows() const { return std::min(indexed_rows, rows); }
};

// A segment as a snapshot's files hold it: its graph object and linked rows then. While a
// segment's graph is that same object, its rows are those files' rows plus any appended, and
// the next snapshot links its files (appending new rows; the graph file while its linked rows
// are the same) (store/segment_files.h). A compaction or a merge makes a new graph object.
struct SavedGraph {
  std::weak_ptr<const HnswIndex> graph;
  int64_t linked_rows = 0;
};

// The rows of `rows` in [first, end), numbered from `first` (a segment's local rows).
Roaring LocalRows(const Roaring& rows, int64_t first, int64_t end);

// The rows of `deleted` in the segments whose deleted fraction (their deleted rows over their
// rows) reaches `fraction`: what a compaction of only those segments drops. Empty when none
// does.
Roaring DeletedInSegmentsPast(const std::vector<SegmentView>& segments, const Roaring& deleted,
                              double fraction);

// The bytes of its graphs' own (allocated, not mapped) memory that the batches of rows
// [from, to) of `segments` borrow once shared (ShareVectors' lent_allocated_bytes).
int64_t LentBytes(const std::vector<SegmentView>& segments, int64_t from, int64_t to);

// The memory of every segment's graph together.
MemoryUsage GraphMemory(const std::vector<SegmentView>& segments);

}  // namespace arbalest
