// A sealed segment shipped whole from one node to another (a shard's primary to a syncing
// replica, cluster/shard_segments.h; docs/cluster.md, "Catch-up and shard moves"), so that the
// receiver adopts its graph instead of re-indexing its rows (Dataset::Commit of a
// SegmentMutation).
//
// Sender: AdoptableSegments lists, from one published view, the segments that are sealed and
// whose rows are all linked, in order and stopping at the first that is not (the rows after
// them go by a row scan). SegmentChunks streams one of them, read from one view taken when it
// starts (refused, Invalid, when the view no longer holds that segment: a compaction or a
// merge replaced it, or its rows moved), as record batches of kSegmentChunkSchema:
//   kind 0 (rows):    an Arrow IPC stream of some of the segment's rows (every row, deleted
//                     ones included, in local order, padded to the view's schema), at most
//                     about kSegmentChunkBytes each
//   kind 1 (deleted): the segment's local rows deleted in that view (a portable Roaring bitmap)
//   kind 2 (graph):   the next kSegmentChunkBytes at most of the segment's graph in the graph
//                     file's format (index/hnsw_file.h, its vectors in the file), made from
//                     the graph in memory as it is read (HnswFileStream: no copy of the graph
//                     is held on the sender for the transfer's time)
// in that order; the schema's metadata says the segment's rows and the graph file's bytes.
// Receiver: ReceiveSegment reads such a stream into the batches, the deleted rows and the graph
// (written to an anonymous memory file and mapped by HnswFile::Read, which checks its
// checksums and its links): Invalid, naming the problem, for a stream that is not one.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <vector>

#include "index/hnsw_index.h"
#include "store/dataset.h"

namespace arbalest {

inline constexpr int64_t kSegmentChunkBytes = int64_t{4} << 20;

// {kind: int8, data: binary}, as above.
std::shared_ptr<arrow::Schema> SegmentChunkSchema();

// The sealed segments of `view` whose rows are all linked, from the first segment on, up to
// the first that is not (never the active, last one).
std::vector<SegmentRef> AdoptableSegments(const DatasetSnapshot& view);

// The chunks of segment `want` of `dataset`, read from one view taken now. Invalid when that
// view holds no such sealed, linked segment (named).
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> SegmentChunks(const Dataset& dataset,
                                                                       const SegmentRef& want);

// A segment as ReceiveSegment read it.
struct ReceivedSegment {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;  // its rows in local order
  Roaring deleted;                                           // local rows deleted on the sender
  std::shared_ptr<HnswIndex> graph;                          // every row linked
  int64_t rows = 0;
  int64_t graph_bytes = 0;
};

// Reads a stream of SegmentChunks. Invalid, naming the problem, for another schema, chunks
// out of order, rows or graph bytes other than the metadata says, a graph file that does not
// load or whose rows are not the segment's.
arrow::Result<ReceivedSegment> ReceiveSegment(arrow::RecordBatchReader& chunks);

}  // namespace arbalest
