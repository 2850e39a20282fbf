// Reading one replica of every shard, hedged against a slow replica (Dean and Barroso, "The
// Tail at Scale", 2013: hedged requests).
//
// For each shard, the readable replicas in the order to ask them: the first is asked at once;
// the next when the one before has failed, or has not answered within `hedge_after` (then both
// are waited for, and the first answer wins). A shard ends with the first answer (rows, or "no
// rows here": a KeyError from the replica) or when every replica failed; the whole read ends by
// one deadline, `timeout` after the start, shared by every attempt (an attempt's own call gets
// what is left of it). So a replica that hangs costs `hedge_after`, not the timeout, and a
// search never waits longer than its timeout_ms.
//
// Each attempt runs on a thread of its own from `threads` (as many at once as shards in the
// common case, one more per hedge; common/thread_cache.h reuses them across reads), and may
// outlive the race when it loses: `ask` must own what it uses (capture by value), and
// `in_flight` counts the attempts so that their owner can wait for them before it goes away
// (AttemptsInFlight::WaitIdle).
#pragma once

#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "common/thread_cache.h"

namespace arbalest {

// Attempts still running, so that their owner outlives them.
class AttemptsInFlight {
 public:
  void Add() {
    std::lock_guard lock(mutex_);
    ++count_;
  }
  void Done() {
    std::lock_guard lock(mutex_);
    if (--count_ == 0) idle_.notify_all();
  }
  // Returns once no attempt runs. Attempts end by their call's deadline.
  void WaitIdle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  int64_t count_ = 0;
};

// How one shard's read ended.
template <typename Part>
struct ShardRead {
  std::optional<Part> part;  // the winning answer; none: no answer, or "no rows here"
  bool answered = false;     // a replica answered (with rows or without)
  bool hedged = false;       // a second replica was asked while the first had not answered
  // When no replica answered: why each failed ("; "-separated), and the last one asked.
  std::string reasons;
  std::string last_node;
};

// `candidates[s]`: shard s's replicas to ask, in order. `ask(shard, member, call_timeout)`
// asks one. `reason(status, member)`: how a failed attempt is reported. hedge_after 0: a next
// replica is asked only once the one before failed.
template <typename Part>
std::vector<ShardRead<Part>> RaceReplicas(
    const std::vector<std::vector<MemberInfo>>& candidates, std::chrono::milliseconds hedge_after,
    std::chrono::milliseconds timeout,
    std::function<arrow::Result<Part>(int32_t, const MemberInfo&, std::chrono::milliseconds)> ask,
    const std::function<std::string(const arrow::Status&, const MemberInfo&)>& reason,
    AttemptsInFlight& in_flight, ThreadCache& threads) {
  using Clock = std::chrono::steady_clock;
  struct Attempt {
    int32_t shard;
    MemberInfo member;
    std::optional<arrow::Result<Part>> result;  // set by its thread when it ends
    bool seen = false;                          // its end was taken into account
  };
  struct State {
    std::mutex mutex;
    std::condition_variable ended;
    // Reserved up front (one attempt per candidate at most): never reallocated while the
    // attempts' threads write into it.
    std::vector<Attempt> attempts;
  };
  struct Shard {
    size_t asked = 0;    // candidates asked so far
    size_t running = 0;  // attempts not ended
    Clock::time_point next_hedge = Clock::time_point::max();
    bool done = false;
  };
  const size_t shards = candidates.size();
  size_t most_attempts = 0;
  for (const auto& replicas : candidates) most_attempts += replicas.size();
  auto state = std::make_shared<State>();
  state->attempts.reserve(most_attempts);
  auto shared_ask = std::make_shared<decltype(ask)>(std::move(ask));
  const auto deadline = Clock::now() + timeout;
  std::vector<ShardRead<Part>> reads(shards);
  std::vector<Shard> progress(shards);

  std::unique_lock lock(state->mutex);
  auto launch = [&](size_t shard) {  // requires the lock
    Shard& at = progress[shard];
    const MemberInfo& member = candidates[shard][at.asked++];
    const size_t index = state->attempts.size();
    state->attempts.push_back(Attempt{static_cast<int32_t>(shard), member, std::nullopt});
    ++at.running;
    const auto now = Clock::now();
    const auto call_timeout =
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                 std::chrono::milliseconds(1));
    at.next_hedge = hedge_after.count() > 0 ? now + hedge_after : Clock::time_point::max();
    in_flight.Add();
    threads.Run([state, shared_ask, index, shard, member, call_timeout, &in_flight] {
      auto result = (*shared_ask)(static_cast<int32_t>(shard), member, call_timeout);
      {
        std::lock_guard attempt_lock(state->mutex);
        state->attempts[index].result = std::move(result);
      }
      state->ended.notify_all();
      in_flight.Done();
    });
  };
  auto note_failure = [&](size_t shard, const std::string& why, const MemberInfo& member) {
    reads[shard].reasons += (reads[shard].reasons.empty() ? "" : "; ") + why;
    reads[shard].last_node = member.node_id;
  };

  for (size_t shard = 0; shard < shards; ++shard) {
    if (candidates[shard].empty()) {
      progress[shard].done = true;
    } else {
      launch(shard);
    }
  }
  while (true) {
    for (Attempt& attempt : state->attempts) {  // the attempts that ended since last time
      if (attempt.seen || !attempt.result) continue;
      attempt.seen = true;
      Shard& at = progress[attempt.shard];
      --at.running;
      if (at.done) continue;  // a loser
      ShardRead<Part>& read = reads[attempt.shard];
      if (attempt.result->ok() || attempt.result->status().IsKeyError()) {
        read.answered = true;
        if (attempt.result->ok()) read.part = std::move(**attempt.result);
        at.done = true;
      } else {
        note_failure(attempt.shard, reason(attempt.result->status(), attempt.member),
                     attempt.member);
      }
    }
    const auto now = Clock::now();
    auto wake = deadline;
    bool all_done = true;
    for (size_t shard = 0; shard < shards; ++shard) {
      Shard& at = progress[shard];
      if (at.done) continue;
      const bool more = at.asked < candidates[shard].size();
      if (at.running == 0 && !more) {  // every replica failed
        at.done = true;
        continue;
      }
      if (now >= deadline) {
        const MemberInfo& last = candidates[shard][at.asked - 1];
        note_failure(
            shard,
            reason(arrow::flight::MakeFlightError(arrow::flight::FlightStatusCode::TimedOut,
                                                  "the read's deadline passed"),
                   last),
            last);
        at.done = true;
        continue;
      }
      all_done = false;
      if (more && (at.running == 0 || now >= at.next_hedge)) {
        reads[shard].hedged = reads[shard].hedged || at.running > 0;
        launch(shard);
      }
      if (at.asked < candidates[shard].size()) wake = std::min(wake, at.next_hedge);
    }
    if (all_done) break;
    state->ended.wait_until(lock, wake);
  }
  return reads;
}

}  // namespace arbalest
