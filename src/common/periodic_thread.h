// A background thread that runs one task at a period: it waits `period`, runs the task, waits
// again, until stopped. Wake() runs the task at once instead of at the end of the wait (a wake
// that comes while the task runs makes it run again right after). Stop() ends the wait at once
// and joins the thread once the task under way (if any) has returned; a task is never cut short,
// so tasks bound their own work (an RPC deadline, a timeout). The thread carries `name` (at
// most 15 characters are kept: common/thread_name.h).
//
// The owner starts it once the state its task uses is built, and stops it before that state
// goes: Start() at the end of the owner's constructor, Stop() first in its destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class PeriodicThread {
 public:
  PeriodicThread(std::string name, std::chrono::milliseconds period);
  ~PeriodicThread();  // Stop()
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts the thread, which runs `task` every period until Stop(). Once only; a task must not
  // throw.
  void Start(std::function<void()> task);
  // Runs the task now (or right after the run under way) instead of at the end of the wait.
  void Wake();
  // Ends the wait, waits for the task under way to return and joins the thread. Idempotent;
  // the task does not run again after it returns. Not to be called from the task.
  void Stop();

  // How many times the task has returned (for tests and status).
  int64_t runs() const;

 private:
  void Loop(const std::function<void()>& task);

  const std::string name_;
  const std::chrono::milliseconds period_;
  mutable Mutex mutex_;
  CondVar changed_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  bool woken_ GUARDED_BY(mutex_) = false;
  int64_t runs_ GUARDED_BY(mutex_) = 0;
  std::thread thread_;
};

}  // namespace arbalest
