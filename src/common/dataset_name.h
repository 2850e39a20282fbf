// Dataset names as the protocol allows them: 1-128 characters of [A-Za-z0-9_.-].
#pragma once

#include <arrow/status.h>

#include <string_view>

namespace arbalest {

inline constexpr size_t kMaxDatasetNameLength = 128;

// True when `name` is a valid dataset name.
bool IsValidDatasetName(std::string_view name);

// OK for a valid name, else Invalid with a message quoting the name and the rule.
arrow::Status ValidateDatasetName(std::string_view name);

}  // namespace arbalest
