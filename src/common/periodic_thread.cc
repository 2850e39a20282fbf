#include "common/periodic_thread.h"

#include <utility>

#include "common/thread_name.h"

namespace arbalest {

PeriodicThread::PeriodicThread(std::string name, std::chrono::milliseconds period)
    : name_(std::move(name)), period_(period) {}

PeriodicThread::~PeriodicThread() { Stop(); }

void PeriodicThread::Start(std::function<void()> task) {
  thread_ = std::thread([this, task = std::move(task)] { Loop(task); });
}

void PeriodicThread::Wake() {
  MutexLock lock(&mutex_);
  woken_ = true;
  changed_.SignalAll();
}

void PeriodicThread::Stop() {
  {
    MutexLock lock(&mutex_);
    stopping_ = true;
    changed_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

int64_t PeriodicThread::runs() const {
  MutexLock lock(&mutex_);
  return runs_;
}

void PeriodicThread::Loop(const std::function<void()>& task) {
  SetCurrentThreadName(name_);
  while (true) {
    {
      MutexLock lock(&mutex_);
      const auto deadline = std::chrono::steady_clock::now() + period_;
      while (!stopping_ && !woken_ && changed_.WaitUntil(&mutex_, deadline)) {
      }
      if (stopping_) return;
      woken_ = false;
    }
    task();
    MutexLock lock(&mutex_);
    ++runs_;
    changed_.SignalAll();
  }
}

}  // namespace arbalest
