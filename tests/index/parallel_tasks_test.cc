#include "index/parallel_tasks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace arbalest {
namespace {

// Each step's tasks run exactly once, with the step's writes visible when Run returns, whether
// the step needs more helpers than the last one, fewer, or none.
TEST(TaskTeamTest, EveryTaskOfEveryStepRunsOnce) {
  TaskTeam team(4);
  for (size_t n : {0u, 1u, 3u, 64u, 7u, 1000u, 0u, 2u, 257u}) {
    std::vector<int> runs(n,
                          0);  // plain ints: Run must order the helpers' writes before it returns
    team.Run(n, /*tasks_per_thread=*/2, [&](size_t i) { ++runs[i]; });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i], 1) << "task " << i << " of " << n;
  }
}

TEST(TaskTeamTest, StepsWithEnoughTasksUseHelperThreads) {
  TaskTeam team(3);
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::atomic<int> started{0};
  // Each task waits (up to a minute) until three have started, so that helpers must take some.
  team.Run(3, 1, [&](size_t) {
    started.fetch_add(1);
    for (int spins = 0; started.load() < 3 && spins < 60000; ++spins) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(started.load(), 3);

  // Too few tasks per thread: the calling thread runs them alone.
  ids.clear();
  team.Run(5, /*tasks_per_thread=*/8, [&](size_t) {
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST(TaskTeamTest, ForEachTaskRunsEveryTaskOnce) {
  std::vector<std::atomic<int>> runs(500);
  ForEachTask(runs.size(), 4, 1, [&](size_t i) { runs[i].fetch_add(1); });
  for (size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << i;
}

}  // namespace
}  // namespace arbalest
