// The fixed cost of one parallel step of the index (LinkBatch runs two per 256-row sub-batch):
// 32 near-empty tasks (a row step's 8-row blocks) on a team that keeps its helpers between
// steps (TaskTeam, what LinkBatch uses) vs threads started for each step (ForEachTask, what a
// one-off step uses). Reports time per step, by thread count.
//   build/bench/bench/parallel_tasks_bench
#include <benchmark/benchmark.h>

#include <atomic>

#include "index/parallel_tasks.h"

namespace arbalest {
namespace {

constexpr size_t kTasksPerStep = 32;

void BM_StepOnTeam(benchmark::State& state) {
  TaskTeam team(static_cast<int>(state.range(0)));
  std::atomic<size_t> sum{0};
  for (auto _ : state) team.Run(kTasksPerStep, 1, [&](size_t i) { sum.fetch_add(i); });
  benchmark::DoNotOptimize(sum.load());
}
BENCHMARK(BM_StepOnTeam)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->UseRealTime();

void BM_StepStartingThreads(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  std::atomic<size_t> sum{0};
  for (auto _ : state) ForEachTask(kTasksPerStep, threads, 1, [&](size_t i) { sum.fetch_add(i); });
  benchmark::DoNotOptimize(sum.load());
}
BENCHMARK(BM_StepStartingThreads)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace arbalest

BENCHMARK_MAIN();
