// The id -> row map of a dataset whose ids are unique (schema option `unique_id`): for each id,
// its live row when it has one (else a row of it deleted since, or none), so that a put into
// such a dataset finds the rows it replaces in O(batch) instead of scanning the id column. The
// row an entry names may have been deleted since (a delete leaves its entry behind: deleting a
// deleted row again is harmless). Entries are made as rows are appended (Assign), rows deleted
// as they are appended taking none, so an id's live row is its latest mapped one.
//
// Entries hold row keys (store/row_keys.h), not rows: a compaction changes the map's numbering
// of the keys (as it changes the text index's) and erases the entries of the rows it drops,
// which it finds through those rows' ids, so its cost is proportional to the rows it drops, not
// to the dataset: every other entry is left as it is. Only when a key would pass 2^32 - 1 are
// the entries renumbered as rows, whole (Rebase).
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/row_keys.h"

namespace arbalest {

// Not thread-safe: the dataset guards it (writers under its delete mutex and the map's lock held
// exclusively, readers under that lock shared: Dataset::MappedRowsOf).
class IdRowMap {
 public:
  // The rows a batch with `ids` (int64, uint64 or utf8, no nulls), published at `first_row`,
  // replaces: the mapped row of each id already present, and for an id repeated in the batch
  // every occurrence but its last (the last one wins). Changes nothing.
  arrow::Result<Roaring> Replaced(const arrow::Array& ids, int64_t first_row) const;

  // Maps each of `ids` to its row (`first_row` + its position), later positions winning, but
  // for the rows in `unmapped` (rows deleted as they are appended: an upsert's earlier repeats
  // of an id, a snapshot's deleted rows, an adopted segment's rows deleted at adoption), whose
  // ids keep the entry they had. So an id's entry names its live row where it has one, even
  // when a row of it deleted at once comes after (an adopted segment's, Dataset::Commit of a
  // SegmentMutation). The rows are appended ones (above every row a compaction dropped):
  // Invalid otherwise.
  arrow::Status Assign(const arrow::Array& ids, int64_t first_row,
                       const Roaring& unmapped = Roaring());

  // Numbers the entries as a compaction that drops `dropped` numbers rows, and erases the
  // entries of the dropped rows, whose ids it reads from `batches` (the dataset's rows before
  // the compaction, their `id` column of the type Assign was given). Costs O(|dropped|) plus a
  // step per batch; other entries are not touched. Once the numbering's gone keys are worth
  // dropping (RowKeys::WorthRenumbering with `renumber_gone_keys`, over the entries) the
  // entries are rewritten as rows instead (Rebase), so their memory does not grow with every
  // row ever dropped.
  arrow::Status Compacted(const Roaring& dropped,
                          const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                          uint64_t renumber_gone_keys = RowKeys::kRenumberGoneKeys);
  // Whether its keys are rows (no gone key): for tests.
  bool keys_are_rows() const { return keys_.identity(); }

  // The rows the entries of `ids` (ids of the type Assign was given) name: each id's latest
  // row, deleted or not; none for an id without an entry. O(|ids|): what delete by id and search
  // by id look up in a dataset with unique ids (store/id_lookup.h).
  arrow::Result<Roaring> Rows(const arrow::Array& ids) const;

  // The row the entry of each of `ids` names, by position; -1 for an id without an entry.
  arrow::Result<std::vector<int64_t>> RowOfEach(const arrow::Array& ids) const;
  size_t size() const { return integers_.size() + strings_.size(); }

  // An estimate of the heap memory the map holds (nodes, buckets, long strings, the numbering):
  // what the dataset charges to the memory budget for it.
  int64_t bytes() const;

  // The stored entry (a row key) of id `i` of `ids`, or null: for tests that check which
  // entries a compaction rewrote.
  const uint32_t* EntryForTest(const arrow::Array& ids, int64_t i) const { return Find(ids, i); }

 private:
  // The entry of id `i` of `ids`, or null.
  const uint32_t* Find(const arrow::Array& ids, int64_t i) const;
  // Erases the entry of id `i` of `ids` if it holds `key`.
  void EraseIfAt(const arrow::Array& ids, int64_t i, uint32_t key);
  // Rewrites every entry as its row after dropping `dropped` (entries of dropped rows go), and
  // numbers keys as rows from then on: the whole map, for when keys would pass 32 bits.
  void Rebase(const Roaring& dropped);

  std::unordered_map<uint64_t, uint32_t> integers_;  // int64 ids as their bits, and uint64 ids
  std::unordered_map<std::string, uint32_t> strings_;
  int64_t string_heap_bytes_ = 0;  // characters of strings too long for the inline buffer
  RowKeys keys_;                   // the numbering of the entries' keys
};

}  // namespace arbalest
