#include "cluster/shard_deletes.h"

namespace arbalest {

void ShardDeletes::Note(const std::string& name, const Json& ids) {
  const Clock::time_point now = Clock::now();
  MutexLock lock(&mutex_);
  for (auto it = deleted_.begin(); it != deleted_.end();) {
    auto& entries = it->second;
    const auto pin = pins_.find(it->first);
    const auto kept_from =
        pin == pins_.end() || pin->second.empty() ? Clock::time_point::max() : *pin->second.begin();
    while (!entries.empty() && now - entries.front().at > kRetention &&
           entries.front().at < kept_from) {
      entries.pop_front();
    }
    it = entries.empty() && it->first != name ? deleted_.erase(it) : std::next(it);
  }
  auto& entries = deleted_[name];
  if (ids.is_array()) {
    for (const Json& id : ids) entries.push_back({now, id});
  } else {
    entries.push_back({now, ids});
  }
}

ShardDeletes::Clock::time_point ShardDeletes::Pin(const std::string& name) {
  const Clock::time_point since = Clock::now() - kRetention;
  MutexLock lock(&mutex_);
  pins_[name].insert(since);
  return since;
}

void ShardDeletes::Unpin(const std::string& name, Clock::time_point since) {
  MutexLock lock(&mutex_);
  auto it = pins_.find(name);
  if (it == pins_.end()) return;
  if (auto pin = it->second.find(since); pin != it->second.end()) it->second.erase(pin);
  if (it->second.empty()) pins_.erase(it);
}

std::vector<Json> ShardDeletes::Since(const std::string& name, Clock::time_point since) const {
  std::vector<Json> ids;
  MutexLock lock(&mutex_);
  auto it = deleted_.find(name);
  if (it == deleted_.end()) return ids;
  for (const Deleted& entry : it->second) {
    if (entry.at >= since) ids.push_back(entry.id);
  }
  return ids;
}

std::string ShardDeletes::KeyOf(const Json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (!id.is_number_integer()) return "";
  // Two's complement: an int64 and a uint64 of the same non-negative value share their bytes.
  const uint64_t value =
      id.is_number_unsigned() ? id.get<uint64_t>() : static_cast<uint64_t>(id.get<int64_t>());
  return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
}

}  // namespace arbalest
