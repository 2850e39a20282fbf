// The exact search of the rows not in the graph yet (a dataset's unindexed tail), as a search
// runs it: 100,000 rows of 384 dimensions in 10,000-row Arrow batches (10k-row puts), k = 10.
//   BM_TailScan      store/tail_scan.h: the rows read in place from the batches' buffers.
//   BM_FlatIndexCopy what search.cc did before it (kept here as the baseline): every tail row
//                    decoded to float32 into a vector, added to a temporary FlatIndex (which
//                    encodes it again, normalized for cosine), and the FlatIndex scanned.
// Per metric (L2, cosine: normalized as the index stores rows, dot product) and element type
// (float32, float16, int8). Both run in the same process on the same batches; compare them
// within one run only. Run: build/release/bench/tail_scan_bench [--benchmark_filter=...]
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "index/flat_index.h"
#include "store/dataset_index.h"
#include "store/tail_scan.h"

namespace arbalest {
namespace {

constexpr int kRows = 100000;
constexpr int kBatchRows = 10000;
constexpr int kDim = 384;
constexpr size_t kK = 10;

// The tail's batches: one column, the vectors (random values in [-1, 1), or [-100, 100) as
// integers for int8), stored as `type`.
std::vector<std::shared_ptr<arrow::RecordBatch>> MakeBatches(simd::ElementType type) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const size_t row_bytes = kDim * simd::ElementSize(type);
  const std::shared_ptr<arrow::DataType> value_type =
      type == simd::ElementType::kFloat32   ? arrow::float32()
      : type == simd::ElementType::kFloat16 ? arrow::float16()
                                            : arrow::int8();
  const float scale = type == simd::ElementType::kInt8 ? 100.0f : 1.0f;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::vector<float> row(kDim);
  for (int first = 0; first < kRows; first += kBatchRows) {
    auto buffer = arrow::AllocateBuffer(static_cast<int64_t>(kBatchRows * row_bytes)).ValueOrDie();
    for (int r = 0; r < kBatchRows; ++r) {
      for (float& x : row) x = unit(rng) * scale;
      simd::EncodeRow(type, row.data(), kDim, buffer->mutable_data() + r * row_bytes);
    }
    auto values = arrow::MakeArray(
        arrow::ArrayData::Make(value_type, int64_t{kBatchRows} * kDim,
                               {nullptr, std::shared_ptr<arrow::Buffer>(std::move(buffer))}));
    auto vectors = arrow::FixedSizeListArray::FromArrays(values, kDim).ValueOrDie();
    batches.push_back(arrow::RecordBatch::Make(
        arrow::schema({arrow::field("vector", vectors->type())}), kBatchRows, {vectors}));
  }
  return batches;
}

std::vector<float> Query(simd::ElementType type) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> query(kDim);
  for (float& x : query) x = unit(rng) * (type == simd::ElementType::kInt8 ? 100.0f : 1.0f);
  return query;
}

// One benchmark's case: its metric and element type (the arguments), batches and query.
struct Case {
  explicit Case(const benchmark::State& state)
      : metric(static_cast<Metric>(state.range(0))),
        type(static_cast<simd::ElementType>(state.range(1))),
        batches(MakeBatches(type)),
        query(Query(type)) {}
  Metric metric;
  simd::ElementType type;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::vector<float> query;
};

void SetLabel(benchmark::State& state, Metric metric, simd::ElementType type) {
  state.SetLabel(std::string(MetricName(metric)) + "/" + std::string(simd::ElementTypeName(type)));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TailScan(benchmark::State& state) {
  const Case c(state);
  for (auto _ : state) {
    const DistanceSpace space(c.metric, c.type, kDim);
    auto found = ScanTail({.batches = c.batches, .vector_column = 0}, space, c.query, kK);
    if (!found.ok() || found->size() != kK) state.SkipWithError("scan failed");
    benchmark::DoNotOptimize(found);
  }
  SetLabel(state, c.metric, c.type);
}

// search.cc's SearchUnindexed before the tail scan, without its filter remap (no filter here).
void BM_FlatIndexCopy(benchmark::State& state) {
  const Case c(state);
  for (auto _ : state) {
    FlatIndex flat(kDim, c.metric, c.type);
    std::vector<float> vectors;
    for (const auto& batch : c.batches) {
      vectors.clear();
      AppendVectorsAsFloat(*batch, 0, 0, batch->num_rows(), &vectors);
      for (int64_t row = 0; row < batch->num_rows(); ++row) {
        auto id = flat.Add(std::span<const float>(vectors.data() + row * kDim, kDim));
        if (!id.ok()) state.SkipWithError("add failed");
      }
    }
    std::vector<Neighbor> found;
    if (!flat.Search(c.query, {.k = kK}, &found).ok() || found.size() != kK) {
      state.SkipWithError("search failed");
    }
    benchmark::DoNotOptimize(found);
  }
  SetLabel(state, c.metric, c.type);
}

void Cases(benchmark::internal::Benchmark* bench) {
  using simd::ElementType;
  for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kDotProduct}) {
    bench->Args({static_cast<int64_t>(metric), static_cast<int64_t>(ElementType::kFloat32)});
  }
  bench->Args({static_cast<int64_t>(Metric::kL2), static_cast<int64_t>(ElementType::kFloat16)});
  bench->Args({static_cast<int64_t>(Metric::kCosine), static_cast<int64_t>(ElementType::kFloat16)});
  bench->Args({static_cast<int64_t>(Metric::kL2), static_cast<int64_t>(ElementType::kInt8)});
  bench->ArgNames({"metric", "type"})->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_TailScan)->Apply(Cases);
BENCHMARK(BM_FlatIndexCopy)->Apply(Cases);

}  // namespace
}  // namespace arbalest

int main(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) command += ' ';
    command += argv[i];
  }
  benchmark::AddCustomContext("command", command);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
