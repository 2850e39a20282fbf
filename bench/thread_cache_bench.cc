// The cost of a fan-out's threads: S tasks started at once and waited for, as a cluster search
// starts one hop per shard (each task here does nothing, so what is timed is the threads'
// start, hand-off and wake-up). std::async starts a thread per task; ThreadCache
// (common/thread_cache.h) reuses threads a fan-out before left idle.
//
//   build/bench/bench/thread_cache_bench --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <future>
#include <vector>

#include "common/thread_cache.h"

namespace arbalest {
namespace {

void BM_FanOutStdAsync(benchmark::State& state) {
  const int64_t tasks = state.range(0);
  for (auto _ : state) {
    std::vector<std::future<int>> answers;
    for (int64_t i = 0; i < tasks; ++i) {
      answers.push_back(std::async(std::launch::async, [] { return 1; }));
    }
    int sum = 0;
    for (auto& answer : answers) sum += answer.get();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

void BM_FanOutThreadCache(benchmark::State& state) {
  const int64_t tasks = state.range(0);
  ThreadCache cache("bench-cache");
  for (auto _ : state) {
    std::vector<std::future<int>> answers;
    for (int64_t i = 0; i < tasks; ++i) answers.push_back(cache.Submit([] { return 1; }));
    int sum = 0;
    for (auto& answer : answers) sum += answer.get();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * tasks);
  state.counters["threads_started"] = static_cast<double>(cache.counts().started);
}

BENCHMARK(BM_FanOutStdAsync)->Arg(1)->Arg(4)->Arg(16)->UseRealTime();
BENCHMARK(BM_FanOutThreadCache)->Arg(1)->Arg(4)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace arbalest

BENCHMARK_MAIN();
