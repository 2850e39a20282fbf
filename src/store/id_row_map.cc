#include "store/id_row_map.h"

#include <arrow/status.h>

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "store/dataset_layout.h"

namespace arbalest {
namespace {

// std::string keeps up to 15 characters in place (libstdc++); longer ones take a heap block.
constexpr size_t kInlineChars = 15;

// The heap bytes of a string of `length` characters beyond its node (malloc rounds to 16).
int64_t HeapBytes(size_t length) {
  return length <= kInlineChars ? 0 : static_cast<int64_t>((length + 1 + 15) / 16 * 16);
}

uint64_t IntegerId(const arrow::Array& ids, int64_t i) {
  if (ids.type_id() == arrow::Type::INT64) {
    return static_cast<uint64_t>(static_cast<const arrow::Int64Array&>(ids).Value(i));
  }
  return static_cast<const arrow::UInt64Array&>(ids).Value(i);
}

std::string_view StringId(const arrow::Array& ids, int64_t i) {
  return static_cast<const arrow::StringArray&>(ids).GetView(i);
}

arrow::Status CheckIds(const arrow::Array& ids) {
  switch (ids.type_id()) {
    case arrow::Type::INT64:
    case arrow::Type::UINT64:
    case arrow::Type::STRING:
      break;
    default:
      return arrow::Status::Invalid("unique ids must be int64, uint64 or utf8, got ",
                                    ids.type()->ToString());
  }
  if (ids.null_count() > 0) return arrow::Status::Invalid("unique ids must not be null");
  return arrow::Status::OK();
}

}  // namespace

const uint32_t* IdRowMap::Find(const arrow::Array& ids, int64_t i) const {
  if (ids.type_id() == arrow::Type::STRING) {
    // C++20 has no heterogeneous lookup for unordered_map without a transparent hash.
    auto it = strings_.find(std::string(StringId(ids, i)));
    return it == strings_.end() ? nullptr : &it->second;
  }
  auto it = integers_.find(IntegerId(ids, i));
  return it == integers_.end() ? nullptr : &it->second;
}

arrow::Result<Roaring> IdRowMap::Replaced(const arrow::Array& ids, int64_t first_row) const {
  ARROW_RETURN_NOT_OK(CheckIds(ids));
  Roaring replaced;
  // Ids seen earlier in the batch, with their position: a repeat replaces the earlier one.
  std::unordered_map<uint64_t, int64_t> seen_integers;
  std::unordered_map<std::string_view, int64_t> seen_strings;
  const bool strings = ids.type_id() == arrow::Type::STRING;
  for (int64_t i = 0; i < ids.length(); ++i) {
    int64_t earlier = -1;
    if (strings) {
      auto [it, inserted] = seen_strings.try_emplace(StringId(ids, i), i);
      if (!inserted) earlier = std::exchange(it->second, i);
    } else {
      auto [it, inserted] = seen_integers.try_emplace(IntegerId(ids, i), i);
      if (!inserted) earlier = std::exchange(it->second, i);
    }
    if (earlier >= 0) {
      replaced.add(static_cast<uint32_t>(first_row + earlier));
    } else if (const uint32_t* key = Find(ids, i)) {
      replaced.add(static_cast<uint32_t>(keys_.RowOf(*key)));
    }
  }
  return replaced;
}

arrow::Result<Roaring> IdRowMap::Rows(const arrow::Array& ids) const {
  ARROW_RETURN_NOT_OK(CheckIds(ids));
  Roaring rows;
  for (int64_t i = 0; i < ids.length(); ++i) {
    if (const uint32_t* key = Find(ids, i)) rows.add(static_cast<uint32_t>(keys_.RowOf(*key)));
  }
  return rows;
}

arrow::Result<std::vector<int64_t>> IdRowMap::RowOfEach(const arrow::Array& ids) const {
  ARROW_RETURN_NOT_OK(CheckIds(ids));
  std::vector<int64_t> rows(static_cast<size_t>(ids.length()), -1);
  for (int64_t i = 0; i < ids.length(); ++i) {
    if (const uint32_t* key = Find(ids, i)) {
      rows[static_cast<size_t>(i)] = static_cast<int64_t>(keys_.RowOf(*key));
    }
  }
  return rows;
}

arrow::Status IdRowMap::Assign(const arrow::Array& ids, int64_t first_row,
                               const Roaring& unmapped) {
  ARROW_RETURN_NOT_OK(CheckIds(ids));
  if (ids.length() == 0) return arrow::Status::OK();
  const auto first = static_cast<uint64_t>(first_row);
  if (first < keys_.first_after()) {
    return arrow::Status::Invalid("id map rows ", first, "..", first + ids.length() - 1,
                                  " lie below a row a compaction dropped (", keys_.first_after(),
                                  "); only appended rows can be mapped");
  }
  if (keys_.KeyOf(first + static_cast<uint64_t>(ids.length()) - 1) >
      std::numeric_limits<uint32_t>::max()) {
    Rebase(Roaring());  // keys as rows again
  }
  // Appended rows have consecutive keys.
  const uint64_t first_key = keys_.KeyOf(first);
  const bool strings = ids.type_id() == arrow::Type::STRING;
  const bool skips = !unmapped.isEmpty();
  for (int64_t i = 0; i < ids.length(); ++i) {
    if (skips && unmapped.contains(static_cast<uint32_t>(first + static_cast<uint64_t>(i)))) {
      continue;
    }
    const auto key = static_cast<uint32_t>(first_key + static_cast<uint64_t>(i));
    if (strings) {
      const std::string_view id = StringId(ids, i);
      auto [it, inserted] = strings_.insert_or_assign(std::string(id), key);
      if (inserted) string_heap_bytes_ += HeapBytes(id.size());
    } else {
      integers_.insert_or_assign(IntegerId(ids, i), key);
    }
  }
  return arrow::Status::OK();
}

void IdRowMap::EraseIfAt(const arrow::Array& ids, int64_t i, uint32_t key) {
  if (ids.type_id() == arrow::Type::STRING) {
    auto it = strings_.find(std::string(StringId(ids, i)));
    if (it == strings_.end() || it->second != key) return;
    string_heap_bytes_ -= HeapBytes(it->first.size());
    strings_.erase(it);
    return;
  }
  auto it = integers_.find(IntegerId(ids, i));
  if (it != integers_.end() && it->second == key) integers_.erase(it);
}

arrow::Status IdRowMap::Compacted(const Roaring& dropped,
                                  const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                                  uint64_t renumber_gone_keys) {
  if (dropped.isEmpty()) return arrow::Status::OK();
  std::vector<uint32_t> keys;  // the dropped rows' keys, in row order
  std::optional<RowKeys> compacted = keys_.Compacted(dropped, &keys);
  // The entries left: about one per row that stays (a dropped row's entry goes).
  const uint64_t left = size() - std::min<uint64_t>(size(), dropped.cardinality());
  if (!compacted || compacted->WorthRenumbering(static_cast<int64_t>(left), renumber_gone_keys)) {
    Rebase(dropped);
    return arrow::Status::OK();
  }
  // An entry names the latest row of its id: a dropped row's entry goes unless a later row of
  // the same id took it over.
  auto next = dropped.begin();
  size_t k = 0;
  int64_t first_row = 0;
  for (const auto& batch : batches) {
    if (next == dropped.end()) break;
    const int64_t end = first_row + batch->num_rows();
    if (*next < end) {
      const std::shared_ptr<arrow::Array> ids = batch->GetColumnByName(std::string(kIdColumn));
      if (!ids) return arrow::Status::Invalid("compacted rows carry no '", kIdColumn, "' column");
      ARROW_RETURN_NOT_OK(CheckIds(*ids));
      for (; next != dropped.end() && *next < end; ++next, ++k) {
        EraseIfAt(*ids, *next - first_row, keys[k]);
      }
    }
    first_row = end;
  }
  if (next != dropped.end()) {
    return arrow::Status::Invalid("compaction drops row ", *next, " past the ", first_row,
                                  " rows of the id map's dataset");
  }
  keys_ = std::move(*compacted);
  return arrow::Status::OK();
}

void IdRowMap::Rebase(const Roaring& dropped) {
  const auto renumber = [&](auto& map, auto on_erase) {
    for (auto it = map.begin(); it != map.end();) {
      const auto row = static_cast<uint32_t>(keys_.RowOf(it->second));
      if (dropped.contains(row)) {
        on_erase(it->first);
        it = map.erase(it);
      } else {
        // rank(): the dropped rows up to and including this one (not dropped itself).
        it->second = row - static_cast<uint32_t>(dropped.rank(row));
        ++it;
      }
    }
  };
  renumber(integers_, [](uint64_t) {});
  renumber(strings_, [&](const std::string& id) { string_heap_bytes_ -= HeapBytes(id.size()); });
  keys_ = RowKeys();
}

int64_t IdRowMap::bytes() const {
  // A node holds the next pointer, the entry and (for strings) the cached hash; each entry
  // has about one bucket pointer (load factor 1). Nodes are malloc blocks rounded to 16.
  constexpr int64_t kIntegerNode = 32, kStringNode = 64, kBucket = 8;
  return static_cast<int64_t>(integers_.size()) * (kIntegerNode + kBucket) +
         static_cast<int64_t>(strings_.size()) * (kStringNode + kBucket) + string_heap_bytes_ +
         keys_.bytes();
}

}  // namespace arbalest
