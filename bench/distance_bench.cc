// Distance kernel throughput: one query against 1024 stored rows (the neighbour-list form),
// for each element type and kind, at the dimensions embeddings usually have, and 64 queries
// against the same rows with the tiled matrix kernel vs one call per query. Reports ns per
// distance and GB/s of stored rows read; BM_MemoryBandwidth (a sequential read of 256 MiB)
// is the bound that BM_ToRowsFromMemory (rows read at random from 256 MiB, as a graph walk
// reads them) compares with. Also the PQ ADC scan (a code of m bytes against a
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

// kRows stored rows of `type` with values in [-100, 100), and pointers to them.
struct StoredRows {
  std::vector<uint8_t> storage;
  std::vector<const void*> rows;
  size_t row_bytes;
};
StoredRows MakeRows(ElementType type, size_t dim, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  StoredRows out{{}, std::vector<const void*>(kRows), dim * ElementSize(type)};
  out.storage.resize(kRows * out.row_bytes);
  std::vector<float> values(dim);
  for (size_t r = 0; r < kRows; ++r) {
    for (float& v : values) v = unit(rng) * 100.0f;
    EncodeRow(type, values.data(), dim, out.storage.data() + r * out.row_bytes);
    out.rows[r] = out.storage.data() + r * out.row_bytes;
  }
  return out;
}

void SetCounters(benchmark::State& state, double distances, double bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(static_cast<double>(state.iterations()) * bytes));
  state.counters["ns_per_distance"] = benchmark::Counter(
      distances, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetLabel(DispatchedTargetName());
}

void BM_ToRows(benchmark::State& state, DistanceKind kind, ElementType type) {
  const size_t dim = static_cast<size_t>(state.range(0));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> query(dim);
  for (float& v : query) v = unit(rng);
  const StoredRows stored = MakeRows(type, dim, rng);
  std::vector<float> out(kRows);
  const KernelSet kernels = GetKernels(kind, type);
  for (auto _ : state) {
    kernels.to_rows(query.data(), stored.rows.data(), kRows, dim, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, kRows, static_cast<double>(kRows * stored.row_bytes));
}

// The memory-bandwidth bound: a sequential read of a buffer far larger than the caches
// (GB/s = bytes_per_second). Kernels reading rows from memory cannot beat it.
constexpr size_t kColdBytes = size_t{256} << 20;
void BM_MemoryBandwidth(benchmark::State& state) {
  std::vector<uint64_t> buffer(kColdBytes / sizeof(uint64_t), 1);
  for (auto _ : state) {
    uint64_t sum = 0;
    for (uint64_t v : buffer) sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kColdBytes));
}
BENCHMARK(BM_MemoryBandwidth)->Unit(benchmark::kMillisecond);

// One query against rows spread over 256 MiB, visited in a shuffled order as graph neighbours
// are: what a search or an insert reads, to compare with BM_MemoryBandwidth.
void BM_ToRowsFromMemory(benchmark::State& state, ElementType type) {
  const size_t dim = static_cast<size_t>(state.range(0));
  const size_t row_bytes = dim * ElementSize(type);
  const size_t stored = kColdBytes / row_bytes;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<uint8_t> storage(stored * row_bytes);
  std::vector<float> values(dim);
  for (float& v : values) v = unit(rng);
  for (size_t r = 0; r < stored; ++r) {
    EncodeRow(type, values.data(), dim, storage.data() + r * row_bytes);
  }
  std::vector<const void*> rows(stored);
  for (size_t r = 0; r < stored; ++r) rows[r] = storage.data() + r * row_bytes;
  std::shuffle(rows.begin(), rows.end(), rng);
  std::vector<float> out(kRows);
  const KernelSet kernels = GetKernels(DistanceKind::kL2Squared, type);
  size_t next = 0;
  for (auto _ : state) {
    kernels.to_rows(values.data(), rows.data() + next, kRows, dim, out.data());
    benchmark::DoNotOptimize(out.data());
    next = next + 2 * kRows <= stored ? next + kRows : 0;
  }
  SetCounters(state, kRows, static_cast<double>(kRows * row_bytes));
}
BENCHMARK_CAPTURE(BM_ToRowsFromMemory, kFloat32, ElementType::kFloat32)->Arg(384)->Arg(1536);
BENCHMARK_CAPTURE(BM_ToRowsFromMemory, kFloat16, ElementType::kFloat16)->Arg(384)->Arg(1536);

// kMatrixQueries queries against kRows rows (a batch of rows against each other, as bulk
// insertion compares them): the tiled matrix kernel (`tiled`) or one to_rows call per query.
// GB/s counts the rows' bytes once per query, as the distances need them.
constexpr size_t kMatrixQueries = 64;
void BM_Matrix(benchmark::State& state, ElementType type, bool tiled) {
  const size_t dim = static_cast<size_t>(state.range(0));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> queries(kMatrixQueries * dim);
  for (float& v : queries) v = unit(rng) * 100.0f;
  const StoredRows stored = MakeRows(type, dim, rng);
  std::vector<float> out(kMatrixQueries * kRows);
  const KernelSet kernels = GetKernels(DistanceKind::kL2Squared, type);
  for (auto _ : state) {
    if (tiled) {
      kernels.matrix(queries.data(), kMatrixQueries, stored.rows.data(), kRows, dim, out.data());
    } else {
      for (size_t q = 0; q < kMatrixQueries; ++q) {
        kernels.to_rows(queries.data() + q * dim, stored.rows.data(), kRows, dim,
                        out.data() + q * kRows);
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, kMatrixQueries * kRows,
              static_cast<double>(kMatrixQueries * kRows * stored.row_bytes));
}

BENCHMARK_CAPTURE(BM_Matrix, tiled_kFloat32, ElementType::kFloat32, true)->Arg(128)->Arg(384);
BENCHMARK_CAPTURE(BM_Matrix, to_rows_kFloat32, ElementType::kFloat32, false)->Arg(128)->Arg(384);
BENCHMARK_CAPTURE(BM_Matrix, tiled_kFloat16, ElementType::kFloat16, true)->Arg(128)->Arg(384);
BENCHMARK_CAPTURE(BM_Matrix, to_rows_kFloat16, ElementType::kFloat16, false)->Arg(128)->Arg(384);
BENCHMARK_CAPTURE(BM_Matrix, tiled_kInt8, ElementType::kInt8, true)->Arg(128)->Arg(384);
BENCHMARK_CAPTURE(BM_Matrix, to_rows_kInt8, ElementType::kInt8, false)->Arg(128)->Arg(384);

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
