// The protocol's filters (protocol.md: a JSON list of {"field", "op", "value"} nodes, ANDed,
// with {"logic": "and"|"or"|"not", "filters": [...]} nesting) and ids parsed from JSON into the
// store's typed forms (store/filter_expr.h): operators resolved, values kept as Arrow literals of
// their JSON kind, 'in' lists of like values as one Arrow array. What needs a dataset's schema
// (does the field exist, does a value convert to its type) is checked when the store compiles
// the filter. Every failure is Invalid and names the node, field or value and what was expected.
#pragma once

#include <arrow/result.h>
#include <arrow/scalar.h>

#include <cstddef>
#include <memory>
#include <string_view>

#include "common/json_util.h"
#include "store/cached_filter.h"
#include "store/filter_expr.h"

namespace arbalest {

// The most values the 'in' and 'not in' lists of one request's filters may hold together. A
// million int64 values cost about 0.1 s to parse and compile (docs/benchmarks.md) and 8 MB of
// request; beyond that a client is better served by filtering on a column that groups rows.
inline constexpr size_t kMaxFilterValues = 1'000'000;

// Parses `filters` (an array of filter nodes, ANDed, or a single node object; null or absent:
// no filter). Invalid for a filter that is not an object, an unknown key in a node (named), a
// missing 'field', 'op' or 'value', an unknown operator or logic, a value of the wrong JSON kind
// for its operator ('in' needs an array, 'contains' a string, null only with = and !=, never an
// array or object), a null in an 'in' list, or more than kMaxFilterValues listed values.
arrow::Result<FilterExpr> ParseFilterExpr(const Json& filters);

// ParseFilterExpr as a request carries it: null when there is nothing to filter (no filters, an
// empty list), else the parsed filter with its (empty) cache of compiled forms.
arrow::Result<std::shared_ptr<const CachedFilter>> ParseFilters(const Json& filters);

// A JSON number, string, boolean or null as a FilterLiteral: integers as int64 (uint64 beyond
// int64's range), other numbers as float64. Invalid for an array or object.
arrow::Result<FilterLiteral> ParseLiteral(const Json& value);

// The ids of a request: `ids` is one id (`single`) or a JSON array of them, as literals; ids are
// numbers or strings, converted to the dataset's id type by the store (IdsToArray), which also
// refuses null and booleans naming the dataset's id type. `key` names the key in errors: Invalid
// "'ids' entry 1 ([1]) is not an id: ids are numbers or strings" for an array or object.
arrow::Result<arrow::ScalarVector> ParseIds(const Json& ids, bool single, std::string_view key);

}  // namespace arbalest
