#include "common/dataset_name.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace arbalest {
namespace {

bool IsValidPart(std::string_view part) {
  if (part.empty() || part.size() > kMaxDatasetNameLength) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// At most a printable prefix of `name`, quoted: a garbage name may be huge or binary.
std::string Quoted(std::string_view name) {
  std::string shown(name.substr(0, 64));
  for (char& c : shown) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return "'" + shown + (name.size() > 64 ? "...'" : "'");
}

}  // namespace

bool IsValidDatasetName(std::string_view name) {
  const size_t slash = name.find(kNamespaceSeparator);
  if (slash == std::string_view::npos) return IsValidPart(name);
  const std::string_view space = name.substr(0, slash);
  return IsValidPart(space) && space != kDefaultNamespace && IsValidPart(name.substr(slash + 1));
}

arrow::Status ValidateDatasetName(std::string_view name) {
  if (IsValidDatasetName(name)) return arrow::Status::OK();
  if (NamespaceOf(name) == kDefaultNamespace && name.find(kNamespaceSeparator) != name.npos &&
      IsValidPart(name.substr(kDefaultNamespace.size() + 1))) {
    return arrow::Status::Invalid("invalid dataset name ", Quoted(name),
                                  ": datasets of the default namespace are named without it, '",
                                  name.substr(kDefaultNamespace.size() + 1), "'");
  }
  return arrow::Status::Invalid("invalid dataset name ", Quoted(name),
                                ": names are 1-128 characters of [A-Za-z0-9_.-], optionally "
                                "after a namespace and '/' (\"namespace/name\")");
}

arrow::Status ValidateNamespaceName(std::string_view name) {
  if (IsValidPart(name)) return arrow::Status::OK();
  return arrow::Status::Invalid("invalid namespace name ", Quoted(name),
                                ": names are 1-128 characters of [A-Za-z0-9_.-]");
}

std::string_view NamespaceOf(std::string_view dataset) {
  const size_t slash = dataset.find(kNamespaceSeparator);
  return slash == std::string_view::npos ? kDefaultNamespace : dataset.substr(0, slash);
}

}  // namespace arbalest
