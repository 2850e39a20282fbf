// TaskTeam and ForEachTask: numbered tasks run on the calling thread and a few helper threads
// that claim them from an atomic counter. The index's parallel steps (linking rows, PQ training)
// share them.
//
// A team keeps its helpers between steps: LinkBatch runs two short parallel steps per 256-row
// sub-batch, and starting threads for each step would cost a thread start per helper and step
// (tens of microseconds each, serially on the calling thread); a waiting helper is woken instead.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace arbalest {

class TaskTeam {
 public:
  // A team of the calling thread and up to threads - 1 helpers, started by the first step that
  // has work for them.
  explicit TaskTeam(int threads) : max_helpers_(static_cast<size_t>(std::max(threads, 1)) - 1) {}
  ~TaskTeam();
  TaskTeam(const TaskTeam&) = delete;
  TaskTeam& operator=(const TaskTeam&) = delete;

  // Runs task(i) for every i in [0, n) and returns once all have run. Helpers join the step
  // only if it has at least `tasks_per_thread` tasks per thread (more threads than that would
  // mostly wait). Not reentrant: one step at a time, from the thread that owns the team.
  template <class Task>
  void Run(size_t n, size_t tasks_per_thread, const Task& task);

 private:
  using Call = void (*)(const void* task, size_t i);

  void RunStep(size_t n, size_t helpers, Call call, const void* task);
  void HelperLoop(size_t index);
  void Work();

  const size_t max_helpers_;
  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;  // helpers: a new step, or stop
  std::condition_variable done_;  // the caller: the step's helpers are done
  uint64_t step_ = 0;             // the current step's number; guarded by mutex_
  size_t step_helpers_ = 0;       // helpers that join the current step; guarded by mutex_
  size_t busy_ = 0;               // helpers still in the current step; guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  // The current step; written before it is announced under mutex_.
  Call call_ = nullptr;
  const void* task_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
};

// One step on a team made for it: task(i) for every i in [0, n) on the calling thread and up to
// threads - 1 helpers, at most one helper per `tasks_per_thread` tasks.
template <class Task>
void ForEachTask(size_t n, int threads, size_t tasks_per_thread, const Task& task) {
  TaskTeam team(threads);
  team.Run(n, tasks_per_thread, task);
}

// Implementation.

template <class Task>
void TaskTeam::Run(size_t n, size_t tasks_per_thread, const Task& task) {
  const size_t helpers = std::min(max_helpers_, n / std::max<size_t>(tasks_per_thread, 1));
  RunStep(
      n, helpers, [](const void* t, size_t i) { (*static_cast<const Task*>(t))(i); }, &task);
}

inline TaskTeam::~TaskTeam() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& helper : helpers_) helper.join();
}

inline void TaskTeam::RunStep(size_t n, size_t helpers, Call call, const void* task) {
  if (helpers == 0) {
    for (size_t i = 0; i < n; ++i) call(task, i);
    return;
  }
  call_ = call;
  task_ = task;
  n_ = n;
  next_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    while (helpers_.size() < helpers) {
      const size_t index = helpers_.size();
      helpers_.emplace_back([this, index] { HelperLoop(index); });
    }
    ++step_;
    step_helpers_ = helpers;
    busy_ = helpers;
  }
  wake_.notify_all();
  Work();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return busy_ == 0; });
}

inline void TaskTeam::HelperLoop(size_t index) {
  uint64_t seen = 0;  // a helper started for step s still joins step s
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || step_ != seen; });
    if (stopping_) return;
    seen = step_;
    if (index >= step_helpers_) continue;  // not needed in this step
    lock.unlock();
    Work();
    lock.lock();
    if (--busy_ == 0) done_.notify_one();
  }
}

inline void TaskTeam::Work() {
  for (size_t i = next_.fetch_add(1); i < n_; i = next_.fetch_add(1)) call_(task_, i);
}

}  // namespace arbalest
