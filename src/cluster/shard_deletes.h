// The ids deleted lately from this node's copies of shards (docs/cluster.md, "Catch-up"), so
// that a catch-up neither copies back a row a delete removed here nor keeps one that a delete
// removed here while the copy ran. A delete reaches every replica of a shard in parallel and
// without the shard's fence: on a syncing replica it may run before the copy reads the row on
// the primary (which deletes it later), or while the copy stores it. The catch-up therefore
// copies no row whose id was deleted here within kRetention, and once its copy is stored
// deletes again, locally, every id deleted here meanwhile. kRetention outlasts any delete's
// hops (each bounded by the search timeout) by far, so a delete whose part here ran earlier
// has ended on the primary too. A catch-up's unfenced bulk pass may outlast kRetention: it pins
// the ids deleted since it began (Pin), which are then kept until it unpins them.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class ShardDeletes {
 public:
  static constexpr std::chrono::seconds kRetention{120};
  using Clock = std::chrono::steady_clock;

  // Records the ids of a delete (`ids`: one JSON id or an array of them) as deleted from shard
  // dataset `name` now; forgets those older than kRetention, but not those a pin keeps.
  void Note(const std::string& name, const Json& ids);
  // Keeps every id deleted from `name` from kRetention ago on (what Since can still return now)
  // until Unpin with the time returned.
  Clock::time_point Pin(const std::string& name);
  void Unpin(const std::string& name, Clock::time_point since);
  // The JSON ids deleted from `name` at or after `since`, oldest first.
  std::vector<Json> Since(const std::string& name, Clock::time_point since) const;

  // The bytes the catch-up compares ids by (shard_copy.cc's IdKey): a string's bytes, an
  // integer's 8 little-endian bytes; empty for other JSON.
  static std::string KeyOf(const Json& id);

 private:
  struct Deleted {
    Clock::time_point at;
    Json id;
  };
  mutable Mutex mutex_;
  std::map<std::string, std::deque<Deleted>> deleted_ GUARDED_BY(mutex_);
  std::map<std::string, std::multiset<Clock::time_point>> pins_ GUARDED_BY(mutex_);
};

}  // namespace arbalest

namespace arbalest {

// Pins the ids deleted from a shard dataset for its scope (ShardDeletes::Pin); `deletes` may be
// null (nothing pinned).
class DeletesPinned {
 public:
  DeletesPinned(ShardDeletes* deletes, std::string name)
      : deletes_(deletes), name_(std::move(name)) {
    if (deletes_) since_ = deletes_->Pin(name_);
  }
  ~DeletesPinned() {
    if (deletes_) deletes_->Unpin(name_, since_);
  }
  DeletesPinned(const DeletesPinned&) = delete;
  DeletesPinned& operator=(const DeletesPinned&) = delete;

  // From when the ids are kept.
  ShardDeletes::Clock::time_point since() const { return since_; }

 private:
  ShardDeletes* const deletes_;
  const std::string name_;
  ShardDeletes::Clock::time_point since_;
};

}  // namespace arbalest
