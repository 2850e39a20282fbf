#include "flight/filter_parser.h"

#include <arrow/builder.h>
#include <arrow/status.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>

namespace arbalest {
namespace {

arrow::Result<FilterOp> ParseOp(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (text == "=" || text == "==" || text == "eq") return FilterOp::kEq;
  if (text == "!=" || text == "<>" || text == "neq" || text == "ne") return FilterOp::kNe;
  if (text == ">" || text == "gt") return FilterOp::kGt;
  if (text == ">=" || text == "ge" || text == "gte") return FilterOp::kGe;
  if (text == "<" || text == "lt") return FilterOp::kLt;
  if (text == "<=" || text == "le" || text == "lte") return FilterOp::kLe;
  if (text == "in") return FilterOp::kIn;
  if (text == "not in" || text == "not_in" || text == "nin") return FilterOp::kNotIn;
  if (text == "contains") return FilterOp::kContains;
  if (text == "prefix" || text == "starts_with") return FilterOp::kPrefix;
  return arrow::Status::Invalid("filter: unknown operator '", text,
                                "' (use =, !=, >, >=, <, <=, in, not in, contains, prefix)");
}

// The kind all values of a JSON list share: the Arrow type of the array that holds them, or
// NA when they are not alike (mixed, booleans, or negative integers beside ones beyond int64).
arrow::Type::type KindOf(const Json& values) {
  bool integers = false, floats = false, strings = false, negative = false, beyond_int64 = false;
  for (const auto& value : values) {
    if (value.is_number_unsigned()) {
      integers = true;
      beyond_int64 |= value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    } else if (value.is_number_integer()) {
      integers = true;
      negative = true;
    } else if (value.is_number_float()) {
      floats = true;
    } else if (value.is_string()) {
      strings = true;
    } else {
      return arrow::Type::NA;  // null, boolean, array or object
    }
  }
  if (integers + floats + strings != 1 || (negative && beyond_int64)) return arrow::Type::NA;
  if (integers) return beyond_int64 ? arrow::Type::UINT64 : arrow::Type::INT64;
  return floats ? arrow::Type::DOUBLE : arrow::Type::STRING;
}

template <class Builder, class Value>
arrow::Result<std::shared_ptr<arrow::Array>> BuildNumbers(const Json& values) {
  Builder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
  for (const auto& value : values) builder.UnsafeAppend(value.template get<Value>());
  return builder.Finish();
}

arrow::Result<std::shared_ptr<arrow::Array>> BuildStrings(const Json& values) {
  arrow::StringBuilder builder;
  int64_t bytes = 0;
  for (const auto& value : values) bytes += value.get_ref<const std::string&>().size();
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
  ARROW_RETURN_NOT_OK(builder.ReserveData(bytes));
  for (const auto& value : values) builder.UnsafeAppend(value.get_ref<const std::string&>());
  return builder.Finish();
}

arrow::Result<FilterValueList> ParseValueList(const Json& values, const std::string& field,
                                              FilterOp op) {
  if (!values.is_array()) {
    return arrow::Status::Invalid("filter on '", field, "': '", FilterOpName(op),
                                  "' needs a JSON array value, got ", JsonForMessage(values));
  }
  FilterValueList list;
  const arrow::Type::type kind = KindOf(values);
  if (kind == arrow::Type::INT64) {
    ARROW_ASSIGN_OR_RAISE(list.alike, (BuildNumbers<arrow::Int64Builder, int64_t>(values)));
    return list;
  }
  if (kind == arrow::Type::UINT64) {
    ARROW_ASSIGN_OR_RAISE(list.alike, (BuildNumbers<arrow::UInt64Builder, uint64_t>(values)));
    return list;
  }
  if (kind == arrow::Type::DOUBLE) {
    ARROW_ASSIGN_OR_RAISE(list.alike, (BuildNumbers<arrow::DoubleBuilder, double>(values)));
    return list;
  }
  if (kind == arrow::Type::STRING) {
    ARROW_ASSIGN_OR_RAISE(list.alike, BuildStrings(values));
    return list;
  }
  list.mixed.reserve(values.size());
  for (const auto& value : values) {
    if (value.is_null()) {
      return arrow::Status::Invalid(
          "filter on '", field, "': null inside an 'in' list; use {\"op\":\"=\",\"value\":null}");
    }
    if (value.is_array() || value.is_object()) {
      return arrow::Status::Invalid("filter on '", field, "': '", FilterOpName(op), "' list entry ",
                                    JsonForMessage(value), " is not a number, string or boolean");
    }
    ARROW_ASSIGN_OR_RAISE(auto literal, ParseLiteral(value));
    list.mixed.push_back(std::move(literal));
  }
  return list;
}

arrow::Result<FilterExpr> ParseComparison(const Json& node) {
  ARROW_RETURN_NOT_OK(CheckKnownKeys(node, {"field", "op", "operator", "value"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto field, GetOptionalString(node, {"field"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto op_text, GetOptionalString(node, {"op", "operator"}, "filter"));
  if (!field) return arrow::Status::Invalid("filter: missing 'field' in ", JsonForMessage(node));
  if (!op_text) return arrow::Status::Invalid("filter: missing 'op' in ", JsonForMessage(node));
  if (!node.contains("value")) {
    return arrow::Status::Invalid("filter on '", *field, "': missing 'value'");
  }
  FilterExpr expr;
  expr.kind = FilterExpr::Kind::kComparison;
  expr.field = std::move(*field);
  ARROW_ASSIGN_OR_RAISE(expr.op, ParseOp(*op_text));
  const Json& value = node["value"];
  switch (expr.op) {
    case FilterOp::kIn:
    case FilterOp::kNotIn: {
      ARROW_ASSIGN_OR_RAISE(expr.values, ParseValueList(value, expr.field, expr.op));
      return expr;
    }
    case FilterOp::kContains:
    case FilterOp::kPrefix:
      if (!value.is_string()) {
        return arrow::Status::Invalid("filter on '", expr.field, "': '", FilterOpName(expr.op),
                                      "' needs a string value, got ", JsonForMessage(value));
      }
      break;
    default:
      if (value.is_null() && expr.op != FilterOp::kEq && expr.op != FilterOp::kNe) {
        return arrow::Status::Invalid("filter on '", expr.field,
                                      "': null can only be compared with = or !=");
      }
      if (value.is_array() || value.is_object()) {
        return arrow::Status::Invalid("filter on '", expr.field, "': value ", JsonForMessage(value),
                                      " for '", FilterOpName(expr.op),
                                      "' is not a number, string, boolean or null");
      }
  }
  ARROW_ASSIGN_OR_RAISE(expr.value, ParseLiteral(value));
  return expr;
}

arrow::Result<FilterExpr> ParseNode(const Json& node);

arrow::Result<std::vector<FilterExpr>> ParseList(const Json& nodes) {
  std::vector<FilterExpr> parsed;
  parsed.reserve(nodes.size());
  for (const auto& node : nodes) {
    ARROW_ASSIGN_OR_RAISE(auto expr, ParseNode(node));
    parsed.push_back(std::move(expr));
  }
  return parsed;
}

arrow::Result<FilterExpr> ParseLogic(const Json& node) {
  ARROW_RETURN_NOT_OK(CheckKnownKeys(node, {"logic", "filters"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto logic, GetOptionalString(node, {"logic"}, "filter"));
  std::string lowered = *logic;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  FilterExpr expr;
  if (lowered == "and") {
    expr.kind = FilterExpr::Kind::kAnd;
  } else if (lowered == "or") {
    expr.kind = FilterExpr::Kind::kOr;
  } else if (lowered == "not") {
    expr.kind = FilterExpr::Kind::kNot;
  } else {
    return arrow::Status::Invalid("filter: unknown logic '", *logic, "' (use and, or, not)");
  }
  auto children = node.find("filters");
  if (children == node.end() || !children->is_array()) {
    return arrow::Status::Invalid("filter: logic '", *logic, "' needs a 'filters' array");
  }
  ARROW_ASSIGN_OR_RAISE(expr.children, ParseList(*children));
  return expr;
}

arrow::Result<FilterExpr> ParseNode(const Json& node) {
  if (!node.is_object()) {
    return arrow::Status::Invalid("filter: each filter must be a JSON object, got ",
                                  JsonForMessage(node));
  }
  if (node.contains("logic")) return ParseLogic(node);
  return ParseComparison(node);
}

// The values in the lists of `filters` (a node, or an array of nodes), nested nodes included.
size_t ListedValues(const Json& filters) {
  size_t values = 0;
  if (filters.is_array()) {
    for (const auto& node : filters) values += ListedValues(node);
  } else if (filters.is_object()) {
    if (auto value = filters.find("value"); value != filters.end() && value->is_array()) {
      values += value->size();
    }
    if (auto children = filters.find("filters"); children != filters.end()) {
      values += ListedValues(*children);
    }
  }
  return values;
}

}  // namespace

arrow::Result<FilterLiteral> ParseLiteral(const Json& value) {
  if (value.is_null()) return arrow::MakeNullScalar(arrow::null());
  if (value.is_boolean()) return std::make_shared<arrow::BooleanScalar>(value.get<bool>());
  if (value.is_number_unsigned()) {
    const auto number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) {
      return std::make_shared<arrow::UInt64Scalar>(number);
    }
    return std::make_shared<arrow::Int64Scalar>(static_cast<int64_t>(number));
  }
  if (value.is_number_integer()) return std::make_shared<arrow::Int64Scalar>(value.get<int64_t>());
  if (value.is_number_float()) return std::make_shared<arrow::DoubleScalar>(value.get<double>());
  if (value.is_string()) return std::make_shared<arrow::StringScalar>(value.get<std::string>());
  return arrow::Status::Invalid("value ", JsonForMessage(value),
                                " is not a number, string, boolean or null");
}

arrow::Result<FilterExpr> ParseFilterExpr(const Json& filters) {
  if (const size_t values = ListedValues(filters); values > kMaxFilterValues) {
    return arrow::Status::Invalid("filters hold ", values,
                                  " values in 'in' and 'not in' lists; at most ", kMaxFilterValues,
                                  " per request");
  }
  if (filters.is_array()) {
    FilterExpr all;  // an AND; true when empty
    ARROW_ASSIGN_OR_RAISE(all.children, ParseList(filters));
    return all;
  }
  if (filters.is_object()) return ParseNode(filters);
  if (filters.is_null()) return FilterExpr{};
  return arrow::Status::Invalid("'filters' must be a JSON array of filter objects, got ",
                                JsonForMessage(filters));
}

arrow::Result<std::shared_ptr<const CachedFilter>> ParseFilters(const Json& filters) {
  ARROW_ASSIGN_OR_RAISE(FilterExpr expr, ParseFilterExpr(filters));
  if (expr.IsTrue()) return nullptr;
  return std::make_shared<const CachedFilter>(std::move(expr));
}

arrow::Result<arrow::ScalarVector> ParseIds(const Json& ids, bool single, std::string_view key) {
  arrow::ScalarVector literals;
  const size_t count = single ? 1 : ids.size();
  literals.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const Json& id = single ? ids : ids[i];
    if (id.is_array() || id.is_object()) {
      const std::string entry = single ? "" : " entry " + std::to_string(i);
      return arrow::Status::Invalid("'", key, "'", entry, " (", JsonForMessage(id),
                                    ") is not an id: ids are numbers or strings");
    }
    ARROW_ASSIGN_OR_RAISE(auto literal, ParseLiteral(id));
    literals.push_back(std::move(literal));
  }
  return literals;
}

}  // namespace arbalest
