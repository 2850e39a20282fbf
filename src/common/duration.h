// Parsing of human durations ("10m", "30s", "1.5h", "0") used by --snapshot-interval.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <string_view>

namespace arbalest {

// Parses a non-negative duration with an optional unit: ms, s, m, h (a bare number is seconds).
// Fractions are allowed ("1.5h"). Returns Invalid naming the text when it does not parse or is
// out of range.
arrow::Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace arbalest
