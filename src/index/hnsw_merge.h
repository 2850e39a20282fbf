// Merging two HnswIndex graphs into one, for merging adjacent segments (store/segment_merge.cc):
// the merged index holds the rows of `first` then those of `second`, numbered in that order, so
// that a segment's graph row i stays its local row i. Instead of rebuilding both graphs, the
// larger one is copied (its vectors, levels, neighbour lists and quantized codes, ids shifted
// when it is the second) and only the smaller one's rows are inserted into the copy: appended
// ones in sub-batches (HnswIndex::LinkBatch), leading ones one by one from `threads` threads
// (HnswIndex::Link; the rows after them are linked already). The inputs are not changed and may
// be searched meanwhile, as a copy is made (the same discipline as HnswCompaction): a merged
// segment swaps in a new graph object.
#pragma once

#include <arrow/result.h>

#include <memory>

namespace arbalest {

class HnswIndex;

class HnswMerge {
 public:
  // The index of `first`'s rows followed by `second`'s (both of the same dimension, metric,
  // element type and parameters; Invalid otherwise). The parameters and trained quantizer are
  // the larger index's. Neither may be added to meanwhile. CapacityError when memory for the
  // new index runs out.
  static arrow::Result<std::unique_ptr<HnswIndex>> Merge(const HnswIndex& first,
                                                         const HnswIndex& second, int threads);
};

}  // namespace arbalest
