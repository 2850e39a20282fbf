// The compaction thread: compacts datasets whose deleted rows pass a fraction of their stored
// rows, one at a time, off the put and delete paths. Deletes tell it which dataset to look
// at (Notify); it compacts through a callback (VectorStore::Compact), so it knows nothing of
// the log.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "store/dataset.h"

namespace arbalest {

struct CompactionOptions {
  // Compact a dataset once its deleted rows are at least this fraction of its stored rows
  // (--compact-deleted-fraction); 0: only when asked (the `compact` action).
  double deleted_fraction = 0.2;
  // ... and at least this many (--compact-min-rows): small datasets are not worth the work.
  int64_t min_deleted_rows = 1000;
  // Threads that repair the graph of one compaction (or link the rows of one merge).
  int threads = 1;
  // Merge small adjacent segments in the background (--segment-merge; store/segment_merge.h).
  bool merge_segments = true;
  // A compaction renumbers the dataset's row keys once this many are gone and as many as its
  // rows (--compact-rekey-keys; Dataset::Compact); 0: whenever it leaves a key gone.
  uint64_t rekey_gone_keys = Dataset::kRekeyGoneKeys;
};

// Whether `snapshot`'s deleted rows call for a compaction under `options`.
bool ShouldCompact(const DatasetSnapshot& snapshot, const CompactionOptions& options);

// Thread-safe.
class Compactor {
 public:
  // Compacts the dataset named by its first argument, unless the second returns true (the
  // compactor is stopping); errors are the callback's to report.
  using Compact = std::function<void(const std::string&, const std::function<bool()>&)>;

  // Starts the thread.
  explicit Compactor(Compact compact);
  // Stops the thread; a compaction in progress is abandoned before it is logged.
  ~Compactor();
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // Asks for `dataset` to be compacted. Cheap; repeated calls coalesce.
  void Notify(const std::string& dataset);

 private:
  void Run();

  const Compact compact_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // guarded by mutex_
  std::set<std::string> queued_;   // guarded by mutex_: names in queue_
  bool stopping_ = false;          // guarded by mutex_
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace arbalest
