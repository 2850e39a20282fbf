#include "store/index_workers.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/thread_name.h"
#include "store/dataset.h"

namespace arbalest {
namespace {

// Rows a worker indexes before it lets another dataset have its turn.
constexpr int64_t kRowsPerTurn = 8192;

// Index workers (and the linking threads they start, which inherit it) run at a lower CPU
// priority than the threads that receive, log and ack puts: when cores are scarce, acks and
// searches go first and the index catches up in the gaps (searches scan the lag exactly).
constexpr int kIndexingNice = 5;

}  // namespace

IndexWorkers::IndexWorkers(int threads, Lookup lookup, bool share_vectors, OnIdle on_idle,
                           OnTurn on_turn)
    : lookup_(std::move(lookup)),
      on_idle_(std::move(on_idle)),
      on_turn_(std::move(on_turn)),
      total_threads_(std::max(threads, 1)),
      share_vectors_(share_vectors) {
  for (int i = 0; i < total_threads_; ++i) threads_.emplace_back([this] { Run(); });
}

IndexWorkers::~IndexWorkers() {
  cancel_ = true;  // a turn in progress stops within a slice of rows
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void IndexWorkers::Notify(const std::string& dataset) {
  {
    std::lock_guard lock(mutex_);
    if (!queued_.insert(dataset).second) return;
    queue_.push_back(dataset);
  }
  ready_.notify_one();
}

size_t IndexWorkers::queue_depth() const {
  std::lock_guard lock(mutex_);
  return queued_.size() + running_.size();
}

void IndexWorkers::Run() {
  SetCurrentThreadName("arb-index");
  // Per-thread on Linux; failing (e.g. a restricted container) only loses the preference.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kIndexingNice);
  std::unique_lock lock(mutex_);
  while (true) {
    // A dataset that another worker is indexing waits its turn: one writer per graph.
    auto next = std::find_if(queue_.begin(), queue_.end(),
                             [&](const std::string& name) { return !running_.count(name); });
    if (next == queue_.end()) {
      if (stopping_) return;
      if (running_.empty() && indexed_since_idle_) {
        // Every dataset is indexed: e.g. hand back what the indexing turns freed (they return
        // it only every few seconds while puts go on, store/free_memory.h).
        indexed_since_idle_ = false;
        if (on_idle_) {
          lock.unlock();
          on_idle_();
          lock.lock();
        }
        continue;
      }
      ready_.wait(lock);
      continue;
    }
    std::string name = *next;
    queue_.erase(next);
    queued_.erase(name);
    running_.insert(name);
    // The cores are shared among the datasets being indexed now.
    const int threads = std::max(1, total_threads_ / static_cast<int>(running_.size()));
    lock.unlock();
    int64_t added = 0;
    if (auto dataset = lookup_(name)) {
      auto result = dataset->CatchUpIndex(
          kRowsPerTurn, threads, [this] { return cancel_.load(std::memory_order_relaxed); },
          share_vectors_);
      if (result.ok()) {
        added = *result;
        if (added > 0 && on_turn_) on_turn_(*dataset);
      } else {
        spdlog::error("indexing dataset '{}' failed: {}", name, result.status().ToString());
      }
    }
    lock.lock();
    running_.erase(name);
    if (added > 0) indexed_since_idle_ = true;
    // More rows may be waiting: go round again (after the others queued meanwhile).
    if (added > 0 && !stopping_ && queued_.insert(name).second) queue_.push_back(name);
    ready_.notify_all();
  }
}

}  // namespace arbalest
