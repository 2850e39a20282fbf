// DoAction handlers for namespaces, with the Go system's action names and answers
// (protocol.md, "Namespaces"): CreateNamespace, DeleteNamespace, ListNamespaces,
// GetTotalNamespaceCount, GetNamespaceDatasetCount.
#pragma once

#include <arrow/buffer.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "store/vector_store.h"

namespace arbalest {

std::vector<arrow::flight::ActionType> NamespaceActionTypes();

// The result of namespace action `type`, or nullopt when `type` is not one.
std::optional<arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>>> RunNamespaceAction(
    VectorStore& store, std::string_view type, std::string_view body);

}  // namespace arbalest
