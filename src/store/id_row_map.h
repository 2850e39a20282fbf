// The id -> row map of a dataset whose ids are unique (schema option `unique_id`): for each id,
// the highest-numbered row that carries it, so that a put into such a dataset finds the rows it
// replaces in O(batch) instead of scanning the id column. The row an entry names may have been
// deleted since (a delete leaves its entry behind: deleting a deleted row again is harmless);
// compactions renumber the entries as they renumber the rows.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>

#include <cstdint>
#include <roaring/roaring.hh>
#include <string>
#include <unordered_map>

namespace arbalest {

// Not thread-safe: the dataset serializes its users (Dataset::delete_mutex()).
class IdRowMap {
 public:
  // The rows a batch with `ids` (int64, uint64 or utf8, no nulls), published at `first_row`,
  // replaces: the mapped row of each id already present, and for an id repeated in the batch
  // every occurrence but its last (the last one wins). Changes nothing.
  arrow::Result<Roaring> Replaced(const arrow::Array& ids, int64_t first_row) const;

  // Maps each of `ids` to its row (`first_row` + its position), later positions winning.
  arrow::Status Assign(const arrow::Array& ids, int64_t first_row);

  // Renumbers the entries as a compaction that drops `dropped` renumbers rows; entries of
  // dropped rows go.
  void Compacted(const Roaring& dropped);

  size_t size() const { return integers_.size() + strings_.size(); }

  // An estimate of the heap memory the map holds (nodes, buckets, long strings): what the
  // dataset charges to the memory budget for it.
  int64_t bytes() const;

 private:
  // The entry of id `i` of `ids`, or null.
  const uint32_t* Find(const arrow::Array& ids, int64_t i) const;

  std::unordered_map<uint64_t, uint32_t> integers_;  // int64 ids as their bits, and uint64 ids
  std::unordered_map<std::string, uint32_t> strings_;
  int64_t string_heap_bytes_ = 0;  // characters of strings too long for the inline buffer
};

}  // namespace arbalest
