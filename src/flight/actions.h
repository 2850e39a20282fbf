// DoAction handlers of protocol.md that answer with one JSON document.
#pragma once

#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "store/vector_store.h"

namespace arbalest {

// The actions this server implements, with descriptions, for ListActions.
std::vector<arrow::flight::ActionType> SupportedActions();

// Runs action `type` with JSON `body` (empty = {}) against `store`. NotImplemented names an
// unknown action type; Invalid a malformed body; KeyError an unknown dataset.
arrow::Result<Json> RunAction(VectorStore& store, std::string_view type, std::string_view body);

}  // namespace arbalest
