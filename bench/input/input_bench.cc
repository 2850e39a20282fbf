// input_bench: what checking and converting client input costs, on the paths that do it.
//   - put checks (store/value_checks.h) on a 10k-row batch: UTF-8 of a text column, and finite
//     vector elements at 10k x 384 (float32, float16, float64), beside the whole ConformBatch
//     they are part of (which also conforms the columns; the WAL write and the ack come after);
//   - an `in` filter of 1M values (store/value_set.h): the value set built value by value (the
//     old path) and by one cast (the new one), in the same run, then the whole filter parsed
//     (JSON, then the typed filter of flight/filter_parser.h), compiled and applied to a
//     10k-row batch.
// Each figure is the median of --runs runs (the one-by-one value set: one run, it is slow).
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/logging.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "flight/filter_parser.h"
#include "store/dataset_layout.h"
#include "store/filter.h"
#include "store/value_checks.h"
#include "store/value_set.h"

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kRows = 10'000;
constexpr int32_t kDim = 384;

// Median seconds of `runs` calls of `work`.
double MedianSeconds(int runs, const std::function<void()>& work) {
  std::vector<double> seconds;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    work();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::nth_element(seconds.begin(), seconds.begin() + runs / 2, seconds.end());
  return seconds[runs / 2];
}

// Sentences of 8-20 words, a third of the words with non-ASCII letters (the slower UTF-8 path).
std::shared_ptr<arrow::Array> TextColumn(std::mt19937_64& rng) {
  const char* const words[] = {"solar",  "eclipse", "café",     "naïve", "東京",   "straße",
                               "vector", "search",  "ångström", "data",  "Zürich", "index"};
  arrow::StringBuilder texts;
  for (int64_t i = 0; i < kRows; ++i) {
    std::string text;
    const int count = 8 + static_cast<int>(rng() % 13);
    for (int w = 0; w < count; ++w) {
      if (w > 0) text += ' ';
      text += words[rng() % std::size(words)];
    }
    ARROW_CHECK_OK(texts.Append(text));
  }
  return texts.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> Vectors(std::mt19937_64& rng,
                                      const std::shared_ptr<arrow::DataType>& type) {
  std::normal_distribution<float> normal;
  arrow::FloatBuilder values;
  ARROW_CHECK_OK(values.Reserve(kRows * kDim));
  for (int64_t i = 0; i < kRows * kDim; ++i) values.UnsafeAppend(normal(rng));
  auto floats = values.Finish().ValueOrDie();
  auto elements =
      arrow::compute::Cast(*floats, type, arrow::compute::CastOptions::Unsafe()).ValueOrDie();
  return arrow::FixedSizeListArray::FromArrays(elements, kDim).ValueOrDie();
}

std::shared_ptr<arrow::RecordBatch> Batch(std::shared_ptr<arrow::Array> vectors,
                                          std::shared_ptr<arrow::Array> text) {
  arrow::Int64Builder ids;
  for (int64_t i = 0; i < kRows; ++i) ARROW_CHECK_OK(ids.Append(i));
  arrow::FieldVector fields{arrow::field("id", arrow::int64()),
                            arrow::field("vector", vectors->type())};
  arrow::ArrayVector columns{ids.Finish().ValueOrDie(), std::move(vectors)};
  if (text) {
    fields.push_back(arrow::field("text", arrow::utf8()));
    columns.push_back(std::move(text));
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), kRows, columns);
}

// ConformBatch of `batch` into a dataset created from its schema: the put path's checks.
double ConformSeconds(const std::shared_ptr<arrow::RecordBatch>& batch, int runs) {
  const DatasetLayout layout = InspectPutSchema(*batch->schema()).ValueOrDie();
  const auto stored = StoredSchemaFor(*batch->schema()).ValueOrDie();
  return MedianSeconds(
      runs, [&] { ARROW_CHECK_OK(ConformBatch(batch, stored, layout, 0, "b").status()); });
}

void PutChecks(int runs) {
  std::mt19937_64 rng(1);
  const auto text = TextColumn(rng);
  const auto& strings = static_cast<const arrow::StringArray&>(*text);
  const double utf8 =
      MedianSeconds(runs, [&] { ARROW_CHECK_OK(CheckColumnValues(*text, "text")); });
  const auto text_batch = Batch(Vectors(rng, arrow::float32()), text);
  std::printf(
      "utf8 check, %lld rows, %.1f MB of text: %.1f us (%.2f GB/s); ConformBatch of the "
      "batch (+ 384-d float32 vectors): %.1f us\n",
      static_cast<long long>(kRows), strings.total_values_length() / 1e6, utf8 * 1e6,
      strings.total_values_length() / utf8 / 1e9, ConformSeconds(text_batch, runs) * 1e6);
  for (const auto& type : {arrow::float32(), arrow::float16(), arrow::float64()}) {
    const auto vectors = Vectors(rng, type);
    const auto& values = *static_cast<const arrow::FixedSizeListArray&>(*vectors).values();
    std::shared_ptr<arrow::Array> stored =
        values.type_id() == arrow::Type::DOUBLE
            ? arrow::compute::Cast(values, arrow::float32()).ValueOrDie()
            : values.Slice(0);
    const double finite = MedianSeconds(
        runs, [&] { ARROW_CHECK_OK(CheckFiniteVectors(*stored, values, kDim, "vector")); });
    const double bytes = static_cast<double>(stored->length()) * stored->type()->byte_width();
    std::printf(
        "finite check, %lld x %d %s (stored %s, %.1f MB): %.1f us (%.2f GB/s); "
        "ConformBatch: %.1f us\n",
        static_cast<long long>(kRows), kDim, type->ToString().c_str(),
        stored->type()->ToString().c_str(), bytes / 1e6, finite * 1e6, bytes / finite / 1e9,
        ConformSeconds(Batch(vectors, nullptr), runs) * 1e6);
  }
}

void InFilter(int64_t values, int runs) {
  // Parsed from text, as a request arrives: non-negative integers are JSON unsigned numbers,
  // which one by one each take a real cast (uint64 to int64).
  std::string text = R"([{"field": "id", "op": "in", "value": [)";
  for (int64_t i = 0; i < values; ++i) text += (i ? "," : "") + std::to_string(2 * i);
  text += "]}]";
  const Json filters = Json::parse(text);
  const FilterExpr typed = ParseFilterExpr(filters).ValueOrDie();
  const FilterValueList& list = typed.children.at(0).values;
  const auto field = arrow::field("id", arrow::int64());
  InitializeComputeOnce();
  const double one_by_one =
      MedianSeconds(1, [&] { ARROW_CHECK_OK(MakeValueSetOneByOne(list, *field).status()); });
  const double by_cast =
      MedianSeconds(runs, [&] { ARROW_CHECK_OK(MakeValueSet(list, *field).status()); });
  std::printf(
      "'in' value set of %lld int64 values: value by value (before) %.3f s, one cast "
      "(after) %.3f s: %.0fx\n",
      static_cast<long long>(values), one_by_one, by_cast, one_by_one / by_cast);

  Json parsed;
  const double parse = MedianSeconds(runs, [&] { parsed = Json::parse(text); });
  const double parse_typed =
      MedianSeconds(runs, [&] { ARROW_CHECK_OK(ParseFilterExpr(parsed).status()); });
  std::mt19937_64 rng(2);
  const auto batch = Batch(Vectors(rng, arrow::float32()), nullptr);
  arrow::compute::Expression filter;
  const double compile =
      MedianSeconds(runs, [&] { filter = CompileFilter(typed, *batch->schema()).ValueOrDie(); });
  const double apply =
      MedianSeconds(runs, [&] { ARROW_CHECK_OK(ApplyFilter(filter, batch).status()); });
  std::printf(
      "the whole filter: JSON parse %.3f s, typed parse %.3f s, compile (value set + hash set) "
      "%.3f s, apply to %lld rows %.4f s\n",
      parse, parse_typed, compile, static_cast<long long>(kRows), apply);
}

}  // namespace
}  // namespace arbalest

int main(int argc, char** argv) {
  CLI::App app("Costs of checking and converting client input (put checks, 'in' filters)");
  int runs = 21;
  int64_t in_values = 1'000'000;
  app.add_option("--runs", runs, "runs per figure (the median is printed)");
  app.add_option("--in-values", in_values, "values in the 'in' filter");
  CLI11_PARSE(app, argc, argv);
  std::printf("command: %s --runs %d --in-values %lld\n", argv[0], runs,
              static_cast<long long>(in_values));
  arbalest::PutChecks(runs);
  arbalest::InFilter(in_values, std::max(1, runs / 4));
  return 0;
}
