// The typed form of the protocol's filters: what src/flight parses a request's JSON filters into
// (flight/filter_parser.h) and what the store compiles into Arrow compute expressions
// (store/filter.h). A filter is a tree: comparisons of a column with literal values, joined by
// and / or / not. Literals keep the kind the JSON value had (an integer, a non-integral number,
// a string, a boolean, null) as Arrow scalars; they are converted to a column's type only when
// the filter is compiled against a schema, because the same filter meets datasets (and, as
// schemas evolve, batches) whose columns differ. No JSON here: src/store never sees the wire
// format.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/scalar.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace arbalest {

enum class FilterOp { kEq, kNe, kGt, kGe, kLt, kLe, kIn, kNotIn, kContains, kPrefix };

// The operator as the protocol spells it ("=", "in", "not in", "contains", ...).
std::string_view FilterOpName(FilterOp op);

// A filter literal: a NullScalar, a BooleanScalar, an Int64Scalar (an integer that fits int64),
// a UInt64Scalar (a larger one), a DoubleScalar (any other number) or a StringScalar (utf8).
using FilterLiteral = std::shared_ptr<arrow::Scalar>;

// The values of an 'in' or 'not in' list. A list of like values (all int64, all uint64, all
// float64 or all strings, in the sense of FilterLiteral) is one Arrow array of that type, so a
// million values cost one array and, when compiled, one cast; any other list (mixed kinds,
// booleans) holds one literal per value. Never nulls (the parser refuses them).
struct FilterValueList {
  std::shared_ptr<arrow::Array> alike;  // set when the values are alike
  arrow::ScalarVector mixed;            // otherwise

  int64_t size() const;
  // Value `i` (< size()) as a literal.
  arrow::Result<FilterLiteral> At(int64_t i) const;
};

struct FilterExpr {
  enum class Kind { kComparison, kAnd, kOr, kNot };
  // kAnd with no children is true (no filter); kNot is the negation of the AND of its children.
  Kind kind = Kind::kAnd;

  // kComparison: `field` `op` `value` (every operator but in / not in; a null literal only with
  // = and !=, meaning "is null" and "is not null"; a string for contains and prefix) or `field`
  // in / not in `values`.
  std::string field;
  FilterOp op = FilterOp::kEq;
  FilterLiteral value;
  FilterValueList values;

  // kAnd, kOr, kNot.
  std::vector<FilterExpr> children;

  // Whether this is the empty AND (every row passes).
  bool IsTrue() const { return kind == Kind::kAnd && children.empty(); }
};

// A literal as the JSON text a client would have written: null, true, 12, 1.5, 1e+20, "abc".
// Numbers are printed the way the JSON library prints them (shortest round-trip digits, ".0"
// after integral doubles, an exponent of at least two digits), which is also how a number
// compared with a string column becomes a string. Strings are quoted and escaped.
std::string LiteralText(const arrow::Scalar& literal);

// LiteralText cut to at most 80 bytes (then "..."), for error messages.
std::string LiteralForMessage(const arrow::Scalar& literal);

}  // namespace arbalest
