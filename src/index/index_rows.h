// IndexRows: the rows of one index (encoded per its DistanceSpace) in a RecordArena, with a
// flag byte per row that says whether the row is written ("ready"). Both index kinds keep their
// vectors here and share its exact scan. Deleted rows are the store's (store/tombstones.h),
// passed to searches as SearchOptions::exclude; the index has no deletes of its own.
//
// Thread-safety: Append and all readers may run concurrently. A row is visible to
// scans once Append has returned its id; rows being appended are skipped.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>

#include "index/distance_space.h"
#include "index/record_arena.h"
#include "index/search_options.h"
#include "index/top_k.h"

namespace arbalest {

class IndexRows {
 public:
  explicit IndexRows(const DistanceSpace& space);

  // Encodes and stores `vector` (space().dim() floats) as a new row; returns its id.
  // CapacityError when the arena cannot grow.
  arrow::Result<RowId> Append(const float* vector);

  const void* Row(RowId row) const { return rows_.At(row); }
  // Rows handed out so far (some may still be being written).
  RowId count() const { return count_.load(std::memory_order_acquire); }
  // Whether the row is written (rows being appended are not).
  bool IsReady(RowId row) const { return (Flags(row) & kReady) != 0; }

  // Pushes every written row below min(count(), options.row_limit) (row_limit 0: no limit) that
  // options.filter holds (when not null) and options.exclude does not (when not null) into
  // `top` with its distance to `query` (in query form).
  void Scan(const float* query, const SearchOptions& options, TopK* top) const;

  // Rows [first, first + count), all written, as one run of encoded vectors (row_bytes() each,
  // back to back) and an owner that keeps their memory alive past the index: for sharing the
  // vectors with the data they came from (an Arrow buffer over them) instead of keeping two
  // copies. `data` is null when the rows do not lie back to back in one chunk (they cross a
  // chunk boundary, or rows are padded) or their memory cannot be lent.
  struct LentRows {
    const uint8_t* data = nullptr;
    std::shared_ptr<const void> owner;
    bool allocated = false;  // counted in vector_bytes() (not adopted memory, e.g. a file's)
  };
  LentRows Lend(RowId first, uint64_t count) const;
  // Rows per arena chunk: runs that Lend accepts never cross a multiple of it.
  uint64_t rows_per_chunk() const { return rows_.records_per_chunk(); }
  size_t row_bytes() const { return space_.row_bytes(); }

  const DistanceSpace& space() const { return space_; }
  size_t vector_bytes() const { return rows_.allocated_bytes(); }
  size_t flag_bytes() const { return flags_.allocated_bytes(); }

  // Save/load: the arenas themselves, and marking loaded rows present.
  RecordArena& rows() { return rows_; }
  RecordArena& flags() { return flags_; }
  const RecordArena& rows() const { return rows_; }
  const RecordArena& flags() const { return flags_; }
  void SetLoadedCount(RowId count);

 private:
  static constexpr uint8_t kReady = 1;

  uint8_t Flags(RowId row) const {
    return std::atomic_ref<uint8_t>(*flags_.At(row)).load(std::memory_order_acquire);
  }

  DistanceSpace space_;
  RecordArena rows_;
  RecordArena flags_;
  std::atomic<RowId> count_{0};
};

}  // namespace arbalest
