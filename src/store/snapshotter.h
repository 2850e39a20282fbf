// The snapshot thread: writes dataset snapshots (store/snapshot_io.h) one at a time, when asked
// (the `snapshot` action), every --snapshot-interval, once --snapshot-wal-bytes of log have been
// written since the last round, and at a clean shutdown. After each round it checkpoints: the
// log segments no dataset needs any more are deleted.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "persist/wal_writer.h"
#include "store/snapshot_io.h"

namespace arbalest {

class VectorStore;

struct SnapshotOptions {
  std::string dir;                        // <data dir>/snapshots
  std::chrono::milliseconds interval{0};  // 0: no periodic snapshots
  int64_t wal_bytes = 0;                  // 0: no snapshots triggered by the log's growth
};

// What the snapshot thread has done since the server started, for the metrics endpoint.
struct SnapshotCounters {
  std::atomic<int64_t> written{0};      // dataset snapshots made durable
  std::atomic<int64_t> failed{0};       // dataset snapshots that failed (not abandoned ones)
  std::atomic<int64_t> bytes{0};        // bytes of the snapshots written
  std::atomic<double> seconds{0};       // time spent writing them
  std::atomic<double> last_success{0};  // Unix time of the latest snapshot written; 0: none
  std::atomic<int64_t> checkpoint_failures{0};
};

// Thread-safe.
class Snapshotter {
 public:
  // Starts the thread. `store` and `wal` must outlive the snapshotter.
  Snapshotter(VectorStore& store, WalWriter& wal, SnapshotOptions options);
  // Stops the thread, abandoning a snapshot in progress (its staging directory is removed).
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  using Reports = arrow::Result<std::vector<SnapshotReport>>;

  // Asks the snapshot thread to snapshot the dataset `dataset` (every dataset when nullopt)
  // after the snapshot in progress, and to checkpoint. The future holds what was written; the
  // snapshot is made whether or not anyone waits for it. A dataset unchanged since its last
  // snapshot is not written again; its report is that snapshot's (seconds 0). KeyError at once
  // for an unknown dataset, Cancelled once shutting down; in the future, the first dataset's
  // error, naming it.
  arrow::Result<std::future<Reports>> Enqueue(const std::optional<std::string>& dataset);

  // Enqueue, waiting for the result.
  Reports SnapshotNow(const std::optional<std::string>& dataset);

  // From now on every snapshot, running or asked for, is abandoned at `deadline`, so that a
  // `snapshot` action cannot hold up a shutdown.
  void AbandonAt(std::chrono::steady_clock::time_point deadline);

  // For a clean shutdown: snapshots every dataset that changed since its last snapshot, giving
  // up at `deadline` (what is unfinished then is abandoned; the log still has it), checkpoints
  // and stops the thread.
  void Shutdown(std::chrono::steady_clock::time_point deadline);

  const SnapshotCounters& counters() const { return counters_; }

 private:
  struct Request {
    std::optional<std::string> dataset;
    std::promise<Reports> done;
  };

  void Run();
  // Snapshots `datasets` (only those changed since their last snapshot unless `all`), then
  // checkpoints.
  arrow::Result<std::vector<SnapshotReport>> Round(
      const std::vector<std::shared_ptr<class Dataset>>& datasets, bool all,
      std::chrono::steady_clock::time_point deadline);
  // Deletes snapshot directories no live dataset uses, then the log segments before the first
  // record a live dataset still needs.
  arrow::Status Checkpoint();
  bool Due(std::chrono::steady_clock::time_point now) const;

  VectorStore& store_;
  WalWriter& wal_;
  const SnapshotOptions options_;
  std::atomic<bool> abort_{false};  // abandons the snapshot in progress
  std::atomic<std::chrono::steady_clock::time_point> abandon_at_{
      std::chrono::steady_clock::time_point::max()};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> requests_;                                // guarded by mutex_
  bool stopping_ = false;                                       // guarded by mutex_
  std::optional<std::chrono::steady_clock::time_point> final_;  // guarded by mutex_
  // Touched by the thread only.
  std::chrono::steady_clock::time_point last_round_;
  int64_t wal_bytes_at_last_round_ = 0;
  SnapshotCounters counters_;

  std::thread thread_;
};

}  // namespace arbalest
