// ForEachTask: runs numbered tasks on the calling thread and a few helper threads that claim
// them from an atomic counter. The index's parallel steps (linking rows, PQ training) share it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace arbalest {

// Runs task(i) for every i in [0, n), on the calling thread and up to threads - 1 helpers, at
// most one helper per `tasks_per_thread` tasks (a thread costs tens of microseconds to start).
template <class Task>
void ForEachTask(size_t n, int threads, size_t tasks_per_thread, const Task& task) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) task(i);
  };
  const size_t helpers =
      std::min<size_t>(static_cast<size_t>(std::max(threads, 1)) - 1, n / tasks_per_thread);
  std::vector<std::thread> pool;
  pool.reserve(helpers);
  for (size_t i = 0; i < helpers; ++i) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

}  // namespace arbalest
