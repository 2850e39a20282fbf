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
//  - Each segment holds its deleted rows in its local numbering (SegmentView::deleted, an
//    immutable TombstoneSet): a delete replaces the sets of the segments holding its rows, a
//    compaction those of the segments it rewrites, a merge the pair's; every other segment keeps
//    its set object, so a snapshot writes only the sets that changed.
//  - Readers see the segments in a DatasetSnapshot (SegmentView), swapped with the batches
//    under the dataset's state lock: a view's segments cover exactly its rows.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <roaring/roaring.hh>
#include <vector>

#include "index/hnsw_index.h"
#include "index/memory_usage.h"
#include "store/tombstones.h"

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
  // The segment's deleted local rows (every one below `rows`).
  std::shared_ptr<const TombstoneSet> deleted = TombstoneSet::Empty();

  int64_t end_row() const { return first_row + rows; }
  // Dataset rows [first_row + linked, end_row()) are not in the graph: scanned exactly.
  int64_t linked_rows() const { return std::min(indexed_rows, rows); }
};

// A sealed segment named so that a later view, in this process or from another node, can be
// asked for it again: its rows [first_row, first_row + rows) and which graph object holds
// them (an identity, not a pointer to follow). A compaction or a merge makes a new graph and a
// compaction renumbers the rows after the ones it drops, so a view that holds a sealed segment
// of the same three values holds the same rows at the same dataset rows up to its end.
struct SegmentRef {
  int64_t first_row = 0;
  int64_t rows = 0;
  uint64_t graph = 0;

  static SegmentRef Of(const SegmentView& segment);
  int64_t end_row() const { return first_row + rows; }
  bool operator==(const SegmentRef&) const = default;
};

// The sealed segment of `segments` (never the last, active one) that `ref` names; null when
// none does.
const SegmentView* SealedSegmentNamed(const std::vector<SegmentView>& segments,
                                      const SegmentRef& ref);

// A segment as a snapshot's files hold it: its graph object and linked rows then. While a
// segment's graph is that same object, its rows are those files' rows plus any appended, and
// the next snapshot links its files (appending new rows; the graph file while its linked rows
// are the same; the deleted-rows file while it has as many deleted rows: a segment's deleted
// set only grows while it keeps its graph) (store/segment_files.h). A compaction or a merge
// makes a new graph object.
struct SavedGraph {
  std::weak_ptr<const HnswIndex> graph;
  int64_t linked_rows = 0;
};

// The rows of `rows` in [first, end), numbered from `first` (a segment's local rows).
Roaring LocalRows(const Roaring& rows, int64_t first, int64_t end);

// The deleted rows (dataset rows) of the segments whose deleted fraction (their deleted rows
// over their rows) reaches `fraction`: what a compaction of only those segments drops. Empty
// when none does. With `fraction` 0, every deleted row.
Roaring DeletedInSegmentsPast(const std::vector<SegmentView>& segments, double fraction);

// The segment of `segments` (in order, covering their rows) holding dataset row `row`; null
// when none does.
const SegmentView* SegmentOf(const std::vector<SegmentView>& segments, int64_t row);

// Whether dataset row `row` is a deleted row of its segment.
bool IsDeletedRow(const std::vector<SegmentView>& segments, int64_t row);

// `batch`, whose first row is dataset row `first_row` (a batch may span segments: a compaction
// coalesces batches), without the deleted rows of the segments it spans: the batch itself when
// none of its rows is deleted.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropDeletedRows(
    const std::vector<SegmentView>& segments, const std::shared_ptr<arrow::RecordBatch>& batch,
    int64_t first_row);

// `sets`, the deleted sets of the segments starting at dataset rows `firsts` (in order), with
// the dataset rows `rows` added: a new set for each segment holding some of them, the same
// object for every other. Rows past the last segment's first row go to the last segment.
std::vector<std::shared_ptr<const TombstoneSet>> WithDeletedRows(
    std::vector<std::shared_ptr<const TombstoneSet>> sets, const std::vector<int64_t>& firsts,
    const Roaring& rows);

// The bytes of its graphs' own (allocated, not mapped) memory that the batches of rows
// [from, to) of `segments` borrow once shared (ShareVectors' lent_allocated_bytes).
int64_t LentBytes(const std::vector<SegmentView>& segments, int64_t from, int64_t to);

// The memory of every segment's graph together.
MemoryUsage GraphMemory(const std::vector<SegmentView>& segments);

}  // namespace arbalest
