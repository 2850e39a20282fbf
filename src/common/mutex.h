// Mutexes the compiler can check: thin wrappers over std::mutex and std::shared_mutex that
// carry Clang's thread-safety attributes (common/thread_annotations.h), which libstdc++'s own
// types do not. Members they guard are marked GUARDED_BY(mutex_), functions that need them
// REQUIRES(mutex_); every Clang build (`make thread-safety`, and the fuzz build that CI runs)
// compiles with -Wthread-safety -Werror and so refuses code that touches guarded state without
// the lock. Modelled on LevelDB's port::Mutex and port::CondVar.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "common/thread_annotations.h"

namespace arbalest {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mutex_.lock(); }
  void Unlock() RELEASE() { mutex_.unlock(); }
  // Tells the analysis that the caller holds the mutex (checked only by the analysis).
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mutex_;
};

// A reader-writer mutex: many readers, or one writer.
class CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mutex_.lock(); }
  void Unlock() RELEASE() { mutex_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mutex_.unlock_shared(); }

 private:
  friend class SharedCondVar;
  std::shared_mutex mutex_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_->Lock(); }
  ~MutexLock() RELEASE() { mutex_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mutex_;
};

// Holds a SharedMutex exclusively for its scope, or until Unlock.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_->Lock(); }
  ~WriterLock() RELEASE() {
    if (held_) mutex_->Unlock();
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  // Lets go before the end of the scope (the work after it needs no lock).
  void Unlock() RELEASE() {
    mutex_->Unlock();
    held_ = false;
  }

 private:
  SharedMutex* const mutex_;
  bool held_ = true;
};

// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mutex) ACQUIRE_SHARED(mutex) : mutex_(mutex) {
    mutex_->LockShared();
  }
  ~ReaderLock() RELEASE() { mutex_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mutex_;
};

// A condition variable. Every Wait names the Mutex it releases while waiting, so that the
// analysis can check that the caller holds it; all waiters of one CondVar use the same Mutex.
// (SharedCondVar below waits on a SharedMutex held exclusively.)
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mutex` while waiting; holds it again on return. Spurious wake-ups happen: wait
  // in a loop on the condition.
  void Wait(Mutex* mutex) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, returning false once `deadline` passed.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mutex, const std::chrono::time_point<Clock, Duration>& deadline)
      REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// A condition variable whose waiters hold a SharedMutex exclusively (WriterLock).
class SharedCondVar {
 public:
  SharedCondVar() = default;
  SharedCondVar(const SharedCondVar&) = delete;
  SharedCondVar& operator=(const SharedCondVar&) = delete;

  // Releases `mutex` while waiting; holds it exclusively again on return. Spurious wake-ups
  // happen: wait in a loop on the condition.
  void Wait(SharedMutex* mutex) REQUIRES(mutex) {
    std::unique_lock<std::shared_mutex> lock(mutex->mutex_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace arbalest
