// The deleted rows of one segment (tombstones): an immutable set of the segment's local rows
// (store/segment.h: local row 0 is the segment's first row). Each segment of a dataset holds its
// own set (SegmentView::deleted); a delete never changes a set, it publishes a new one for each
// segment holding some of its rows (copy-on-write) and keeps the other segments' sets as the
// same objects, so a DatasetSnapshot holds its batches and its tombstones as one consistent
// view, readers never wait for deletes, and a snapshot writes only the sets that changed
// (store/segment_files.h). The one delete mechanism: indexes have no deletes of their own.
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

  // `batch`, whose first row is row `first_row` of this set's numbering, without its deleted
  // rows: the batch itself when none of them is deleted, else a filtered copy (DropRows).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropDeleted(
      const std::shared_ptr<arrow::RecordBatch>& batch, int64_t first_row) const;

  explicit TombstoneSet(Roaring rows) : rows_(std::move(rows)) {}

 private:
  Roaring rows_;
};

// `batch`, whose first row is row `first_row` of `rows`'s numbering, without the rows in
// `rows`: the batch itself when it holds none of them, else a filtered copy (Arrow compute
// Filter).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropRows(
    const std::shared_ptr<arrow::RecordBatch>& batch, const Roaring& rows, int64_t first_row);

// The rows of `rows` not in `dropped`, renumbered as a compaction that drops `dropped`
// renumbers them: each moves down by the dropped rows below it.
Roaring CompactedRowNumbers(const Roaring& rows, const Roaring& dropped);

// `rows` moved by `offset` (every row + offset must lie in [0, 2^32)): a segment's local rows
// as dataset rows and back. One walk over the rows (CRoaring 0.2 has no offset operation).
Roaring ShiftedRows(const Roaring& rows, int64_t offset);

}  // namespace arbalest
