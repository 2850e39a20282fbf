// Batches of short documents for the text and hybrid search tests: an id, a vector, a utf8
// `body` and an int32 `group` per row, built the way a client would.
#pragma once

#include <arrow/api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace arbalest::testing {

struct Doc {
  std::optional<std::string> body;  // nullopt: a null value
  std::vector<float> vector;
  int32_t group = 0;
};

// Columns id (int64, first_id, first_id + 1, ...), vector (float32, the docs' width), body
// (utf8) and group (int32). `metadata` (may be null) becomes the schema's metadata.
std::shared_ptr<arrow::RecordBatch> DocBatch(
    int64_t first_id, const std::vector<Doc>& docs,
    std::shared_ptr<const arrow::KeyValueMetadata> metadata = nullptr);

// Schema metadata {"longbow.text.columns": columns}.
std::shared_ptr<const arrow::KeyValueMetadata> TextColumnsMetadata(const std::string& columns);

}  // namespace arbalest::testing
