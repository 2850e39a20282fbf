#include "store/index_catch_up.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "store/dataset.h"
#include "store/vector_store.h"

namespace arbalest {
namespace {

struct IndexFigures {
  int64_t indexed = 0;
  int64_t waiting = 0;
};

IndexFigures Measure(const VectorStore& store) {
  IndexFigures figures;
  for (const auto& dataset : store.List()) {
    const int64_t indexed = dataset->index().indexed_rows();
    figures.indexed += indexed;
    figures.waiting += std::max<int64_t>(0, dataset->num_rows() - indexed);
  }
  return figures;
}

}  // namespace

CatchUpProgress::CatchUpProgress(int64_t rows_to_index, int64_t indexed_at_start,
                                 std::chrono::milliseconds interval, Clock::time_point start)
    : rows_to_index_(rows_to_index),
      indexed_at_start_(indexed_at_start),
      interval_(interval),
      start_(start),
      last_line_(start),
      done_(rows_to_index <= 0) {}

std::string CatchUpProgress::Note(int64_t indexed, int64_t waiting, Clock::time_point now) {
  if (done_) return {};
  const int64_t done_rows = std::clamp<int64_t>(indexed - indexed_at_start_, 0, rows_to_index_);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  if (done_rows >= rows_to_index_ || waiting == 0) {
    done_ = true;
    return fmt::format("index caught up: the {} rows waiting at startup are indexed, in {:.1f} s",
                       rows_to_index_, seconds);
  }
  if (now - last_line_ < interval_) return {};
  last_line_ = now;
  const double rate = seconds > 0 ? static_cast<double>(done_rows) / seconds : 0;
  const int64_t left_rows = rows_to_index_ - done_rows;
  return fmt::format(
      "index catch-up: {} of {} rows indexed ({:.0f}%) in {:.0f} s at {:.0f} rows/s, about {} "
      "left (searches scan the rest exactly meanwhile)",
      done_rows, rows_to_index_,
      100.0 * static_cast<double>(done_rows) / static_cast<double>(rows_to_index_), seconds, rate,
      rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(left_rows) / rate)
               : std::string("an unknown time"));
}

std::jthread LogIndexCatchUp(const VectorStore& store) {
  const IndexFigures start = Measure(store);
  if (start.waiting == 0) return {};
  spdlog::info("index catch-up: {} rows wait for the vector index", start.waiting);
  return std::jthread([&store, start](std::stop_token stop) {
    CatchUpProgress progress(start.waiting, start.indexed);
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!progress.done()) {
      wake.wait_for(lock, stop, std::chrono::milliseconds(500), [] { return false; });
      if (stop.stop_requested()) return;
      const IndexFigures now = Measure(store);
      if (const std::string line = progress.Note(now.indexed, now.waiting); !line.empty()) {
        spdlog::info("{}", line);
      }
    }
  });
}

}  // namespace arbalest
