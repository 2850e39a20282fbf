// DoGet tickets of protocol.md: a JSON scan request, or a bare dataset name, parsed into the
// store's typed ScanOptions (filters: flight/filter_parser.h) or a ParsedSearch.
#pragma once

#include <arrow/result.h>

#include <string>
#include <string_view>
#include <variant>

#include "flight/search_request.h"
#include "store/scan.h"

namespace arbalest {

struct ScanTicket {
  std::string dataset;
  ScanOptions options;
  FanOutOptions fan_out;  // on a cluster node: local_only, require_all, timeout_ms
  Json keys;              // the ticket as a JSON object (a bare name as {"dataset": name})
};

// Parses a DoGet ticket. JSON object: a scan {"dataset"|"name", "filters", "limit", "columns",
// and the cluster keys "local_only", "require_all", "timeout_ms"}
// or a search {"search": {...}} (see ParseSearch); text that is not JSON: a bare dataset name
// to scan. Invalid for an empty ticket, an unknown key (named), a bad value, or text that is
// neither.
arrow::Result<std::variant<ScanTicket, ParsedSearch>> ParseTicket(std::string_view ticket);

// The ticket that scans all of `dataset` (what FlightInfo endpoints carry).
std::string ScanTicketFor(std::string_view dataset);

}  // namespace arbalest
