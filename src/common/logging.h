// Process-wide logging: spdlog to stderr, as human text or one JSON object per line.
#pragma once

#include <arrow/status.h>

#include <string_view>

namespace arbalest {

// Configures the default spdlog logger. `format` is "text" or "json"; `level` is one of
// trace, debug, info, warn, error, critical, off. Invalid names the bad value.
arrow::Status InitLogging(std::string_view format, std::string_view level);

}  // namespace arbalest
