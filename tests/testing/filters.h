// Filters and ids for the store's tests, written as the protocol's JSON and parsed as a request's
// are (flight/filter_parser.h), so that the tests read like the requests they stand for. Tests
// that use it link arbalest_flight.
#pragma once

#include <arrow/scalar.h>
#include <arrow/util/logging.h>

#include <memory>
#include <string_view>

#include "common/json_util.h"
#include "flight/filter_parser.h"

namespace arbalest {

// The filter of `json` (null for "null" or "[]"); aborts on a filter the parser refuses.
inline std::shared_ptr<const CachedFilter> TestFilter(std::string_view json) {
  return ParseFilters(Json::parse(json)).ValueOrDie();
}

// The ids of `json`: one id (a number or string) or a JSON array of them.
inline arrow::ScalarVector TestIds(std::string_view json) {
  const Json ids = Json::parse(json);
  return ParseIds(ids, !ids.is_array(), "ids").ValueOrDie();
}

}  // namespace arbalest
