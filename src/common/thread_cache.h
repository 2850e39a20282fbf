// Threads kept for reuse by work that blocks: each task runs at once on a thread of its own, as
// with a thread per task (std::async), but a thread that finished a task waits `idle_timeout`
// for the next one instead of exiting, so that a steady stream of tasks (a cluster search's
// hops, one per shard per search) reuses threads instead of creating one each (clone, a stack
// mapped and touched, thread-local state: tens of microseconds, and scheduler work).
//
// Unlike a fixed-size pool, a task never queues behind a running one: when no thread is idle a
// new one starts. So a hop that waits seconds for a hung peer delays no other hop, as before;
// the number of threads is bounded by the tasks running at once, as before.
//
// The cache's state outlives it while a worker still returns from it: the destructor waits
// until every task submitted has ended (callers bound their tasks, e.g. by an RPC deadline).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "common/mutex.h"

namespace arbalest {

class ThreadCache {
 public:
  // `name`: the threads' name (at most 15 characters are kept). `idle_timeout`: how long a
  // thread with nothing to do waits for a task before it exits.
  explicit ThreadCache(std::string name,
                       std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
  // Waits for the tasks submitted to end, then lets the idle threads go.
  ~ThreadCache();
  ThreadCache(const ThreadCache&) = delete;
  ThreadCache& operator=(const ThreadCache&) = delete;

  // Runs `task` now, on an idle thread or a new one. A task must not throw.
  void Run(std::function<void()> task);

  // Runs `work` as Run does; the future holds what it returns.
  template <typename Work>
  std::future<std::invoke_result_t<Work>> Submit(Work work) {
    auto task = std::make_shared<std::packaged_task<std::invoke_result_t<Work>()>>(std::move(work));
    auto result = task->get_future();
    Run([task = std::move(task)] { (*task)(); });
    return result;
  }

  struct Counts {
    int64_t threads = 0;  // alive: running a task or idle
    int64_t idle = 0;     // waiting for a task
    int64_t started = 0;  // threads started since the cache was made
    int64_t tasks = 0;    // tasks run since the cache was made
  };
  Counts counts() const;

 private:
  struct State;
  static void Work(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace arbalest
