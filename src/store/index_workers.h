// Index workers: threads that bring datasets' HNSW graphs up to date with their rows, so that
// puts are acked as soon as they are durable and never wait for indexing. Each dataset is
// indexed by one worker at a time, in row order; different datasets in parallel. The worker
// links a dataset's rows into its graph with the cores no other dataset is using (all of
// them when one dataset is being indexed), so one large ingest still uses every core.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace arbalest {

class Dataset;

// Thread-safe.
class IndexWorkers {
 public:
  // Looks a dataset up by name; null when it is gone.
  using Lookup = std::function<std::shared_ptr<Dataset>(const std::string&)>;

  // Called when the workers run out of work after indexing rows (e.g. to hand back the memory
  // that indexing freed).
  using OnIdle = std::function<void()>;

  // Called after each indexing turn that added rows to a dataset (e.g. to merge the segments
  // it linked).
  using OnTurn = std::function<void(const Dataset&)>;

  // Starts `threads` workers (at least 1). With `share_vectors`, indexed rows share their vectors
  // with the graph (Dataset::ShareIndexedVectors).
  IndexWorkers(int threads, Lookup lookup, bool share_vectors = true, OnIdle on_idle = {},
               OnTurn on_turn = {});
  // Stops the workers; indexing left undone resumes from the rows at the next start.
  ~IndexWorkers();

  // Asks for `dataset` to be brought up to date. Cheap; repeated calls coalesce.
  void Notify(const std::string& dataset);

  // Datasets waiting for or being indexed by a worker.
  size_t queue_depth() const;

 private:
  void Run();

  const Lookup lookup_;
  const OnIdle on_idle_;
  const OnTurn on_turn_;
  const int total_threads_;
  const bool share_vectors_;  // workers; also the threads one dataset may link with at once
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> queue_;  // guarded by mutex_
  std::set<std::string> queued_;   // guarded by mutex_: names in queue_
  std::set<std::string> running_;  // guarded by mutex_: names a worker is indexing
  bool stopping_ = false;          // guarded by mutex_
  bool indexed_since_idle_ =
      false;  // guarded by mutex_: rows indexed since the queue last ran empty
  std::atomic<bool> cancel_{false};  // set when stopping: turns in progress end early
  std::vector<std::thread> threads_;
};

}  // namespace arbalest
