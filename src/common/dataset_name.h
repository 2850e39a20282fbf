// Dataset and namespace names as the protocol allows them. A name part is 1-128 characters of
// [A-Za-z0-9_.-]. A dataset name is one part (a dataset of the default namespace) or
// "<namespace>/<name>", two parts (a dataset of that namespace). Namespace names are one part;
// "default" names the default namespace, whose datasets are written without the prefix.
#pragma once

#include <arrow/status.h>

#include <string_view>

namespace arbalest {

inline constexpr size_t kMaxDatasetNameLength = 128;  // of each part
inline constexpr std::string_view kDefaultNamespace = "default";
inline constexpr char kNamespaceSeparator = '/';

// True when `name` is a valid dataset name.
bool IsValidDatasetName(std::string_view name);

// OK for a valid name, else Invalid with a message quoting the name and the rule.
arrow::Status ValidateDatasetName(std::string_view name);

// OK for a valid namespace name (one part), else Invalid quoting it and the rule.
arrow::Status ValidateNamespaceName(std::string_view name);

// The namespace of a valid dataset name: the part before '/', else kDefaultNamespace.
std::string_view NamespaceOf(std::string_view dataset);

}  // namespace arbalest
