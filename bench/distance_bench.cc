// Distance kernel throughput: one query against 1024 stored rows (the neighbour-list form),
// for each element type and kind, at the dimensions embeddings usually have. Reports ns per
// distance and GB/s of stored rows read. Also the PQ ADC scan (a code of m bytes against a
// query's lookup table) with the scalar kernel in use and the Highway gather alternative, to
// show which is faster on this machine. Run with --benchmark_filter to pick a subset.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "simd/distance.h"
#include "simd/pq_kernels.h"

namespace arbalest::simd {
namespace {

constexpr size_t kRows = 1024;

void BM_ToRows(benchmark::State& state, DistanceKind kind, ElementType type) {
  const size_t dim = static_cast<size_t>(state.range(0));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> query(dim), values(dim);
  for (float& v : query) v = unit(rng);
  const size_t row_bytes = dim * ElementSize(type);
  std::vector<uint8_t> storage(kRows * row_bytes);
  std::vector<const void*> rows(kRows);
  for (size_t r = 0; r < kRows; ++r) {
    for (float& v : values) v = unit(rng) * 100.0f;
    EncodeRow(type, values.data(), dim, storage.data() + r * row_bytes);
    rows[r] = storage.data() + r * row_bytes;
  }
  std::vector<float> out(kRows);
  const KernelSet kernels = GetKernels(kind, type);
  for (auto _ : state) {
    kernels.to_rows(query.data(), rows.data(), kRows, dim, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRows * row_bytes));
  state.counters["ns_per_distance"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
  state.SetLabel(DispatchedTargetName());
}

#define ARBALEST_DISTANCE_BENCH(kind, type)                                          \
  BENCHMARK_CAPTURE(BM_ToRows, kind##_##type, DistanceKind::kind, ElementType::type) \
      ->Arg(128)                                                                     \
      ->Arg(384)                                                                     \
      ->Arg(768)                                                                     \
      ->Arg(1536)

ARBALEST_DISTANCE_BENCH(kL2Squared, kFloat32);
ARBALEST_DISTANCE_BENCH(kL2Squared, kFloat16);
ARBALEST_DISTANCE_BENCH(kL2Squared, kBFloat16);
ARBALEST_DISTANCE_BENCH(kL2Squared, kInt8);
ARBALEST_DISTANCE_BENCH(kL2Squared, kUInt8);
ARBALEST_DISTANCE_BENCH(kNegativeDot, kFloat32);
ARBALEST_DISTANCE_BENCH(kCosine, kFloat32);

// kRows codes of m bytes, visited in a shuffled order (as graph neighbours are).
void BM_PqAdc(benchmark::State& state, bool gather) {
  const size_t m = static_cast<size_t>(state.range(0));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> table(m * kPqCentroids);
  for (float& v : table) v = unit(rng);
  std::vector<uint8_t> storage(kRows * m);
  for (uint8_t& c : storage) c = static_cast<uint8_t>(rng());
  std::vector<const void*> codes(kRows);
  for (size_t r = 0; r < kRows; ++r) codes[r] = storage.data() + r * m;
  std::shuffle(codes.begin(), codes.end(), rng);
  std::vector<float> out(kRows);
  const PqKernels kernels = GetPqKernels(DistanceKind::kL2Squared);
  const AdcFn adc = gather ? kernels.adc_gather : kernels.adc;
  for (auto _ : state) {
    adc(table.data(), codes.data(), kRows, m, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["ns_per_distance"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
  state.SetLabel(DispatchedTargetName());
}

BENCHMARK_CAPTURE(BM_PqAdc, gather, true)->Arg(24)->Arg(48)->Arg(96);
BENCHMARK_CAPTURE(BM_PqAdc, scalar, false)->Arg(24)->Arg(48)->Arg(96);

}  // namespace
}  // namespace arbalest::simd

BENCHMARK_MAIN();
