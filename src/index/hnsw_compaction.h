// Compaction of an HnswIndex: a new index over the rows that survive a set of dropped
// (deleted) rows, renumbered densely in order, built from the old graph instead of from
// scratch. Survivors keep their vectors (copied encoded, SQ8 codes too), their levels and
// every neighbour that survives; a list that lost neighbours is repaired the way FreshDiskANN
// and hnswlib repair deletions: the candidates are its surviving neighbours plus the surviving
// neighbours of its dropped neighbours, pruned with the insertion heuristic (SelectNeighbors),
// on every level. Rows left with no neighbour, or that no row links to any more, are linked
// again by a search of the new graph. Much cheaper than rebuilding: no search per row.
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
