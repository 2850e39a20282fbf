#include "store/filter_expr.h"

#include <arrow/status.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace arbalest {
namespace {

// `value` (finite) as the JSON library prints a double: its shortest round-trip digits, placed
// as plain decimals when the decimal point falls within 15 digits of them (with ".0" after an
// integral value) or within 4 zeros after the point, else as d.igitse+XX.
std::string DoubleText(double value) {
  std::string text;
  if (std::signbit(value)) {
    text = "-";
    value = -value;
  }
  if (value == 0) return text + "0.0";
  char buffer[64];
  const auto written =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string scientific(buffer, written.ptr);  // d[.igits]e[+-]XX
  const size_t e = scientific.find('e');
  std::string digits = scientific.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // the '.'
  const int k = static_cast<int>(digits.size());
  const int n = std::atoi(scientific.c_str() + e + 1) + 1;  // the point's place after digit 0
  constexpr int kMinExp = -4;
  constexpr int kMaxExp = 15;
  if (k <= n && n <= kMaxExp) return text + digits + std::string(n - k, '0') + ".0";
  if (0 < n && n <= kMaxExp) return text + digits.substr(0, n) + "." + digits.substr(n);
  if (kMinExp < n && n <= 0) return text + "0." + std::string(-n, '0') + digits;
  text += digits.substr(0, 1);
  if (k > 1) text += "." + digits.substr(1);
  const int exponent = n - 1;
  char tail[16];
  std::snprintf(tail, sizeof(tail), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return text + tail;
}

std::string QuotedText(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          quoted += escaped;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

}  // namespace

std::string_view FilterOpName(FilterOp op) {
  switch (op) {
    case FilterOp::kEq:
      return "=";
    case FilterOp::kNe:
      return "!=";
    case FilterOp::kGt:
      return ">";
    case FilterOp::kGe:
      return ">=";
    case FilterOp::kLt:
      return "<";
    case FilterOp::kLe:
      return "<=";
    case FilterOp::kIn:
      return "in";
    case FilterOp::kNotIn:
      return "not in";
    case FilterOp::kContains:
      return "contains";
    case FilterOp::kPrefix:
      return "prefix";
  }
  return "?";
}

int64_t FilterValueList::size() const {
  return alike ? alike->length() : static_cast<int64_t>(mixed.size());
}

arrow::Result<FilterLiteral> FilterValueList::At(int64_t i) const {
  if (alike) return alike->GetScalar(i);
  return mixed[static_cast<size_t>(i)];
}

std::string LiteralText(const arrow::Scalar& literal) {
  if (!literal.is_valid) return "null";
  switch (literal.type->id()) {
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanScalar&>(literal).value ? "true" : "false";
    case arrow::Type::INT64:
      return std::to_string(static_cast<const arrow::Int64Scalar&>(literal).value);
    case arrow::Type::UINT64:
      return std::to_string(static_cast<const arrow::UInt64Scalar&>(literal).value);
    case arrow::Type::DOUBLE: {
      const double value = static_cast<const arrow::DoubleScalar&>(literal).value;
      return std::isfinite(value) ? DoubleText(value) : "null";
    }
    case arrow::Type::STRING:
      return QuotedText(static_cast<const arrow::StringScalar&>(literal).view());
    default:
      return literal.ToString();
  }
}

std::string LiteralForMessage(const arrow::Scalar& literal) {
  std::string text = LiteralText(literal);
  constexpr size_t kMax = 80;
  if (text.size() > kMax) {
    size_t cut = kMax;
    // Never cut a UTF-8 sequence: back up to the byte that starts one.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  return text;
}

}  // namespace arbalest
