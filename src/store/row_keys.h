// Row keys: numbers for a dataset's rows that compactions do not change, so that an index over
// the rows (the text index, store/dataset_text.h; the id map, store/id_row_map.h) is not
// rewritten when a compaction renumbers them.
//
// A row's key is the row number it would have had if no compaction had ever dropped a row. A
// RowKeys is one numbering: `gone` holds the keys of the rows compactions dropped, so
// row = key - (gone keys below it). A compaction makes a new numbering (Compacted) in time
// proportional to the rows it drops, and an index keyed by keys stays valid under both the old
// numbering (readers of the version before the compaction) and the new one. Rows appended after
// a compaction lie above every gone key: key = row + gone count.
#pragma once

#include <cstdint>
#include <optional>
#include <roaring/roaring.hh>
#include <vector>

namespace arbalest {

// Immutable once made; copies are cheap when few keys are gone (the bitmap is run-optimized).
class RowKeys {
 public:
  // The numbering of a dataset no compaction dropped a row of: key = row.
  RowKeys() : RowKeys(Roaring()) {}

  // This numbering after a compaction that drops `dropped` (rows of this numbering); the dropped
  // rows' keys, in ascending order, go to `keys` when given. O(|dropped|) rank steps, plus a copy
  // of the gone keys. Nullopt when a key would pass 2^32 - 1 (the gone keys are a 32-bit
  // bitmap): the caller renumbers its index from rows then.
  std::optional<RowKeys> Compacted(const Roaring& dropped,
                                   std::vector<uint32_t>* keys = nullptr) const;

  // The key of row `row`, and the row of key `key` (which must not be gone).
  uint64_t KeyOf(uint64_t row) const;
  uint64_t RowOf(uint64_t key) const;

  // Rows from this one on lie above every gone key (key = row + gone count): appended rows.
  uint64_t first_after() const { return first_after_; }
  // Whether key = row for every row (no row was dropped).
  bool identity() const { return gone_count_ == 0; }
  // The heap bytes of the gone keys (the bitmap and the sorted copy).
  int64_t bytes() const {
    return static_cast<int64_t>(gone_.getSizeInBytes() + sorted_.capacity() * sizeof(uint32_t));
  }

 private:
  explicit RowKeys(Roaring gone);
  // The gone keys up to and including `key`: a binary search in sorted_. (Roaring's own rank,
  // and its range cardinality, count a dense container's bits one by one in the CRoaring we
  // build with: about 5 and 12 microseconds, paid by every lookup of a key among gone ones.)
  uint64_t Rank(uint64_t key) const;

  Roaring gone_;                  // keys of rows dropped by compactions; run-optimized
  std::vector<uint32_t> sorted_;  // the same keys, ascending
  uint64_t gone_count_;           // gone_.cardinality()
  uint64_t first_after_;          // see first_after()
};

}  // namespace arbalest
