// Progress of indexing the rows a restart left unindexed, for the log: after a replay of many
// rows the index workers can need minutes before every row is in a graph (searches scan the
// rest exactly meanwhile, so it is slower, not wrong); the log says how far they are and about
// how long is left, then when they have caught up, instead of going quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace arbalest {

class VectorStore;

// Not thread-safe: one thread notes the progress.
class CatchUpProgress {
 public:
  using Clock = std::chrono::steady_clock;

  // `rows_to_index`: the rows acked but not indexed when indexing started; `indexed_at_start`:
  // the rows indexed then (all datasets).
  CatchUpProgress(int64_t rows_to_index, int64_t indexed_at_start,
                  std::chrono::milliseconds interval = std::chrono::seconds(5),
                  Clock::time_point start = Clock::now());

  // The rows indexed now and the rows still waiting, at `now`. Returns the line to log when
  // one is due: a progress line at most once every interval, and once, the line saying that the
  // rows to catch up are indexed (then done()). Rows put after the start count toward neither:
  // under a steady ingest the lag never reaches 0, so catching up means indexing as many rows
  // as there were to catch up, or the lag reaching 0 (compactions make fewer rows to index).
  std::string Note(int64_t indexed, int64_t waiting, Clock::time_point now = Clock::now());

  bool done() const { return done_; }

 private:
  const int64_t rows_to_index_;
  const int64_t indexed_at_start_;
  const std::chrono::milliseconds interval_;
  const Clock::time_point start_;
  Clock::time_point last_line_;
  bool done_;
};

// Logs the catch-up of `store`'s index workers (started before) from a thread of its own: a line
// every 5 s while rows replayed at startup wait for the index, and one when they are indexed.
// Nothing when nothing waits. The thread ends then, or when the returned jthread is destroyed.
std::jthread LogIndexCatchUp(const VectorStore& store);

}  // namespace arbalest
