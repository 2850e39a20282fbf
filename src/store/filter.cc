#include "store/filter.h"

#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/scalar.h>
#include <arrow/status.h>

#include <cmath>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "store/value_set.h"

namespace arbalest {
namespace {

namespace cp = arrow::compute;

bool IsStringType(const arrow::DataType& type) {
  return type.id() == arrow::Type::STRING || type.id() == arrow::Type::LARGE_STRING;
}

bool IsFilterable(const arrow::DataType& type) {
  return arrow::is_primitive(type.id()) || arrow::is_base_binary_like(type.id()) ||
         arrow::is_decimal(type.id());
}

bool IsNumber(const arrow::Scalar& literal) {
  const arrow::Type::type id = literal.type->id();
  return id == arrow::Type::INT64 || id == arrow::Type::UINT64 || id == arrow::Type::DOUBLE;
}

// The literal number as a double (for the 0 / 1 test of boolean columns).
double NumberValue(const arrow::Scalar& literal) {
  switch (literal.type->id()) {
    case arrow::Type::INT64:
      return static_cast<double>(static_cast<const arrow::Int64Scalar&>(literal).value);
    case arrow::Type::UINT64:
      return static_cast<double>(static_cast<const arrow::UInt64Scalar&>(literal).value);
    default:
      return static_cast<const arrow::DoubleScalar&>(literal).value;
  }
}

arrow::Status NotConvertible(const arrow::Scalar& literal, const arrow::Field& field) {
  return arrow::Status::Invalid("filter on '", field.name(), "': value ",
                                LiteralForMessage(literal), " does not convert to ",
                                field.type()->ToString());
}

arrow::Result<std::shared_ptr<arrow::Scalar>> CastScalar(const std::shared_ptr<arrow::Scalar>& s,
                                                         const arrow::Scalar& literal,
                                                         const arrow::Field& field) {
  auto cast = cp::Cast(arrow::Datum(s), field.type(), cp::CastOptions::Safe());
  if (!cast.ok()) return NotConvertible(literal, field);
  return cast->scalar();
}

// A timestamp literal: an integer in the column's unit, or an ISO-8601 string (with or without
// a UTC offset) that Arrow's cast parses.
arrow::Result<std::shared_ptr<arrow::Scalar>> TimestampScalar(const arrow::Scalar& literal,
                                                              const arrow::Field& field) {
  const auto& type = static_cast<const arrow::TimestampType&>(*field.type());
  if (literal.type->id() == arrow::Type::INT64) {
    return std::make_shared<arrow::TimestampScalar>(
        static_cast<const arrow::Int64Scalar&>(literal).value, field.type());
  }
  if (literal.type->id() == arrow::Type::UINT64) {
    return std::make_shared<arrow::TimestampScalar>(
        static_cast<int64_t>(static_cast<const arrow::UInt64Scalar&>(literal).value), field.type());
  }
  if (literal.type->id() != arrow::Type::STRING) return NotConvertible(literal, field);
  auto text = std::make_shared<arrow::StringScalar>(
      std::string(static_cast<const arrow::StringScalar&>(literal).view()));
  for (const auto& zone : {std::string(), std::string("UTC")}) {
    auto parsed = cp::Cast(arrow::Datum(text), arrow::timestamp(type.unit(), zone));
    if (parsed.ok()) {
      const auto& ts = static_cast<const arrow::TimestampScalar&>(*parsed->scalar());
      return std::make_shared<arrow::TimestampScalar>(ts.value, field.type());
    }
  }
  return NotConvertible(literal, field);
}

// Converts a literal to a scalar comparable with `field`. A non-integral number compared with
// an integer column stays a double: Arrow's comparison kernels promote both.
arrow::Result<std::shared_ptr<arrow::Scalar>> ToScalar(const arrow::Scalar& literal,
                                                       const arrow::Field& field) {
  const arrow::DataType& type = *field.type();
  if (!literal.is_valid) return NotConvertible(literal, field);
  if (type.id() == arrow::Type::TIMESTAMP) return TimestampScalar(literal, field);
  const arrow::Type::type kind = literal.type->id();
  if (kind == arrow::Type::BOOL) {
    if (type.id() != arrow::Type::BOOL) return NotConvertible(literal, field);
    return std::make_shared<arrow::BooleanScalar>(
        static_cast<const arrow::BooleanScalar&>(literal).value);
  }
  if (kind == arrow::Type::STRING) {
    auto text = std::make_shared<arrow::StringScalar>(
        std::string(static_cast<const arrow::StringScalar&>(literal).view()));
    return CastScalar(text, literal, field);
  }
  if (!IsNumber(literal)) return NotConvertible(literal, field);
  if (IsStringType(type)) {
    return CastScalar(std::make_shared<arrow::StringScalar>(LiteralText(literal)), literal, field);
  }
  if (type.id() == arrow::Type::BOOL) {
    const double value = NumberValue(literal);
    if (value != 0 && value != 1) return NotConvertible(literal, field);
    return std::make_shared<arrow::BooleanScalar>(value == 1);
  }
  std::shared_ptr<arrow::Scalar> number;
  switch (kind) {
    case arrow::Type::INT64:
      number = std::make_shared<arrow::Int64Scalar>(
          static_cast<const arrow::Int64Scalar&>(literal).value);
      break;
    case arrow::Type::UINT64:
      number = std::make_shared<arrow::UInt64Scalar>(
          static_cast<const arrow::UInt64Scalar&>(literal).value);
      break;
    default: {
      const double d = static_cast<const arrow::DoubleScalar&>(literal).value;
      number = std::make_shared<arrow::DoubleScalar>(d);
      if (arrow::is_integer(type.id()) && std::trunc(d) != d) return number;
    }
  }
  return CastScalar(number, literal, field);
}

arrow::Result<cp::Expression> CompileMembership(const FilterExpr& node, const arrow::Field& field) {
  ARROW_ASSIGN_OR_RAISE(auto value_set, MakeValueSet(node.values, field));
  // EMIT_NULL: a null value is neither in nor not in the list, so both drop it (SQL semantics,
  // like every other comparison here).
  cp::Expression is_in = cp::call("is_in", {cp::field_ref(field.name())},
                                  cp::SetLookupOptions(value_set, cp::SetLookupOptions::EMIT_NULL));
  return node.op == FilterOp::kIn ? is_in : cp::not_(std::move(is_in));
}

arrow::Result<cp::Expression> CompileStringMatch(const FilterExpr& node,
                                                 const arrow::Field& field) {
  const bool contains = node.op == FilterOp::kContains;
  if (!IsStringType(*field.type())) {
    return arrow::Status::Invalid("filter on '", field.name(), "': '", FilterOpName(node.op),
                                  "' applies to string columns, not ", field.type()->ToString());
  }
  if (!node.value || node.value->type->id() != arrow::Type::STRING || !node.value->is_valid) {
    return arrow::Status::Invalid("filter on '", field.name(), "': '", FilterOpName(node.op),
                                  "' needs a string value");
  }
  return cp::call(contains ? "match_substring" : "starts_with", {cp::field_ref(field.name())},
                  cp::MatchSubstringOptions(
                      std::string(static_cast<const arrow::StringScalar&>(*node.value).view())));
}

arrow::Result<cp::Expression> CompileComparison(const FilterExpr& node,
                                                const arrow::Schema& schema) {
  auto field = schema.GetFieldByName(node.field);
  if (!field) {
    std::string columns;
    for (const auto& f : schema.fields()) columns += (columns.empty() ? "" : ", ") + f->name();
    return arrow::Status::Invalid("filter field '", node.field,
                                  "' does not exist (columns: ", columns, ")");
  }
  if (!IsFilterable(*field->type())) {
    return arrow::Status::Invalid("filter on '", node.field, "': columns of type ",
                                  field->type()->ToString(), " cannot be filtered");
  }
  const FilterOp op = node.op;
  if (op == FilterOp::kIn || op == FilterOp::kNotIn) return CompileMembership(node, *field);
  if (op == FilterOp::kContains || op == FilterOp::kPrefix) {
    return CompileStringMatch(node, *field);
  }
  if (!node.value) return arrow::Status::Invalid("filter on '", node.field, "': no value");
  cp::Expression column = cp::field_ref(node.field);
  if (!node.value->is_valid) {
    if (op == FilterOp::kEq) return cp::is_null(column);
    if (op == FilterOp::kNe) return cp::is_valid(column);
    return arrow::Status::Invalid("filter on '", node.field,
                                  "': null can only be compared with = or !=");
  }
  ARROW_ASSIGN_OR_RAISE(auto scalar, ToScalar(*node.value, *field));
  cp::Expression literal = cp::literal(arrow::Datum(std::move(scalar)));
  switch (op) {
    case FilterOp::kEq:
      return cp::equal(column, literal);
    case FilterOp::kNe:
      return cp::not_equal(column, literal);
    case FilterOp::kGt:
      return cp::greater(column, literal);
    case FilterOp::kGe:
      return cp::greater_equal(column, literal);
    case FilterOp::kLt:
      return cp::less(column, literal);
    case FilterOp::kLe:
      return cp::less_equal(column, literal);
    default:
      break;
  }
  return arrow::Status::UnknownError("unhandled filter operator");
}

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

arrow::Result<cp::Expression> CompileNode(const FilterExpr& node, const arrow::Schema& schema) {
  if (node.kind == FilterExpr::Kind::kComparison) return CompileComparison(node, schema);
  std::vector<cp::Expression> compiled;
  compiled.reserve(node.children.size());
  for (const FilterExpr& child : node.children) {
    ARROW_ASSIGN_OR_RAISE(auto expression, CompileNode(child, schema));
    compiled.push_back(std::move(expression));
  }
  switch (node.kind) {
    case FilterExpr::Kind::kOr:
      return Balanced(Join::kOr, compiled);
    case FilterExpr::Kind::kNot:
      return cp::not_(Balanced(Join::kAnd, compiled));
    default:
      return Balanced(Join::kAnd, compiled);
  }
}

}  // namespace

void InitializeComputeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Registers the compute kernels (a separate library since Arrow 21); idempotent.
    (void)cp::Initialize();
  });
}

arrow::Result<std::shared_ptr<arrow::Scalar>> LiteralToScalar(const arrow::Scalar& literal,
                                                              const arrow::Field& field) {
  InitializeComputeOnce();
  ARROW_ASSIGN_OR_RAISE(auto scalar, ToScalar(literal, field));
  if (!scalar->type->Equals(*field.type())) return NotConvertible(literal, field);
  return scalar;
}

arrow::Result<cp::Expression> CompileFilter(const FilterExpr& filter, const arrow::Schema& schema) {
  InitializeComputeOnce();
  cp::Expression expression = cp::literal(true);
  if (!filter.IsTrue()) {
    ARROW_ASSIGN_OR_RAISE(expression, CompileNode(filter, schema));
  }
  return expression.Bind(schema);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ApplyFilter(
    const cp::Expression& filter, const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (filter.Equals(cp::literal(true))) return batch;
  ARROW_ASSIGN_OR_RAISE(arrow::Datum mask,
                        cp::ExecuteScalarExpression(filter, cp::ExecBatch(*batch)));
  if (mask.is_scalar()) {
    // A filter that folded to a constant (an empty 'or' or 'not'): Arrow's Filter takes only
    // array masks, and the builds before typed filters failed such scans with a TypeError.
    const auto& constant = static_cast<const arrow::BooleanScalar&>(*mask.scalar());
    return constant.is_valid && constant.value ? batch : batch->Slice(0, 0);
  }
  ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
  return filtered.record_batch();
}

}  // namespace arbalest
