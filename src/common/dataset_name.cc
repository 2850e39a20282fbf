#include "common/dataset_name.h"

#include <algorithm>
#include <cctype>

namespace arbalest {

bool IsValidDatasetName(std::string_view name) {
  if (name.empty() || name.size() > kMaxDatasetNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

arrow::Status ValidateDatasetName(std::string_view name) {
  if (IsValidDatasetName(name)) return arrow::Status::OK();
  // Quote at most a prefix: a garbage name may be huge or binary.
  std::string shown(name.substr(0, 64));
  for (char& c : shown) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return arrow::Status::Invalid("invalid dataset name '", shown, name.size() > 64 ? "...'" : "'",
                                ": names are 1-128 characters of [A-Za-z0-9_.-]");
}

}  // namespace arbalest
