// A compaction of one dataset between Dataset::PlanCompaction, which builds it off the publish
// path, and Dataset::PublishCompaction, which swaps it in. Compaction drops deleted rows from
// the batches, the segments' graphs and the text index and renumbers the rows that survive
// densely in order: row r becomes r minus the number of dropped rows below it. A segment that
// loses no row keeps its graph; only its first row moves down. Rows appended after the
// plan was made all lie above the dropped ones, so they simply move down by dropped().
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
  std::shared_ptr<DatasetText> text_;  // over batches_; null without text columns
};

}  // namespace arbalest
