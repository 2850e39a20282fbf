// Row keys: numbers for a dataset's rows that compactions do not change, so that an index over
// the rows (the text index, store/dataset_text.h; the id map, store/id_row_map.h) is not
// rewritten when a compaction renumbers them.
//
// A row's key is the row number it would have had if no compaction had ever dropped a row. A
// RowKeys is one numbering: the gone keys (those of the rows compactions dropped), so that
// row = key - (gone keys below it). A compaction makes a new numbering (Compacted), and an index
// keyed by keys stays valid under both the old numbering (readers of the version before the
// compaction) and the new one. Rows appended after a compaction lie above every gone key:
// key = row + gone count.
//
// The gone keys are kept in chunks, one per span of 2^16 keys, each an immutable sorted array
// of 16-bit offsets that numberings share: a compaction copies only the chunks of the spans it
// drops keys from, plus the list of chunks (a pointer and a count each). So its cost follows
// the rows it drops and the key spans they lie in, not every key dropped since the dataset was
// loaded. A dataset's own numbering (the keys its log records name, store/dataset.h) is saved
// with its snapshots and loaded back (WithGone, GoneKeys); the indexes' numberings start afresh
// at a restart (no key gone).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <roaring/roaring.hh>
#include <vector>

namespace arbalest {

// Immutable once made; copies share the chunks.
class RowKeys {
 public:
  // The numbering of a dataset no compaction dropped a row of: key = row.
  RowKeys() = default;

  // This numbering after a compaction that drops `dropped` (rows of this numbering); the dropped
  // rows' keys, in ascending order, go to `keys` when given. O(|dropped|) steps plus the gone
  // keys between the first and last dropped one, a copy of each chunk that gains keys and one
  // of the chunk list. Nullopt when a key would pass 2^32 - 1: the caller renumbers its index
  // from rows then.
  std::optional<RowKeys> Compacted(const Roaring& dropped,
                                   std::vector<uint32_t>* keys = nullptr) const;

  // This numbering with the keys `retired` taken out of the key space, so that keys are dense
  // again (a dataset's rekey, store/dataset_compaction.h): every other key k becomes k minus
  // the retired keys below it, and gone keys that are not retired stay gone, renumbered alike.
  // With every gone key retired it is the identity (key = row). Nullopt when a retired key is
  // not gone (its row is still there: it would lose its key).
  std::optional<RowKeys> Renumbered(const Roaring& retired) const;

  // The numbering whose gone keys are `gone` (each below 2^32): a saved one (GoneKeys), loaded
  // back from a snapshot.
  static RowKeys WithGone(const Roaring& gone);
  // The gone keys, for a snapshot to save.
  Roaring GoneKeys() const;
  // Whether key `key` is gone (its row was dropped).
  bool Gone(uint64_t key) const { return Rank(key) != (key == 0 ? 0 : Rank(key - 1)); }

  // The key of row `row`, and the row of key `key` (which must not be gone).
  uint64_t KeyOf(uint64_t row) const;
  uint64_t RowOf(uint64_t key) const { return key - Rank(key); }

  // Rows from this one on lie above every gone key (key = row + gone count): appended rows.
  uint64_t first_after() const;
  // How many keys are gone.
  uint64_t gone_count() const {
    return chunks_.empty() ? 0 : chunks_.back().below + chunks_.back().offsets->size();
  }
  // The key the next row of a dataset of `rows` rows takes: every key ever given, gone ones
  // included.
  uint64_t NextKey(int64_t rows) const { return static_cast<uint64_t>(rows) + gone_count(); }
  // Whether key = row for every row (no row was dropped).
  bool identity() const { return chunks_.empty(); }
  // Whether an index numbered by these keys over `rows` rows is better rewritten with key = row
  // (the id map's and the text index's entries, after a compaction): once its gone keys (2 bytes
  // each, kept until then) number at least `min_gone` and at least its rows, so that rewriting
  // costs at most a step per key dropped since the last time.
  static constexpr uint64_t kRenumberGoneKeys = uint64_t{1} << 20;
  bool WorthRenumbering(int64_t rows, uint64_t min_gone = kRenumberGoneKeys) const {
    const uint64_t gone = gone_count();
    return gone > 0 && gone >= min_gone && gone >= static_cast<uint64_t>(rows);
  }
  // The heap bytes of the gone keys: the chunk list and the chunks (shared ones too).
  int64_t bytes() const;
  // How many chunks (spans of 2^16 keys holding a gone key) there are, and how many of them
  // `other` holds too (the same object): for tests.
  size_t chunk_count() const { return chunks_.size(); }
  size_t SharedChunksForTest(const RowKeys& other) const;

 private:
  static constexpr int kSpanBits = 16;
  using Offsets = std::vector<uint16_t>;

  // The gone keys of one span: span << kSpanBits | offset for each offset.
  struct Chunk {
    uint32_t span;
    uint64_t below;                          // gone keys in the chunks before this one
    std::shared_ptr<const Offsets> offsets;  // ascending, never empty
  };

  // The gone keys up to and including `key`: a binary search among the chunks, then in one.
  uint64_t Rank(uint64_t key) const;
  // The chunk list with `keys` (ascending, none gone already) added: chunks without any of
  // them are shared, the others merged into new ones.
  std::vector<Chunk> WithKeys(const std::vector<uint32_t>& keys) const;

  std::vector<Chunk> chunks_;  // by span, ascending
};

}  // namespace arbalest
