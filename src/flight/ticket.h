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
};

// Parses a DoGet ticket. JSON object: a scan {"dataset"|"name", "filters", "limit", "columns"}
// or a search {"search": {...}} (see ParseSearch); text that is not JSON: a bare dataset name
// to scan. Invalid for an empty ticket, an unknown key (named), a bad value, or text that is
// neither.
arrow::Result<std::variant<ScanTicket, ParsedSearch>> ParseTicket(std::string_view ticket);

// The ticket that scans all of `dataset` (what FlightInfo endpoints carry).
std::string ScanTicketFor(std::string_view dataset);

}  // namespace arbalest
