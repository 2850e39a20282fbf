// Driver of bench/compact/row_keys_bench.py: the cost of one RowKeys::Compacted (the new
// numbering a compaction makes for the text index and the id map) as compactions accumulate
// gone keys. A dataset of --rows rows; each compaction drops 30% of a random window of --window
// rows (one segment's deleted rows), and as many rows are appended, so the dataset keeps its
// size while the gone keys grow. Prints a JSON line at each checkpoint: the compactions so far,
// the gone keys, the median seconds of the last --every compactions, the gone keys' bytes, and
// the seconds per 10k RowOf lookups of random live keys.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "store/row_keys.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t rows = 1000000;
  int compactions = 400, every = 50;
  uint64_t window = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) rows = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--compactions")) compactions = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--every")) every = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--window")) window = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::mt19937_64 random(42);
  arbalest::RowKeys keys;
  uint64_t gone = 0;
  std::vector<double> times;
  for (int c = 1; c <= compactions; ++c) {
    const uint64_t first = random() % (rows - window);
    Roaring dropped;
    for (uint64_t row = first; row < first + window; ++row) {
      if (random() % 10 < 3) dropped.add(static_cast<uint32_t>(row));
    }
    const auto start = std::chrono::steady_clock::now();
    std::optional<arbalest::RowKeys> next = keys.Compacted(dropped);
    times.push_back(Seconds(start));
    if (!next) {
      std::fprintf(stderr, "keys passed 32 bits\n");
      return 1;
    }
    keys = std::move(*next);
    gone += dropped.cardinality();  // as many rows appended: the dataset keeps `rows` rows
    if (c % every != 0) continue;
    std::vector<double> last(times.end() - every, times.end());
    std::nth_element(last.begin(), last.begin() + every / 2, last.end());
    std::vector<uint64_t> probes(10000);
    for (auto& key : probes) key = keys.KeyOf(random() % rows);
    uint64_t sum = 0;
    const auto lookups = std::chrono::steady_clock::now();
    for (const uint64_t key : probes) sum += keys.RowOf(key);
    const double lookup_seconds = Seconds(lookups);
    std::printf(
        "{\"compactions\": %d, \"gone_keys\": %llu, \"median_compacted_seconds\": %.6f, "
        "\"gone_key_bytes\": %lld, \"rowof_seconds_per_10k\": %.6f, \"checksum\": %llu}\n",
        c, static_cast<unsigned long long>(gone), last[every / 2],
        static_cast<long long>(keys.bytes()), lookup_seconds,
        static_cast<unsigned long long>(sum % 1000));
    std::fflush(stdout);
  }
  return 0;
}
