#include "store/filter.h"

#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/scalar.h>
#include <arrow/status.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "store/value_set.h"

namespace arbalest {
namespace {

namespace cp = arrow::compute;

enum class Op { kEq, kNe, kGt, kGe, kLt, kLe, kIn, kNotIn, kContains, kPrefix };

arrow::Result<Op> ParseOp(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (text == "=" || text == "==" || text == "eq") return Op::kEq;
  if (text == "!=" || text == "<>" || text == "neq" || text == "ne") return Op::kNe;
  if (text == ">" || text == "gt") return Op::kGt;
  if (text == ">=" || text == "ge" || text == "gte") return Op::kGe;
  if (text == "<" || text == "lt") return Op::kLt;
  if (text == "<=" || text == "le" || text == "lte") return Op::kLe;
  if (text == "in") return Op::kIn;
  if (text == "not in" || text == "not_in" || text == "nin") return Op::kNotIn;
  if (text == "contains") return Op::kContains;
  if (text == "prefix" || text == "starts_with") return Op::kPrefix;
  return arrow::Status::Invalid("filter: unknown operator '", text,
                                "' (use =, !=, >, >=, <, <=, in, not in, contains, prefix)");
}

bool IsStringType(const arrow::DataType& type) {
  return type.id() == arrow::Type::STRING || type.id() == arrow::Type::LARGE_STRING;
}

bool IsFilterable(const arrow::DataType& type) {
  return arrow::is_primitive(type.id()) || arrow::is_base_binary_like(type.id()) ||
         arrow::is_decimal(type.id());
}

arrow::Status NotConvertible(const Json& value, const arrow::Field& field) {
  return arrow::Status::Invalid("filter on '", field.name(), "': value ", JsonForMessage(value),
                                " does not convert to ", field.type()->ToString());
}

arrow::Result<std::shared_ptr<arrow::Scalar>> CastScalar(const std::shared_ptr<arrow::Scalar>& s,
                                                         const Json& value,
                                                         const arrow::Field& field) {
  auto cast = cp::Cast(arrow::Datum(s), field.type(), cp::CastOptions::Safe());
  if (!cast.ok()) return NotConvertible(value, field);
  return cast->scalar();
}

// A timestamp literal: an integer in the column's unit, or an ISO-8601 string (with or without
// a UTC offset) that Arrow's cast parses.
arrow::Result<std::shared_ptr<arrow::Scalar>> TimestampScalar(const Json& value,
                                                              const arrow::Field& field) {
  const auto& type = static_cast<const arrow::TimestampType&>(*field.type());
  if (value.is_number_integer()) {
    return std::make_shared<arrow::TimestampScalar>(value.get<int64_t>(), field.type());
  }
  if (!value.is_string()) return NotConvertible(value, field);
  auto text = std::make_shared<arrow::StringScalar>(value.get<std::string>());
  for (const auto& zone : {std::string(), std::string("UTC")}) {
    auto parsed = cp::Cast(arrow::Datum(text), arrow::timestamp(type.unit(), zone));
    if (parsed.ok()) {
      const auto& ts = static_cast<const arrow::TimestampScalar&>(*parsed->scalar());
      return std::make_shared<arrow::TimestampScalar>(ts.value, field.type());
    }
  }
  return NotConvertible(value, field);
}

// Converts a JSON filter value to a scalar comparable with `field`. A non-integral number
// compared with an integer column stays a double: Arrow's comparison kernels promote both.
arrow::Result<std::shared_ptr<arrow::Scalar>> ToScalar(const Json& value,
                                                       const arrow::Field& field) {
  const arrow::DataType& type = *field.type();
  if (type.id() == arrow::Type::TIMESTAMP) return TimestampScalar(value, field);
  if (value.is_boolean()) {
    if (type.id() != arrow::Type::BOOL) return NotConvertible(value, field);
    return std::make_shared<arrow::BooleanScalar>(value.get<bool>());
  }
  if (value.is_string()) {
    auto text = std::make_shared<arrow::StringScalar>(value.get<std::string>());
    return CastScalar(text, value, field);
  }
  if (value.is_number()) {
    if (IsStringType(type)) {
      return CastScalar(std::make_shared<arrow::StringScalar>(value.dump()), value, field);
    }
    if (type.id() == arrow::Type::BOOL) {
      if (value != 0 && value != 1) return NotConvertible(value, field);
      return std::make_shared<arrow::BooleanScalar>(value == 1);
    }
    std::shared_ptr<arrow::Scalar> number;
    if (value.is_number_unsigned()) {
      number = std::make_shared<arrow::UInt64Scalar>(value.get<uint64_t>());
    } else if (value.is_number_integer()) {
      number = std::make_shared<arrow::Int64Scalar>(value.get<int64_t>());
    } else {
      const double d = value.get<double>();
      number = std::make_shared<arrow::DoubleScalar>(d);
      if (arrow::is_integer(type.id()) && std::trunc(d) != d) return number;
    }
    return CastScalar(number, value, field);
  }
  return NotConvertible(value, field);
}

arrow::Result<cp::Expression> CompileMembership(const Json& values, const arrow::Field& field,
                                                Op op) {
  if (!values.is_array()) {
    return arrow::Status::Invalid("filter on '", field.name(), "': '",
                                  op == Op::kIn ? "in" : "not in",
                                  "' needs a JSON array value, got ", JsonForMessage(values));
  }
  ARROW_ASSIGN_OR_RAISE(auto value_set, MakeValueSet(values, field));
  // EMIT_NULL: a null value is neither in nor not in the list, so both drop it (SQL semantics,
  // like every other comparison here).
  cp::Expression is_in = cp::call("is_in", {cp::field_ref(field.name())},
                                  cp::SetLookupOptions(value_set, cp::SetLookupOptions::EMIT_NULL));
  return op == Op::kIn ? is_in : cp::not_(std::move(is_in));
}

arrow::Result<cp::Expression> CompileStringMatch(const Json& value, const arrow::Field& field,
                                                 Op op) {
  const char* name = op == Op::kContains ? "contains" : "prefix";
  if (!IsStringType(*field.type())) {
    return arrow::Status::Invalid("filter on '", field.name(), "': '", name,
                                  "' applies to string columns, not ", field.type()->ToString());
  }
  if (!value.is_string()) {
    return arrow::Status::Invalid("filter on '", field.name(), "': '", name,
                                  "' needs a string value, got ", JsonForMessage(value));
  }
  return cp::call(op == Op::kContains ? "match_substring" : "starts_with",
                  {cp::field_ref(field.name())},
                  cp::MatchSubstringOptions(value.get<std::string>()));
}

arrow::Result<cp::Expression> CompileComparison(const Json& node, const arrow::Schema& schema) {
  ARROW_RETURN_NOT_OK(CheckKnownKeys(node, {"field", "op", "operator", "value"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto field_name, GetOptionalString(node, {"field"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto op_text, GetOptionalString(node, {"op", "operator"}, "filter"));
  if (!field_name)
    return arrow::Status::Invalid("filter: missing 'field' in ", JsonForMessage(node));
  if (!op_text) return arrow::Status::Invalid("filter: missing 'op' in ", JsonForMessage(node));
  if (!node.contains("value")) {
    return arrow::Status::Invalid("filter on '", *field_name, "': missing 'value'");
  }
  auto field = schema.GetFieldByName(*field_name);
  if (!field) {
    std::string columns;
    for (const auto& f : schema.fields()) columns += (columns.empty() ? "" : ", ") + f->name();
    return arrow::Status::Invalid("filter field '", *field_name,
                                  "' does not exist (columns: ", columns, ")");
  }
  if (!IsFilterable(*field->type())) {
    return arrow::Status::Invalid("filter on '", *field_name, "': columns of type ",
                                  field->type()->ToString(), " cannot be filtered");
  }
  ARROW_ASSIGN_OR_RAISE(Op op, ParseOp(*op_text));
  const Json& value = node["value"];
  if (op == Op::kIn || op == Op::kNotIn) return CompileMembership(value, *field, op);
  if (op == Op::kContains || op == Op::kPrefix) return CompileStringMatch(value, *field, op);

  cp::Expression column = cp::field_ref(*field_name);
  if (value.is_null()) {
    if (op == Op::kEq) return cp::is_null(column);
    if (op == Op::kNe) return cp::is_valid(column);
    return arrow::Status::Invalid("filter on '", *field_name,
                                  "': null can only be compared with = or !=");
  }
  ARROW_ASSIGN_OR_RAISE(auto scalar, ToScalar(value, *field));
  cp::Expression literal = cp::literal(arrow::Datum(std::move(scalar)));
  switch (op) {
    case Op::kEq:
      return cp::equal(column, literal);
    case Op::kNe:
      return cp::not_equal(column, literal);
    case Op::kGt:
      return cp::greater(column, literal);
    case Op::kGe:
      return cp::greater_equal(column, literal);
    case Op::kLt:
      return cp::less(column, literal);
    case Op::kLe:
      return cp::less_equal(column, literal);
    default:
      break;
  }
  return arrow::Status::UnknownError("unhandled filter operator");
}

arrow::Result<cp::Expression> CompileNode(const Json& node, const arrow::Schema& schema);

enum class Join { kAnd, kOr };

// The conjunction or disjunction of `operands` as a balanced tree. Arrow's vector overloads fold
// them into a chain as deep as the list is long, and binding or evaluating a chain of 20,000
// filters ran out of stack; a balanced tree of them is 15 deep.
cp::Expression Balanced(Join join, std::span<const cp::Expression> operands) {
  if (operands.size() <= 2) {
    const std::vector<cp::Expression> list(operands.begin(), operands.end());
    return join == Join::kAnd ? cp::and_(list) : cp::or_(list);
  }
  const size_t half = operands.size() / 2;
  cp::Expression left = Balanced(join, operands.first(half));
  cp::Expression right = Balanced(join, operands.subspan(half));
  return join == Join::kAnd ? cp::and_(std::move(left), std::move(right))
                            : cp::or_(std::move(left), std::move(right));
}

arrow::Result<std::vector<cp::Expression>> CompileList(const Json& nodes,
                                                       const arrow::Schema& schema) {
  std::vector<cp::Expression> compiled;
  for (const auto& node : nodes) {
    ARROW_ASSIGN_OR_RAISE(auto expression, CompileNode(node, schema));
    compiled.push_back(std::move(expression));
  }
  return compiled;
}

arrow::Result<cp::Expression> CompileLogic(const Json& node, const arrow::Schema& schema) {
  ARROW_RETURN_NOT_OK(CheckKnownKeys(node, {"logic", "filters"}, "filter"));
  ARROW_ASSIGN_OR_RAISE(auto logic, GetOptionalString(node, {"logic"}, "filter"));
  auto children = node.find("filters");
  if (children == node.end() || !children->is_array()) {
    return arrow::Status::Invalid("filter: logic '", *logic, "' needs a 'filters' array");
  }
  ARROW_ASSIGN_OR_RAISE(auto compiled, CompileList(*children, schema));
  std::string lowered = *logic;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lowered == "and") return Balanced(Join::kAnd, compiled);
  if (lowered == "or") return Balanced(Join::kOr, compiled);
  if (lowered == "not") return cp::not_(Balanced(Join::kAnd, compiled));
  return arrow::Status::Invalid("filter: unknown logic '", *logic, "' (use and, or, not)");
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

arrow::Result<cp::Expression> CompileNode(const Json& node, const arrow::Schema& schema) {
  if (!node.is_object()) {
    return arrow::Status::Invalid("filter: each filter must be a JSON object, got ",
                                  JsonForMessage(node));
  }
  if (node.contains("logic")) return CompileLogic(node, schema);
  return CompileComparison(node, schema);
}

}  // namespace

void InitializeComputeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Registers the compute kernels (a separate library since Arrow 21); idempotent.
    (void)cp::Initialize();
  });
}

arrow::Result<std::shared_ptr<arrow::Scalar>> JsonToScalar(const Json& value,
                                                           const arrow::Field& field) {
  InitializeComputeOnce();
  ARROW_ASSIGN_OR_RAISE(auto scalar, ToScalar(value, field));
  if (!scalar->type->Equals(*field.type())) return NotConvertible(value, field);
  return scalar;
}

arrow::Result<cp::Expression> CompileFilter(const Json& filters, const arrow::Schema& schema) {
  InitializeComputeOnce();
  if (const size_t values = ListedValues(filters); values > kMaxFilterValues) {
    return arrow::Status::Invalid("filters hold ", values,
                                  " values in 'in' and 'not in' lists; at most ", kMaxFilterValues,
                                  " per request");
  }
  cp::Expression expression = cp::literal(true);
  if (filters.is_array()) {
    ARROW_ASSIGN_OR_RAISE(auto compiled, CompileList(filters, schema));
    if (!compiled.empty()) expression = Balanced(Join::kAnd, compiled);
  } else if (filters.is_object()) {
    ARROW_ASSIGN_OR_RAISE(expression, CompileNode(filters, schema));
  } else if (!filters.is_null()) {
    return arrow::Status::Invalid("'filters' must be a JSON array of filter objects, got ",
                                  JsonForMessage(filters));
  }
  return expression.Bind(schema);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ApplyFilter(
    const cp::Expression& filter, const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (filter.Equals(cp::literal(true))) return batch;
  ARROW_ASSIGN_OR_RAISE(arrow::Datum mask,
                        cp::ExecuteScalarExpression(filter, cp::ExecBatch(*batch)));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
  return filtered.record_batch();
}

}  // namespace arbalest
