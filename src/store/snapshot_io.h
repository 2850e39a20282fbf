// One dataset's snapshot on disk (format: persist/snapshot_format.h): writing it from a
// consistent cut of the live dataset without stopping puts, and loading it back at startup
// without rebuilding the index graph.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "persist/snapshot_format.h"
#include "store/dataset.h"
#include "store/memory_budget.h"

namespace arbalest {

// What a snapshot holds; the `snapshot` action's result.
struct SnapshotReport {
  std::string dataset;
  uint64_t lsn = 0;
  int64_t rows = 0;          // live rows
  int64_t deleted_rows = 0;  // stored but deleted (tombstones)
  int64_t indexed_rows = 0;
  int64_t bytes = 0;  // on disk
  double seconds = 0;
};

// Writes a snapshot of `dataset` into the directory `root`, removes the dataset's older
// snapshots there, and records the new one with Dataset::set_saved_snapshot.
//
// The cut: with indexing of this dataset paused, the published rows, deleted rows and segments
// are taken with their LSN (Dataset::Snapshot) and the segments' graphs that changed since the
// previous snapshot are written (store/segment_files.h), so no graph holds a row the snapshot
// lacks; then the rows are written with indexing going on. Puts, scans and searches go on
// throughout. `cancelled` is polled between batches; when it returns true the snapshot is abandoned
// (Cancelled) and nothing is left behind. IOError names the file that could not be written.
arrow::Result<SnapshotReport> WriteSnapshot(Dataset& dataset, const std::string& root,
                                            const std::function<bool()>& cancelled);

// Loads the snapshot in `dir`: the dataset with its rows (charged to `budget`; CapacityError
// past --max-memory), its deleted rows and its segments, each segment's graph mapped (not
// rebuilt), marked as holding
// every change up to the snapshot's LSN. IOError or Invalid names the file that is missing,
// truncated or corrupt.
arrow::Result<std::shared_ptr<Dataset>> LoadSnapshot(const SnapshotDirEntry& dir,
                                                     MemoryBudget* budget);

}  // namespace arbalest
