#include "store/row_keys.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

namespace arbalest {

uint64_t RowKeys::Rank(uint64_t key) const {
  if (chunks_.empty()) return 0;
  const uint64_t span = key >> kSpanBits;
  // The last chunk at or before the key's span.
  auto after = std::upper_bound(chunks_.begin(), chunks_.end(), span,
                                [](uint64_t s, const Chunk& chunk) { return s < chunk.span; });
  if (after == chunks_.begin()) return 0;
  const Chunk& chunk = *std::prev(after);
  const Offsets& offsets = *chunk.offsets;
  if (chunk.span < span) return chunk.below + offsets.size();
  const auto offset = static_cast<uint16_t>(key & ((1u << kSpanBits) - 1));
  return chunk.below +
         static_cast<uint64_t>(std::upper_bound(offsets.begin(), offsets.end(), offset) -
                               offsets.begin());
}

uint64_t RowKeys::first_after() const {
  if (chunks_.empty()) return 0;
  const Chunk& last = chunks_.back();
  const uint64_t maximum = (uint64_t{last.span} << kSpanBits) | last.offsets->back();
  return maximum + 1 - gone_count();
}

uint64_t RowKeys::KeyOf(uint64_t row) const {
  const uint64_t gone = gone_count();
  if (row >= first_after()) return row + gone;
  // The smallest key with row + 1 live keys up to it (live keys up to k: k + 1 - rank(k)).
  uint64_t low = row, high = row + gone;
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

int64_t RowKeys::bytes() const {
  auto total = static_cast<int64_t>(chunks_.capacity() * sizeof(Chunk));
  for (const Chunk& chunk : chunks_) {
    total += static_cast<int64_t>(chunk.offsets->capacity() * sizeof(uint16_t));
  }
  return total;
}

size_t RowKeys::SharedChunksForTest(const RowKeys& other) const {
  size_t shared = 0;
  for (const Chunk& chunk : chunks_) {
    for (const Chunk& theirs : other.chunks_) shared += chunk.offsets == theirs.offsets;
  }
  return shared;
}

std::vector<RowKeys::Chunk> RowKeys::WithKeys(const std::vector<uint32_t>& keys) const {
  std::vector<Chunk> chunks;
  chunks.reserve(chunks_.size() + 1);
  uint64_t below = 0;
  auto push = [&](uint32_t span, std::shared_ptr<const Offsets> offsets) {
    const size_t size = offsets->size();
    chunks.push_back(Chunk{span, below, std::move(offsets)});
    below += size;
  };
  auto old = chunks_.begin();
  auto key = keys.begin();
  while (old != chunks_.end() || key != keys.end()) {
    const uint64_t old_span =
        old != chunks_.end() ? old->span : std::numeric_limits<uint64_t>::max();
    const uint64_t new_span =
        key != keys.end() ? *key >> kSpanBits : std::numeric_limits<uint64_t>::max();
    if (old_span < new_span) {  // no new key in this span: shared
      push(old->span, old->offsets);
      ++old;
      continue;
    }
    // The new keys of this span, merged with its old chunk's when it has one.
    auto end = key;
    while (end != keys.end() && (*end >> kSpanBits) == new_span) ++end;
    Offsets added;
    added.reserve(static_cast<size_t>(end - key));  // exactly: bytes() counts the capacity
    for (; key != end; ++key)
      added.push_back(static_cast<uint16_t>(*key & ((1u << kSpanBits) - 1)));
    auto merged = std::make_shared<Offsets>();
    if (old_span == new_span) {
      merged->reserve(old->offsets->size() + added.size());
      std::merge(old->offsets->begin(), old->offsets->end(), added.begin(), added.end(),
                 std::back_inserter(*merged));
      ++old;
    } else {
      *merged = std::move(added);
    }
    push(static_cast<uint32_t>(new_span), std::move(merged));
  }
  return chunks;
}

RowKeys RowKeys::WithGone(const Roaring& gone) {
  std::vector<uint32_t> keys(gone.cardinality());
  gone.toUint32Array(keys.data());
  RowKeys numbering;
  numbering.chunks_ = numbering.WithKeys(keys);
  return numbering;
}

Roaring RowKeys::GoneKeys() const {
  Roaring gone;
  for (const Chunk& chunk : chunks_) {
    const uint32_t base = chunk.span << kSpanBits;
    for (const uint16_t offset : *chunk.offsets) gone.add(base | offset);
  }
  gone.runOptimize();
  return gone;
}

std::optional<RowKeys> RowKeys::Renumbered(const Roaring& retired) const {
  if (retired.isEmpty()) return *this;
  const Roaring gone = GoneKeys();
  if (!retired.isSubset(gone)) return std::nullopt;
  Roaring kept;  // gone keys that are not retired, renumbered
  for (const uint32_t key : gone - retired) {
    kept.add(key - static_cast<uint32_t>(retired.rank(key)));  // retired keys below it
  }
  return WithGone(kept);
}

std::optional<RowKeys> RowKeys::Compacted(const Roaring& dropped,
                                          std::vector<uint32_t>* keys) const {
  std::vector<uint32_t> own;
  if (keys == nullptr) keys = &own;
  keys->clear();
  if (dropped.isEmpty()) return *this;
  const uint64_t first_key = KeyOf(dropped.minimum());
  if (KeyOf(dropped.maximum()) > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  // One walk over the dropped rows and the gone keys between them: a row's key is the row
  // plus the gone keys below it.
  keys->reserve(dropped.cardinality());
  uint64_t skipped = first_key - dropped.minimum();  // gone keys below the key being placed
  // The next gone key above first_key: chunk `c`, offset index `i`.
  size_t c = static_cast<size_t>(
      std::lower_bound(chunks_.begin(), chunks_.end(), first_key >> kSpanBits,
                       [](const Chunk& chunk, uint64_t s) { return chunk.span < s; }) -
      chunks_.begin());
  size_t i = 0;
  if (c < chunks_.size() && chunks_[c].span == first_key >> kSpanBits) {
    const Offsets& offsets = *chunks_[c].offsets;
    const auto offset = static_cast<uint16_t>(first_key & ((1u << kSpanBits) - 1));
    i = static_cast<size_t>(std::lower_bound(offsets.begin(), offsets.end(), offset) -
                            offsets.begin());
    if (i == offsets.size()) ++c, i = 0;
  }
  for (const uint32_t row : dropped) {
    uint64_t key = row + skipped;
    while (c < chunks_.size()) {
      const Chunk& chunk = chunks_[c];
      const uint64_t gone = (uint64_t{chunk.span} << kSpanBits) | (*chunk.offsets)[i];
      if (gone > key) break;
      ++skipped;
      ++key;
      if (++i == chunk.offsets->size()) ++c, i = 0;
    }
    keys->push_back(static_cast<uint32_t>(key));
  }
  RowKeys compacted;
  compacted.chunks_ = WithKeys(*keys);
  return compacted;
}

}  // namespace arbalest
