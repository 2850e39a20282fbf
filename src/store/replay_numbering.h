// How a dataset's logged records number its rows, against the rows replay has: the check that
// no record of the dataset is missing, and the translation that keeps later records on the
// rows they named when some are (--wal-skip-corrupt).
//
// Records name dataset rows by number (appends take the next numbers, deletes and compactions
// name rows, a compaction renumbers), and each logs the dataset's row count at its place in the
// log (wal_format.h). Replay has the rows of the records it read; a record lost before a later
// one of the dataset shows as a row count higher than replay's. Without --wal-skip-corrupt
// that is an error. With it, the rows the lost records logged are `missing`: a set of logged
// row numbers that replay lacks, through which later row numbers are translated (logged row r
// is replay's row r minus the missing rows below it), so a later delete hits exactly the rows
// it named; a compaction renumbers the set as it renumbers the rows. A row count lower than
// replay's (a compaction lost) leaves nothing to translate by: the dataset's later deletes
// and compactions are skipped.
#pragma once

#include <arrow/status.h>

#include <cstdint>
#include <roaring/roaring.hh>
#include <string>

#include "persist/wal_format.h"

namespace arbalest {

class RowKeys;

// Where a record of version 2 (WalEntry::keyed: its rows are row keys, store/row_keys.h) lands
// among the rows replay has, numbered by `keys` with `next_key` the key of the row after them.
// Keys of rows a compaction dropped are skipped (their rows were deleted already); an append's
// or upsert's first key (a rekey's next key) past next_key leaves the keys between to rows of
// lost records (a rekey's keys among them count as gone).
struct KeyedRows {
  Roaring rows;            // the keys' rows (an upsert's own rows after the dataset's)
  uint64_t lost_keys = 0;  // keys next_key .. first_key - 1: no record replayed gave them
  uint64_t gone = 0;       // keys of dropped rows, skipped
  Roaring unknown;         // keys no row replayed or appended by the record has
};
// Invalid, naming the record, when its first key lies below next_key (its keys were given).
arrow::Result<KeyedRows> PlaceKeys(const WalEntry& entry, const RowKeys& keys, uint64_t next_key);

// One dataset's; not thread-safe (replay is one thread).
class ReplayNumbering {
 public:
  // For a dataset replay has complete up to LSN `since` (its creation or its snapshot).
  explicit ReplayNumbering(uint64_t since) : last_lsn_(since) {}

  // Checks `entry`, a record of the dataset, against the `stored_rows` replay has. Invalid,
  // naming the record, the dataset and both counts, when they differ; with `skip_corrupt`
  // instead the difference is taken as lost rows (added to `*lost_rows`) or, when replay has
  // more, the rows can no longer be placed (placeable() turns false), and the loss is logged.
  // A kRowCount record whose count is replay's (logged after such a loss) sets translation
  // back to none. Records logged before row counts are not checked.
  arrow::Status Check(const WalEntry& entry, int64_t stored_rows, bool skip_corrupt,
                      int64_t* lost_rows);

  // Whether row numbers of records can be placed on replay's rows.
  bool placeable() const { return placeable_; }

  // `logged` row numbers as replay's: rows of lost records are left out.
  Roaring Translate(const Roaring& logged) const;

  // A record of row keys showed `rows` rows lost after the `stored_rows` replay has (a gap in
  // its keys, PlaceKeys): records of row numbers logged after it (a compaction's) count them.
  void Lost(int64_t stored_rows, int64_t rows);

  // The dataset was compacted by a record that dropped the `dropped` logged rows.
  void Compacted(const Roaring& dropped);

  // Whether replay numbers the dataset's rows otherwise than its records so far did: then a
  // kRowCount record must be logged before anything else of the dataset (LogRowCounts).
  bool renumbered() const { return !placeable_ || !missing_.isEmpty(); }

 private:
  Roaring missing_;  // logged row numbers replay does not have
  bool placeable_ = true;
  uint64_t last_lsn_;  // the dataset's last record checked
};

}  // namespace arbalest
