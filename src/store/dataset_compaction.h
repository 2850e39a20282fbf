// A compaction of one dataset between Dataset::PlanCompaction, which builds it off the publish
// path, and Dataset::PublishCompaction, which swaps it in. Compaction drops deleted rows from
// the batches, the segments' graphs and the text index and renumbers the rows that survive
// densely in order: row r becomes r minus the number of dropped rows below it. A segment that
// loses no row keeps its graph and its batches (not copied); only its first row moves down.
// Rows appended after the plan was made all lie above the dropped ones, so they simply move
// down by dropped(). The work is proportional to the segments that lose rows, except for
// steps linear in small things: one step per batch and per segment, and the ids of a dataset
// with unique ids renumbered (one step per id). Deleted rows are per segment, in local
// numbering: only the rewritten segments' sets are renumbered; the others are kept.
//
// Durability. The log's records name rows by key (store/row_keys.h), which a compaction does
// not change (the dropped rows' keys become gone in the dataset's RowKeys), so a compaction
// logs nothing and waits for no fsync under the delete mutex: it advances the dataset's layout
// generation, the snapshot thread writes the dataset, and that snapshot (the compacted
// segments and the gone keys) makes it durable. A restart before it replays the uncompacted
// rows and the records after the snapshot's cut, whose keys name the same rows in either
// numbering, and the compactor compacts again. A log of row numbers (CommitLog::row_numbers:
// builds before row keys, and tests of the upgrade path) logs a kCompact record instead, in
// the compaction's turn, and replay compacts where it was logged (Dataset::CompactRecovered).
//
// Rekeys. Gone keys accumulate (and keys are 32-bit), so a compaction that leaves enough of
// them (Dataset::ShouldRekey) renumbers the keys densely: it logs a kRekey record of every gone
// key in its turn and waits for it under the delete mutex, then publishes key = row with the
// compacted rows (the next key drops by the retired keys). Replay of the record drops the rows
// it still has under a retired key (an unlogged compaction's, deleted already) and renumbers
// alike (Dataset::RekeyRecovered, RowKeys::Renumbered).
#pragma once

#include <arrow/record_batch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <roaring/roaring.hh>
#include <vector>

#include "index/hnsw_index.h"
#include "store/dataset_index.h"
#include "store/dataset_text.h"
#include "store/row_keys.h"

namespace arbalest {

// Made by Dataset::PlanCompaction; only dropped() is for callers.
class CompactionPlan {
 public:
  // The rows it drops, in the numbering before the compaction: what the WAL record lists.
  const Roaring& dropped() const { return dropped_; }

 private:
  friend class Dataset;

  std::unique_lock<std::mutex> paused_;  // the dataset's indexing (DatasetIndex::PauseIndexing)
  std::chrono::steady_clock::time_point start_;
  Roaring dropped_;
  int64_t covered_rows_ = 0;  // old rows the plan holds so far (a prefix of the dataset)
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;  // those rows less the dropped
  int64_t bytes_ = 0;
  // The segments of the plan's view, compacted: their first rows (renumbered) and graphs
  // (compacted where they lost rows, the same graph where they lost none) with the rows they
  // hold.
  std::vector<int64_t> segment_firsts_;
  std::vector<DatasetIndex::SegmentGraph> graphs_;
  // Per segment of the plan's view, the local rows it drops (empty: untouched, its deleted
  // set kept as the same object).
  std::vector<Roaring> local_dropped_;
  // The text index numbered as batches_ (null without text columns): the same index under a
  // new numbering (DatasetText::Compacted), or, where that cannot be, one rebuilt from
  // batches_ (text_rebuilt_), which then also takes the rows published since the plan.
  std::shared_ptr<DatasetText> text_;
  bool text_rebuilt_ = false;
  // The dataset's row keys after the compaction: the dropped rows' keys gone.
  std::shared_ptr<const RowKeys> keys_;
  // Rows from here on (the same number before and after: no dropped row lies below it) are
  // in batches the compaction copied or in segments whose graph it replaced: vectors shared
  // with a graph are shared again from here.
  int64_t rewritten_from_ = 0;
  // When the text index and the id map drop their gone keys (RowKeys::WorthRenumbering).
  uint64_t renumber_gone_keys_ = RowKeys::kRenumberGoneKeys;
};

}  // namespace arbalest
