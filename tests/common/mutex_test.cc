#include "common/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace arbalest {
namespace {

struct Counter {
  Mutex mutex;
  CondVar changed;
  int value GUARDED_BY(mutex) = 0;
};

TEST(MutexTest, CondVarWakesAWaiterOnceTheConditionHolds) {
  Counter counter;
  std::thread waiter([&] {
    MutexLock lock(&counter.mutex);
    while (counter.value < 3) counter.changed.Wait(&counter.mutex);
    counter.value = 100;
  });
  for (int i = 0; i < 3; ++i) {
    MutexLock lock(&counter.mutex);
    ++counter.value;
    counter.changed.SignalAll();
  }
  waiter.join();
  MutexLock lock(&counter.mutex);
  EXPECT_EQ(counter.value, 100);
}

TEST(MutexTest, WaitUntilReturnsFalseAtTheDeadline) {
  Counter counter;
  MutexLock lock(&counter.mutex);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  bool woken = true;
  while (woken && counter.value == 0) woken = counter.changed.WaitUntil(&counter.mutex, deadline);
  EXPECT_FALSE(woken);
  EXPECT_GE(std::chrono::steady_clock::now(), deadline);
}

TEST(MutexTest, ReadersShareAndWritersExclude) {
  SharedMutex mutex;
  std::atomic<int> readers_inside{0};
  std::atomic<bool> both_inside{false};
  auto read = [&] {
    ReaderLock lock(&mutex);
    readers_inside.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (readers_inside.load() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    if (readers_inside.load() == 2) both_inside = true;
  };
  std::thread a(read), b(read);
  a.join();
  b.join();
  EXPECT_TRUE(both_inside.load());
  WriterLock lock(&mutex);  // free again
}

struct SharedCounter {
  SharedMutex mutex;
  SharedCondVar changed;
  int value GUARDED_BY(mutex) = 0;
};

TEST(MutexTest, SharedCondVarWakesAWriterOnceTheConditionHolds) {
  SharedCounter counter;
  std::thread waiter([&] {
    WriterLock lock(&counter.mutex);
    while (counter.value < 3) counter.changed.Wait(&counter.mutex);
    counter.value = 100;
  });
  for (int i = 0; i < 3; ++i) {
    WriterLock lock(&counter.mutex);
    ++counter.value;
    counter.changed.SignalAll();
  }
  waiter.join();
  ReaderLock lock(&counter.mutex);
  EXPECT_EQ(counter.value, 100);
}

TEST(MutexTest, WriterLockUnlockLetsOthersInBeforeTheScopeEnds) {
  SharedCounter counter;
  WriterLock lock(&counter.mutex);
  counter.value = 1;
  lock.Unlock();
  std::thread other([&] {
    WriterLock inner(&counter.mutex);  // would wait forever if Unlock had not let go
    counter.value = 2;
  });
  other.join();
  ReaderLock reader(&counter.mutex);
  EXPECT_EQ(counter.value, 2);
}  // `lock` does not unlock again at the end of its scope (that would be undefined)

}  // namespace
}  // namespace arbalest
