// The ids deleted lately from this node's copies of shards (docs/cluster.md, "Catch-up"), so
// that a catch-up neither copies back a row a delete removed here nor keeps one that a delete
// removed here while the copy ran. A delete reaches every replica of a shard in parallel and
// without the shard's fence: on a syncing replica it may run before the copy reads the row on
// the primary (which deletes it later), or while the copy stores it. The catch-up therefore
// copies no row whose id was deleted here within kRetention, and once its copy is stored
// deletes again, locally, every id deleted here meanwhile. kRetention outlasts any delete's
// hops (each bounded by the search timeout) by far, so a delete whose part here ran earlier
// has ended on the primary too.
#pragma once

#include <chrono>
#include <deque>
#include <map>
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
  // dataset `name` now; forgets those older than kRetention.
  void Note(const std::string& name, const Json& ids);
  // The JSON ids deleted from `name` at or after `since`, oldest first.
  std::vector<Json> Since(const std::string& name, Clock::time_point since) const;

  // The bytes the catch-up compares ids by (shard_catchup.cc's IdKey): a string's bytes, an
  // integer's 8 little-endian bytes; empty for other JSON.
  static std::string KeyOf(const Json& id);

 private:
  struct Deleted {
    Clock::time_point at;
    Json id;
  };
  mutable Mutex mutex_;
  std::map<std::string, std::deque<Deleted>> deleted_ GUARDED_BY(mutex_);
};

}  // namespace arbalest
