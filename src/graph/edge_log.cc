#include "graph/edge_log.h"

namespace arbalest {
namespace {

constexpr int64_t kChunkBytes = EdgeChunk::kCapacity * static_cast<int64_t>(sizeof(Edge));
constexpr int64_t kPredicateOverhead = 64;  // a name's map entry and string, beyond its bytes

}  // namespace

int64_t EdgeLog::BytesFor(int64_t edges) const {
  std::lock_guard lock(mutex_);
  const int64_t free_slots = static_cast<int64_t>(chunks_.size()) * EdgeChunk::kCapacity - count_;
  const int64_t more = std::max<int64_t>(0, edges - free_slots);
  return (more + EdgeChunk::kCapacity - 1) / EdgeChunk::kCapacity * kChunkBytes +
         edges * kPredicateOverhead / 1024;  // new predicate names are few
}

uint32_t EdgeLog::PredicateLocked(std::string_view name, int64_t* grown_bytes) {
  auto it = predicate_ids_.find(std::string(name));
  if (it != predicate_ids_.end()) return it->second;
  auto names = std::make_shared<std::vector<std::string>>(*predicates_);
  const auto id = static_cast<uint32_t>(names->size());
  names->emplace_back(name);
  predicates_ = std::move(names);
  predicate_ids_.emplace(std::string(name), id);
  *grown_bytes += static_cast<int64_t>(name.size()) * 2 + kPredicateOverhead;
  return id;
}

void EdgeLog::PushLocked(const Edge& edge, int64_t* grown_bytes) {
  if (count_ == static_cast<int64_t>(chunks_.size()) * EdgeChunk::kCapacity) {
    chunks_.push_back(std::make_shared<EdgeChunk>());
    *grown_bytes += kChunkBytes;
  }
  chunks_.back()->edges[count_ % EdgeChunk::kCapacity] = edge;
  ++count_;
}

int64_t EdgeLog::Append(const EdgeRows& rows) {
  std::lock_guard lock(mutex_);
  int64_t grown = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const uint32_t predicate = PredicateLocked(rows.predicates[i], &grown);
    PushLocked(Edge{rows.subjects[i], rows.objects[i], rows.weights[i], predicate}, &grown);
  }
  ++version_;
  return grown;
}

int64_t EdgeLog::RemoveNodes(const std::unordered_set<int64_t>& ids, int64_t* freed_bytes) {
  *freed_bytes = 0;
  if (ids.empty()) return 0;
  std::lock_guard lock(mutex_);
  const auto touches = [&](const Edge& edge) {
    return ids.contains(edge.subject) || ids.contains(edge.object);
  };
  EdgeCut old{{chunks_.begin(), chunks_.end()}, count_, predicates_, version_};
  int64_t first = 0;
  while (first < count_ && !touches(old.at(first))) ++first;
  if (first == count_) return 0;
  // Readers of earlier cuts keep the old chunks; the log continues in new ones.
  const int64_t before = BytesLocked();
  chunks_.clear();
  count_ = 0;
  int64_t removed = 0;
  int64_t grown = 0;
  for (int64_t i = 0; i < old.count; ++i) {
    if (touches(old.at(i))) {
      ++removed;
    } else {
      PushLocked(old.at(i), &grown);
    }
  }
  ++version_;
  *freed_bytes = before - BytesLocked();
  return removed;
}

EdgeCut EdgeLog::Cut() const {
  std::lock_guard lock(mutex_);
  return EdgeCut{{chunks_.begin(), chunks_.end()}, count_, predicates_, version_};
}

int64_t EdgeLog::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

int64_t EdgeLog::BytesLocked() const {
  int64_t names = 0;
  for (const auto& name : *predicates_) {
    names += static_cast<int64_t>(name.size()) * 2 + kPredicateOverhead;
  }
  return static_cast<int64_t>(chunks_.size()) * kChunkBytes + names;
}

int64_t EdgeLog::bytes() const {
  std::lock_guard lock(mutex_);
  return BytesLocked();
}

}  // namespace arbalest
