// What a dataset's schema says about its vectors and ids, and how an incoming batch is made to
// fit the dataset: the validation half of DoPut, kept apart from storage so it can be tested
// alone and reused by the WAL replay path.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace arbalest {

// Where the user's ids come from. kAssigned: the put has no `id` column and the server numbers
// rows 0, 1, 2, ... in a uint64 `id` column it prepends to the stored schema.
enum class IdKind { kInt64, kUInt64, kUtf8, kAssigned };
std::string_view IdKindName(IdKind kind);

inline constexpr std::string_view kIdColumn = "id";
// The widest vectors any dataset may have, whatever --max-dimension says (the top of its range;
// 0 there means up to this). Checked by InspectPutSchema, so that a dataset created from a
// logged schema (replay never applies --max-dimension) cannot make its index allocate
// gigabytes for one row's width.
inline constexpr int32_t kMaxVectorDimension = int32_t{1} << 24;

// The vector column as stored: float64 input is stored as float32.
struct VectorSpec {
  std::string column;                           // "vector", "embedding" or as the options name it
  std::shared_ptr<arrow::DataType> value_type;  // float32, float16, int8 or uint8
  int32_t dim = 0;
};

// The user-facing name of a stored vector element type: float32, float16, int8 or uint8
// (Arrow's own names are "float" and "halffloat").
std::string_view VectorTypeName(const arrow::DataType& value_type);

// The facts about a dataset's shape that every put must agree with.
struct DatasetLayout {
  VectorSpec vector;
  IdKind id_kind = IdKind::kAssigned;
  // Schema option `unique_id` ("true" or "false", any case; schema_options.h): the `id` column
  // is a key. A put then replaces the rows whose ids it carries (an upsert), and ids repeated
  // within one batch keep their last row. Needs an `id` column (int64, uint64 or utf8).
  bool unique_id = false;
};

// Whether `schema`'s canonical `unique_id` option is "true" (false when absent); Invalid for a
// value other than "true" or "false". A stored schema keeps its put's options, so this says of a
// dataset's scan (another node's copy included) whether its ids are unique.
arrow::Result<bool> UniqueIdOption(const arrow::Schema& schema);

// Validates a put's schema: exactly one vector column of type
// FixedSizeList<float32|float16|int8|uint8|float64, d> (0 < d <= kMaxVectorDimension), an optional
// `id` column of int64, uint64 or utf8, and no duplicate column names; the canonical
// `longbow.unique_id` option, if any, is "true" or "false" and, when true, comes with an `id`
// column. The vector column is `vector_column` when given, else the column the canonical option
// `longbow.vector_column` names (schema_options.h), else `vector`, else `embedding`. Invalid names
// the offending column.
arrow::Result<DatasetLayout> InspectPutSchema(const arrow::Schema& put_schema,
                                              std::string_view vector_column = {});

// The schema a dataset created from `put_schema` stores: float64 vectors become float32 and,
// without an `id` column, a non-null uint64 `id` column comes first.
arrow::Result<std::shared_ptr<arrow::Schema>> StoredSchemaFor(const arrow::Schema& put_schema);

// Checks that batches of `put_schema` fit a dataset whose stored schema is `stored`: the layout
// agrees (vector column, type, width, ids), every stored column is present by name with its
// type, extra columns are nullable, and every name is valid UTF-8. Invalid names the first
// mismatch.
arrow::Status CheckPutSchema(const arrow::Schema& put_schema, const arrow::Schema& stored,
                             const DatasetLayout& layout, std::string_view dataset);

// An incoming batch reshaped to the dataset's stored schema.
struct ConformedBatch {
  std::shared_ptr<arrow::RecordBatch> batch;  // columns in stored order (+ appended new ones)
  // The dataset's new schema when the put appended nullable columns, else null.
  std::shared_ptr<arrow::Schema> evolved_schema;
};

// Makes `batch` fit a dataset whose stored schema is `stored` and layout `layout`:
// checks row count, vector type and width, ids, column names and types (matched by name;
// the stored order wins), the values (value_checks.h: valid Arrow, valid UTF-8, finite vector
// elements), converts float64 vectors, rejects null vectors and null ids, appends new nullable
// columns (schema evolution), and for kAssigned ids prepends ids starting at
// `first_assigned_id`. `dataset` only names the dataset in messages. Invalid on any mismatch,
// naming the column and both types, or the column and row of a bad value.
arrow::Result<ConformedBatch> ConformBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                           const std::shared_ptr<arrow::Schema>& stored,
                                           const DatasetLayout& layout, uint64_t first_assigned_id,
                                           std::string_view dataset);

// The Arrow bytes of `batches` (the sizes of their buffers): what the memory budget charges.
int64_t BatchBytes(std::span<const std::shared_ptr<arrow::RecordBatch>> batches);

}  // namespace arbalest
