// The id map's share of a compaction (store/id_row_map.h): a map of --ids int64 ids, put in
// 10k-row batches and cut into ten segments, loses --deleted of the fifth segment's rows, and
// IdRowMap::Compacted is timed. Built against this tree's id map and against an older one (the
// script id_map_compaction_bench.py does both and alternates them): an id map without row keys
// (no store/row_keys.h) has the one-argument Compacted that renumbers every entry.
//
//   id_map_compaction_bench [--ids 1000000] [--deleted 0.3] [--reps 5]
//
// Then times what a put pays after it: IdRowMap::Replaced over 10k-id batches spread over the
// whole map (rows below, inside and above the dropped ones), per batch.
//
// Prints one JSON line per repetition: {"ids":..., "dropped":..., "seconds":...,
// "lookup_seconds_per_10k":...}.
#include <arrow/api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <roaring/roaring.hh>
#include <vector>

#include "store/id_row_map.h"

namespace {

constexpr int64_t kBatchRows = 10'000;

std::shared_ptr<arrow::RecordBatch> IdBatch(int64_t first, int64_t rows) {
  arrow::Int64Builder builder;
  for (int64_t id = first; id < first + rows; ++id) {
    if (!builder.Append(id).ok()) std::abort();
  }
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::int64(), false)}), rows,
                                  {builder.Finish().ValueOrDie()});
}

double Flag(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atof(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const auto ids = static_cast<int64_t>(Flag(argc, argv, "--ids", 1'000'000));
  const double deleted = Flag(argc, argv, "--deleted", 0.3);
  const int reps = static_cast<int>(Flag(argc, argv, "--reps", 5));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t first = 0; first < ids; first += kBatchRows) {
    batches.push_back(IdBatch(first, std::min(kBatchRows, ids - first)));
  }
  const int64_t segment = ids / 10;
  std::mt19937_64 random(1);
  for (int rep = 0; rep < reps; ++rep) {
    arbalest::IdRowMap map;
    int64_t row = 0;
    for (const auto& batch : batches) {
      if (!map.Assign(*batch->column(0), row).ok()) std::abort();
      row += batch->num_rows();
    }
    Roaring dropped;
    for (int64_t r = 4 * segment; r < 5 * segment; ++r) {
      if (static_cast<double>(random() % 1'000'000) < deleted * 1'000'000) {
        dropped.add(static_cast<uint32_t>(r));
      }
    }
    const auto begin = std::chrono::steady_clock::now();
#if __has_include("store/row_keys.h")
    if (!map.Compacted(dropped, batches).ok()) std::abort();
#else
    map.Compacted(dropped);
#endif
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    // 20 batches of 10k ids, each spread over the whole map.
    constexpr int kLookupBatches = 20;
    std::vector<std::shared_ptr<arrow::Array>> lookups;
    for (int b = 0; b < kLookupBatches; ++b) {
      arrow::Int64Builder builder;
      for (int64_t i = 0; i < kBatchRows; ++i) {
        if (!builder.Append((i * (ids / kBatchRows) + b) % ids).ok()) std::abort();
      }
      lookups.push_back(builder.Finish().ValueOrDie());
    }
    size_t found = 0;
    const auto lookup_begin = std::chrono::steady_clock::now();
    for (const auto& batch : lookups) found += map.Replaced(*batch, ids).ValueOrDie().cardinality();
    const double lookup_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - lookup_begin).count() /
        kLookupBatches;
    if (found == 0) std::abort();
    std::printf(
        "{\"ids\": %lld, \"dropped\": %llu, \"entries_after\": %zu, \"seconds\": %.6f, "
        "\"lookup_seconds_per_10k\": %.6f}\n",
        static_cast<long long>(ids), static_cast<unsigned long long>(dropped.cardinality()),
        map.size(), seconds, lookup_seconds);
    std::fflush(stdout);
  }
  return 0;
}
