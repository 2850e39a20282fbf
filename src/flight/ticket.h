// DoGet tickets of protocol.md: a JSON scan request, or a bare dataset name.
#pragma once

#include <arrow/result.h>

#include <string>
#include <string_view>

#include "store/scan.h"

namespace arbalest {

struct ScanTicket {
  std::string dataset;
  ScanOptions options;
};

// Parses a DoGet ticket. JSON object: {"dataset"|"name", "filters", "limit", "columns"}; text
// that is not JSON: a bare dataset name. Invalid for an empty ticket, an unknown key (named), a
// bad value, or text that is neither; NotImplemented for a search ticket.
arrow::Result<ScanTicket> ParseScanTicket(std::string_view ticket);

// The ticket that scans all of `dataset` (what FlightInfo endpoints carry).
std::string ScanTicketFor(std::string_view dataset);

}  // namespace arbalest
