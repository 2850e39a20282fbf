// The deleted rows of a dataset (tombstones): an immutable set of dataset row numbers (rows
// numbered 0, 1, 2, ... across the dataset's batches in order). A delete never changes a set;
// it publishes a new one (copy-on-write), so a DatasetSnapshot holds its batches and its
// tombstones as one consistent view, and readers never wait for deletes.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>

namespace arbalest {

// Immutable, so thread-safe.
class TombstoneSet {
 public:
  // The empty set (one shared instance).
  static std::shared_ptr<const TombstoneSet> Empty();

  // This set plus `rows`, as a new set.
  std::shared_ptr<const TombstoneSet> With(const Roaring& rows) const;

  const Roaring& rows() const { return rows_; }
  uint64_t size() const { return rows_.cardinality(); }
  bool empty() const { return rows_.isEmpty(); }
  bool contains(uint32_t row) const { return rows_.contains(row); }
  // How many of rows [begin, end) are deleted.
  uint64_t CountIn(int64_t begin, int64_t end) const;

  // `batch`, whose first row is dataset row `first_row`, without its deleted rows: the batch
  // itself when none of them is deleted, else a filtered copy (Arrow compute Filter).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropDeleted(
      const std::shared_ptr<arrow::RecordBatch>& batch, int64_t first_row) const;

  explicit TombstoneSet(Roaring rows) : rows_(std::move(rows)) {}

 private:
  Roaring rows_;
};

// The rows of `rows` not in `dropped`, renumbered as a compaction that drops `dropped`
// renumbers them: each moves down by the dropped rows below it.
Roaring CompactedRowNumbers(const Roaring& rows, const Roaring& dropped);

}  // namespace arbalest
