#include "common/duration.h"

#include <arrow/status.h>

#include <charconv>
#include <cmath>

namespace arbalest {

arrow::Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return arrow::Status::Invalid("'", text,
                                  "' is not a duration (examples: 0, 500ms, 30s, 10m, 1h)");
  };
  double number = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || number < 0 || !std::isfinite(number)) return invalid();
  const std::string_view unit(ptr, static_cast<size_t>(end - ptr));
  double millis_per_unit;
  if (unit.empty() || unit == "s") {
    millis_per_unit = 1e3;
  } else if (unit == "ms") {
    millis_per_unit = 1;
  } else if (unit == "m") {
    millis_per_unit = 60e3;
  } else if (unit == "h") {
    millis_per_unit = 3600e3;
  } else {
    return invalid();
  }
  const double millis = number * millis_per_unit;
  if (millis >= 1e15) return invalid();  // over 30,000 years
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(millis)));
}

}  // namespace arbalest
