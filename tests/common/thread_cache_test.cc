#include "common/thread_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace arbalest {
namespace {

using std::chrono::milliseconds;

// Polls `done` for up to 10 s (threads exit on their own clock).
template <typename Predicate>
bool Eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

TEST(ThreadCacheTest, SubmitReturnsWhatTheWorkReturns) {
  ThreadCache cache("test-cache");
  EXPECT_EQ(cache.Submit([] { return 41 + 1; }).get(), 42);
  EXPECT_EQ(cache.Submit([] { return std::string("hop"); }).get(), "hop");
}

TEST(ThreadCacheTest, ATaskThatBlocksDelaysNoOther) {
  // A hop waiting for a hung peer must not hold up the next search's hops, as a fixed pool of
  // one thread would.
  ThreadCache cache("test-cache");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto blocked = cache.Submit([released] {
    released.wait();
    return 1;
  });
  for (int i = 0; i < 20; ++i) {
    auto next = cache.Submit([i] { return i; });
    ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready) << i;
    EXPECT_EQ(next.get(), i);
  }
  EXPECT_EQ(blocked.wait_for(milliseconds(0)), std::future_status::timeout);
  release.set_value();
  EXPECT_EQ(blocked.get(), 1);
}

TEST(ThreadCacheTest, TasksOneAfterAnotherReuseOneThread) {
  ThreadCache cache("test-cache");
  for (int i = 0; i < 200; ++i) {
    cache.Submit([] {}).get();
    // The worker counts itself idle just after it ends the task: wait for that, so that the
    // next task finds it.
    ASSERT_TRUE(Eventually([&] { return cache.counts().idle == 1; })) << i;
  }
  const ThreadCache::Counts counts = cache.counts();
  EXPECT_EQ(counts.started, 1);
  EXPECT_EQ(counts.tasks, 200);
  EXPECT_EQ(counts.threads, 1);
}

TEST(ThreadCacheTest, TasksAtOnceRunOnAThreadEachAndAllRun) {
  ThreadCache cache("test-cache");
  constexpr int kTasks = 16;
  std::atomic<int> waiting{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::future<int>> results;
  for (int i = 0; i < kTasks; ++i) {
    results.push_back(cache.Submit([&waiting, released, i] {
      ++waiting;
      released.wait();
      return i * i;
    }));
  }
  // Every task is running at once: none waits for another to end.
  ASSERT_TRUE(Eventually([&] { return waiting.load() == kTasks; }));
  EXPECT_EQ(cache.counts().threads, kTasks);
  release.set_value();
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(results[i].get(), i * i);
  // Idle now, the threads take the next round without new ones.
  ASSERT_TRUE(Eventually([&] { return cache.counts().idle == kTasks; }));
  std::vector<std::future<void>> again;
  for (int i = 0; i < kTasks; ++i) again.push_back(cache.Submit([] {}));
  for (auto& done : again) done.get();
  EXPECT_EQ(cache.counts().started, kTasks);
}

TEST(ThreadCacheTest, IdleThreadsExitAfterTheTimeout) {
  ThreadCache cache("test-cache", milliseconds(50));
  std::vector<std::future<void>> done;
  for (int i = 0; i < 4; ++i) {
    done.push_back(cache.Submit([] { std::this_thread::sleep_for(milliseconds(20)); }));
  }
  for (auto& task : done) task.get();
  EXPECT_TRUE(Eventually([&] { return cache.counts().threads == 0; }));
  // And a task after that starts a thread again.
  EXPECT_EQ(cache.Submit([] { return 7; }).get(), 7);
}

TEST(ThreadCacheTest, TheDestructorWaitsForRunningTasks) {
  std::atomic<bool> ended{false};
  {
    ThreadCache cache("test-cache");
    cache.Run([&ended] {
      std::this_thread::sleep_for(milliseconds(100));
      ended = true;
    });
  }
  EXPECT_TRUE(ended.load());
}

}  // namespace
}  // namespace arbalest
