// Compaction of an HnswIndex: a new index over the rows that survive a set of dropped
// (deleted) rows, renumbered densely in order, built from the old graph instead of from
// scratch. Survivors keep their vectors (copied encoded, SQ8 codes too), their levels and
// every neighbour that survives. A list that lost neighbours is repaired as FreshDiskANN and
// hnswlib repair deletions, on every level: the freed slots go to the survivors among the
// dropped neighbours' neighbours (and further through a run of dropped rows, so that a run does
// not cut the graph), nearest first, each taken only if it is closer to the row than to the
// neighbours the row has (the insertion heuristic). Keeping the surviving neighbours, rather
// than pruning the whole list again, keeps the back-links insertion added (measured: recall of
// the compacted graph within 0.5 points of the old graph searched with the rows excluded).
// Rows left with no neighbour, or that no row links to any more, are inserted again. About a
// tenth of the cost of rebuilding: no graph search per row.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <roaring/roaring.hh>

namespace arbalest {

class HnswIndex;

class HnswCompaction {
 public:
  // The index over the rows of `index` not in `dropped` (rows past index.size() are ignored);
  // row r becomes r minus the number of dropped rows below it. The entry point stays when it
  // survives, else the survivor of the highest level takes its place; with no survivor the
  // result is empty. Lists are repaired from `threads` threads. `index` may be searched
  // meanwhile but not added to. CapacityError when memory for the new index runs out.
  static arrow::Result<std::unique_ptr<HnswIndex>> Compact(const HnswIndex& index,
                                                           const Roaring& dropped, int threads);
};

}  // namespace arbalest
