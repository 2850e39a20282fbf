// WaitUntil: polls a condition that a background thread (a snapshotter, a compactor, an index
// worker) makes true, with a deadline generous enough for a loaded CI machine. Tests assert on
// what it returns rather than on state read after a fixed sleep.
#pragma once

#include <chrono>
#include <thread>

namespace arbalest::testing {

// Returns true as soon as `condition()` is, false if it is still false after `deadline`.
template <class Condition>
bool WaitUntil(const Condition& condition,
               std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace arbalest::testing
