// DoGet tickets (flight/ticket.h), served the way FlightService::DoGet serves them but without
// the transport: parsed, then scanned or searched against the fixture store (fuzz_store.h) and
// read to the end. Every input must end in a result or an error Status, never a crash.
#include <arrow/record_batch.h>

#include <cstddef>
#include <cstdint>
#include <variant>

#include "flight/search_request.h"
#include "flight/ticket.h"
#include "fuzz_store.h"
#include "fuzz_util.h"

namespace arbalest::fuzz {
namespace {

arrow::Status Serve(VectorStore& store, std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto ticket, ParseTicket(text));
  if (const auto* search = std::get_if<ParsedSearch>(&ticket)) {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search->dataset));
    return TimedSearch(*dataset, search->queries.front(), nullptr).status();
  }
  const auto& scan = std::get<ScanTicket>(ticket);
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(scan.dataset));
  ARROW_ASSIGN_OR_RAISE(auto reader, ScanSnapshot(dataset->Snapshot(), scan.options));
  return reader->ToTable().status();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto store = arbalest::fuzz::MakeFuzzStore();
  (void)arbalest::fuzz::Serve(*store, arbalest::fuzz::AsText(data, size));
  return 0;
}
