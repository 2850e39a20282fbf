#include "store/row_keys.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace arbalest {

RowKeys::RowKeys(Roaring gone)
    : gone_(std::move(gone)),
      sorted_(gone_.cardinality()),
      gone_count_(sorted_.size()),
      first_after_(gone_count_ == 0 ? 0 : gone_.maximum() + 1 - gone_count_) {
  if (!sorted_.empty()) gone_.toUint32Array(sorted_.data());
}

uint64_t RowKeys::Rank(uint64_t key) const {
  if (gone_count_ == 0 || key < sorted_.front()) return 0;
  if (key >= sorted_.back()) return gone_count_;
  return static_cast<uint64_t>(std::upper_bound(sorted_.begin(), sorted_.end(), key) -
                               sorted_.begin());
}

uint64_t RowKeys::KeyOf(uint64_t row) const {
  if (row >= first_after_) return row + gone_count_;
  // The smallest key with row + 1 live keys up to it (live keys up to k: k + 1 - rank(k)).
  uint64_t low = row, high = row + gone_count_;
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (mid + 1 - Rank(mid) >= row + 1) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return low;
}

uint64_t RowKeys::RowOf(uint64_t key) const { return key - Rank(key); }

std::optional<RowKeys> RowKeys::Compacted(const Roaring& dropped,
                                          std::vector<uint32_t>* keys) const {
  std::vector<uint32_t> own;
  if (keys == nullptr) keys = &own;
  keys->clear();
  if (dropped.isEmpty()) return RowKeys(gone_);
  const uint64_t first_key = KeyOf(dropped.minimum());
  if (KeyOf(dropped.maximum()) > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  // One walk over the dropped rows and the gone keys between them: a row's key is the row
  // plus the gone keys below it.
  keys->reserve(dropped.cardinality());
  uint64_t skipped = first_key - dropped.minimum();  // gone keys below the key being placed
  auto next_gone = gone_.begin();
  next_gone.equalorlarger(static_cast<uint32_t>(first_key));
  for (const uint32_t row : dropped) {
    uint64_t key = row + skipped;
    for (; next_gone != gone_.end() && *next_gone <= key; ++next_gone) {
      ++skipped;
      ++key;
    }
    keys->push_back(static_cast<uint32_t>(key));
  }
  Roaring gone = gone_;
  gone.addMany(keys->size(), keys->data());
  gone.runOptimize();
  return RowKeys(std::move(gone));
}

}  // namespace arbalest
