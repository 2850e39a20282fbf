#include "common/byte_size.h"

#include <arrow/status.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace arbalest {
namespace {

arrow::Result<double> UnitMultiplier(std::string unit) {
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.empty() || unit == "b") return 1.0;
  static constexpr std::string_view kPrefixes = "kmgt";
  const size_t power = kPrefixes.find(unit[0]);
  if (power == std::string_view::npos) return arrow::Status::Invalid("unknown unit");
  const std::string rest = unit.substr(1);
  double base;
  if (rest.empty() || rest == "ib") {
    base = 1024.0;
  } else if (rest == "b") {
    base = 1000.0;
  } else {
    return arrow::Status::Invalid("unknown unit");
  }
  return std::pow(base, static_cast<double>(power + 1));
}

}  // namespace

arrow::Result<int64_t> ParseByteSize(std::string_view text) {
  const auto invalid = [&] {
    return arrow::Status::Invalid("'", text,
                                  "' is not a byte size (examples: 0, 1048576, 512MiB, 8GB)");
  };
  double number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || number < 0 || !std::isfinite(number)) return invalid();
  auto multiplier = UnitMultiplier(std::string(ptr, end));
  if (!multiplier.ok()) return invalid();
  const double bytes = number * *multiplier;
  if (bytes >= 9.2e18) return invalid();
  return static_cast<int64_t>(bytes);
}

}  // namespace arbalest
