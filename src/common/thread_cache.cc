#include "common/thread_cache.h"

#include <thread>

#include "common/thread_name.h"

namespace arbalest {

struct ThreadCache::State {
  State(std::string name, std::chrono::milliseconds idle_timeout)
      : name(std::move(name)), idle_timeout(idle_timeout) {}

  const std::string name;
  const std::chrono::milliseconds idle_timeout;
  mutable Mutex mutex;
  CondVar task_ready;  // a task was queued for an idle thread, or the cache is stopping
  CondVar all_ended;   // `unfinished` reached 0
  std::deque<std::function<void()>> pending GUARDED_BY(mutex);
  int64_t unfinished GUARDED_BY(mutex) = 0;  // tasks submitted and not ended
  bool stopping GUARDED_BY(mutex) = false;
  Counts counts GUARDED_BY(mutex);
};

ThreadCache::ThreadCache(std::string name, std::chrono::milliseconds idle_timeout)
    : state_(std::make_shared<State>(std::move(name), idle_timeout)) {}

ThreadCache::~ThreadCache() {
  MutexLock lock(&state_->mutex);
  while (state_->unfinished > 0) state_->all_ended.Wait(&state_->mutex);
  state_->stopping = true;
  state_->task_ready.SignalAll();  // idle threads exit; each holds the state until it has
}

void ThreadCache::Run(std::function<void()> task) {
  MutexLock lock(&state_->mutex);
  ++state_->counts.tasks;
  ++state_->unfinished;
  // Each queued task has an idle thread that will take it; a thread is started for this one
  // unless another idle thread waits.
  const bool idle_thread_free = state_->counts.idle > static_cast<int64_t>(state_->pending.size());
  state_->pending.push_back(std::move(task));
  if (idle_thread_free) {
    state_->task_ready.Signal();
    return;
  }
  ++state_->counts.threads;
  ++state_->counts.started;
  std::thread(Work, state_).detach();
}

void ThreadCache::Work(std::shared_ptr<State> state) {
  SetCurrentThreadName(state->name);
  state->mutex.Lock();
  while (true) {
    if (state->pending.empty()) {
      if (state->stopping) break;
      ++state->counts.idle;
      const bool woken = state->task_ready.WaitUntil(
          &state->mutex, std::chrono::steady_clock::now() + state->idle_timeout);
      --state->counts.idle;
      if (!woken && state->pending.empty()) break;  // idle for idle_timeout: exit
      continue;
    }
    std::function<void()> task = std::move(state->pending.front());
    state->pending.pop_front();
    state->mutex.Unlock();
    task();
    task = nullptr;  // what it captured goes before the task counts as ended
    state->mutex.Lock();
    if (--state->unfinished == 0) state->all_ended.SignalAll();
  }
  --state->counts.threads;
  state->mutex.Unlock();
}

ThreadCache::Counts ThreadCache::counts() const {
  MutexLock lock(&state_->mutex);
  return state_->counts;
}

}  // namespace arbalest
