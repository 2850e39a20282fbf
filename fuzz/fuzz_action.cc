// DoAction requests (flight/actions.h) run against the fixture store (fuzz_store.h): the
// actions that change it (delete, compact, delete-dataset) against a fresh one, so that one
// input does not change what the next one sees. An input is the action type, a newline, and
// the body: "VectorSearch\n{...}". Every input must end in results or an error Status, never
// a crash. The store has no WAL, so the snapshot actions answer NotImplemented.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "flight/actions.h"
#include "fuzz_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = arbalest::fuzz::AsText(data, size);
  const size_t newline = input.find('\n');
  const std::string_view type = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  // check_readiness waits (up to its "wait") for every row to be indexed: it gets a store where
  // they are, or it would sleep instead of returning.
  static const auto shared = arbalest::fuzz::MakeFuzzStore();
  static const auto indexed = arbalest::fuzz::MakeFuzzStore(/*fully_indexed=*/true);
  if (type == "delete" || type == "compact" || type == "delete-dataset") {
    (void)arbalest::RunAction(*arbalest::fuzz::MakeFuzzStore(), type, body, nullptr);
  } else {
    (void)arbalest::RunAction(type == "check_readiness" ? *indexed : *shared, type, body, nullptr);
  }
  return 0;
}
