#include "store/id_row_map.h"

#include <arrow/status.h>

#include <string_view>
#include <utility>

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
    } else if (const uint32_t* row = Find(ids, i)) {
      replaced.add(*row);
    }
  }
  return replaced;
}

arrow::Status IdRowMap::Assign(const arrow::Array& ids, int64_t first_row) {
  ARROW_RETURN_NOT_OK(CheckIds(ids));
  const bool strings = ids.type_id() == arrow::Type::STRING;
  for (int64_t i = 0; i < ids.length(); ++i) {
    const auto row = static_cast<uint32_t>(first_row + i);
    if (strings) {
      const std::string_view id = StringId(ids, i);
      auto [it, inserted] = strings_.insert_or_assign(std::string(id), row);
      if (inserted) string_heap_bytes_ += HeapBytes(id.size());
    } else {
      integers_.insert_or_assign(IntegerId(ids, i), row);
    }
  }
  return arrow::Status::OK();
}

void IdRowMap::Compacted(const Roaring& dropped) {
  if (dropped.isEmpty()) return;
  // Still one step per id, but rows below the first dropped one stay and rows above the last
  // move down by all of them: only the rows between need a rank.
  const uint32_t first = dropped.minimum(), last = dropped.maximum();
  const auto count = static_cast<uint32_t>(dropped.cardinality());
  const auto renumber = [&](auto& map, auto on_erase) {
    for (auto it = map.begin(); it != map.end();) {
      if (it->second < first) {
        ++it;
      } else if (it->second > last) {
        it->second -= count;
        ++it;
      } else if (dropped.contains(it->second)) {
        on_erase(it->first);
        it = map.erase(it);
      } else {
        // rank(): the dropped rows up to and including this one (not dropped itself).
        it->second -= static_cast<uint32_t>(dropped.rank(it->second));
        ++it;
      }
    }
  };
  renumber(integers_, [](uint64_t) {});
  renumber(strings_, [&](const std::string& id) { string_heap_bytes_ -= HeapBytes(id.size()); });
}

int64_t IdRowMap::bytes() const {
  // A node holds the next pointer, the entry and (for strings) the cached hash; each entry
  // has about one bucket pointer (load factor 1). Nodes are malloc blocks rounded to 16.
  constexpr int64_t kIntegerNode = 32, kStringNode = 64, kBucket = 8;
  return static_cast<int64_t>(integers_.size()) * (kIntegerNode + kBucket) +
         static_cast<int64_t>(strings_.size()) * (kStringNode + kBucket) + string_heap_bytes_;
}

}  // namespace arbalest
