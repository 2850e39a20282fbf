// PeriodicThread (common/periodic_thread.h) on real threads and clocks: the task runs at its
// period and not before, Wake() runs it at once, Stop() ends a long wait at once and waits for a
// task under way, and the thread carries its name.
#include "common/periodic_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `done` for up to 10 s.
template <typename Predicate>
bool Eventually(Predicate done) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

TEST(PeriodicThreadTest, RunsAtItsPeriodAndNotBefore) {
  PeriodicThread thread("test-periodic", milliseconds(100));
  std::atomic<int> runs{0};
  const auto start = Clock::now();
  std::atomic<int64_t> first_ms{-1};
  thread.Start([&] {
    if (runs.fetch_add(1) == 0) {
      first_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
    }
  });
  ASSERT_TRUE(Eventually([&] { return runs.load() >= 3; }));
  const auto elapsed = Clock::now() - start;
  thread.Stop();
  EXPECT_GE(first_ms.load(), 95);  // the first run waits one period
  // Three runs take at least three periods (a task that ran at every wake-up of a busy loop
  // would have run thousands of times).
  EXPECT_GE(elapsed, milliseconds(295));
  EXPECT_LE(runs.load(), 4);
  EXPECT_EQ(thread.runs(), runs.load());
}

TEST(PeriodicThreadTest, WakeRunsTheTaskAtOnce) {
  PeriodicThread thread("test-periodic", std::chrono::hours(1));
  std::atomic<int> runs{0};
  thread.Start([&] { ++runs; });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(runs.load(), 0);
  const auto start = Clock::now();
  thread.Wake();
  ASSERT_TRUE(Eventually([&] { return runs.load() == 1; }));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  thread.Wake();
  ASSERT_TRUE(Eventually([&] { return runs.load() == 2; }));
}

TEST(PeriodicThreadTest, WakeDuringARunRunsItAgainAfter) {
  PeriodicThread thread("test-periodic", std::chrono::hours(1));
  std::atomic<int> runs{0};
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  thread.Start([&] {
    if (runs.fetch_add(1) == 0) {
      entered.set_value();
      released.wait();
    }
  });
  thread.Wake();
  entered.get_future().wait();
  thread.Wake();  // while the first run is under way
  release.set_value();
  ASSERT_TRUE(Eventually([&] { return runs.load() == 2; }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(runs.load(), 2);  // one wake, one run: no run left over
}

TEST(PeriodicThreadTest, StopEndsALongWaitAtOnce) {
  PeriodicThread thread("test-periodic", std::chrono::hours(1));
  std::atomic<int> runs{0};
  thread.Start([&] { ++runs; });
  std::this_thread::sleep_for(milliseconds(20));  // the thread is in its wait
  const auto start = Clock::now();
  thread.Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(runs.load(), 0);
  thread.Stop();  // idempotent
  thread.Wake();  // nothing runs after Stop
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
}

TEST(PeriodicThreadTest, StopWaitsForTheRunUnderWayAndRunsNoMore) {
  PeriodicThread thread("test-periodic", milliseconds(1));
  std::atomic<int> runs{0};
  std::atomic<bool> in_task{false};
  std::promise<void> entered;
  thread.Start([&] {
    in_task = true;
    if (runs.fetch_add(1) == 0) entered.set_value();
    std::this_thread::sleep_for(milliseconds(200));
    in_task = false;
  });
  entered.get_future().wait();
  const auto start = Clock::now();
  thread.Stop();
  EXPECT_GE(Clock::now() - start, milliseconds(100));  // the run was not cut short
  EXPECT_FALSE(in_task.load());
  const int after_stop = runs.load();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), after_stop);
  EXPECT_EQ(after_stop, 1);
}

TEST(PeriodicThreadTest, TheThreadCarriesItsName) {
  PeriodicThread thread("arb-test-name-too-long", milliseconds(1));
  std::promise<std::string> name;
  std::atomic<bool> named{false};
  thread.Start([&] {
    if (named.exchange(true)) return;
    char buffer[32] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof(buffer));
    name.set_value(buffer);
  });
  EXPECT_EQ(name.get_future().get(), "arb-test-name-t");  // 15 characters kept
}

}  // namespace
}  // namespace arbalest
