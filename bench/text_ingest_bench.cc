// Cost of feeding a dataset's text index, which a put pays before its ack (see docs/text.md):
// DatasetText::Add of 10k-row batches whose utf8 column holds short sentences of N words drawn
// from a 5000-word vocabulary, into an index that grows batch by batch as a dataset's does.
// Reports time per batch (CPU time is the cost; wall time also shows contention) and rows/s,
// for the whole of it and for each half (tokenizing, inserting).
#include <arrow/api.h>
#include <arrow/util/logging.h>
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "store/dataset_text.h"

namespace arbalest {
namespace {

constexpr int64_t kBatchRows = 10'000;

std::shared_ptr<arrow::RecordBatch> TextBatch(int words, uint64_t seed) {
  std::mt19937_64 rng(seed);
  arrow::StringBuilder texts;
  for (int64_t i = 0; i < kBatchRows; ++i) {
    std::string text;
    for (int w = 0; w < words; ++w) text += (w ? " word" : "word") + std::to_string(rng() % 5000);
    ARROW_CHECK_OK(texts.Append(text));
  }
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("text", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, kBatchRows,
                                  {arrow::MakeArrayOfNull(arrow::int64(), kBatchRows).ValueOrDie(),
                                   texts.Finish().ValueOrDie()});
}

// Both halves, as Dataset::Publish does when the batch was not tokenized ahead.
void BM_TextIndexBatch(benchmark::State& state) {
  const auto batch = TextBatch(static_cast<int>(state.range(0)), 1);
  auto text = DatasetText::Make(*batch->schema()).ValueOrDie();
  int64_t next_row = 0;
  for (auto _ : state) {
    ARROW_CHECK_OK(text->Add(*batch, next_row));
    next_row += kBatchRows;
  }
  state.SetItemsProcessed(state.iterations() * kBatchRows);
}

// The half a put does while its batch is being logged (no lock).
void BM_TextTokenize(benchmark::State& state) {
  const auto batch = TextBatch(static_cast<int>(state.range(0)), 1);
  auto text = DatasetText::Make(*batch->schema()).ValueOrDie();
  for (auto _ : state) benchmark::DoNotOptimize(text->Tokenize(*batch).ValueOrDie());
  state.SetItemsProcessed(state.iterations() * kBatchRows);
}

// The half left for publication: inserting tokenized rows under the index's write lock.
void BM_TextInsert(benchmark::State& state) {
  const auto batch = TextBatch(static_cast<int>(state.range(0)), 1);
  auto text = DatasetText::Make(*batch->schema()).ValueOrDie();
  int64_t next_row = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tokenized = text->Tokenize(*batch).ValueOrDie();
    state.ResumeTiming();
    ARROW_CHECK_OK(text->Add(std::move(tokenized), next_row));
    next_row += kBatchRows;
  }
  state.SetItemsProcessed(state.iterations() * kBatchRows);
}

#define TEXT_BENCHMARK(name) \
  BENCHMARK(name)->ArgName("words")->Arg(2)->Arg(8)->Arg(32)->Unit(benchmark::kMillisecond)
TEXT_BENCHMARK(BM_TextIndexBatch);
TEXT_BENCHMARK(BM_TextTokenize);
TEXT_BENCHMARK(BM_TextInsert);

}  // namespace
}  // namespace arbalest

BENCHMARK_MAIN();
