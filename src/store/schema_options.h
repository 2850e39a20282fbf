// The dataset options a put's schema metadata carries (metric, index parameters, text columns,
// vector column, unique ids), under any of three spellings: `longbow.<name>` (the canonical one,
// what the WAL and snapshots record), `arbalest.<name>` and the bare `<name>`. Only the new-dataset
// path reads these spellings: it rewrites them to the canonical keys first (CanonicalOptions), so
// that everything downstream, and the replay of logs written before the other spellings were
// accepted, reads `longbow.` keys only.
#pragma once

#include <arrow/result.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace arbalest {

inline constexpr std::string_view kCanonicalPrefix = "longbow.";
inline constexpr std::string_view kArbalestPrefix = "arbalest.";

// Option names without prefix: "metric", "index.m", ..., "text.columns", "vector_column".
inline constexpr std::string_view kVectorColumnOption = "vector_column";
// "true": the dataset's `id` column is a key, and a put replaces the rows whose ids it carries
// (DatasetLayout::unique_id).
inline constexpr std::string_view kUniqueIdOption = "unique_id";

// The known option names, comma-separated, for error messages.
std::string KnownOptionNames();

// The options in `metadata` by bare name, whatever their spelling. Invalid naming the key when
// a `longbow.`/`arbalest.` key names no known option (the message lists the known ones), or
// when two spellings of one option give different values. Other keys (a bare key that is no
// option name, pandas' own metadata, ...) are the user's and are ignored.
arrow::Result<std::map<std::string, std::string>> ParseOptions(
    const arrow::KeyValueMetadata* metadata);

// `schema` with its options rewritten to their canonical `longbow.` keys (other keys kept as
// they are). Invalid as ParseOptions.
arrow::Result<std::shared_ptr<arrow::Schema>> CanonicalOptions(const arrow::Schema& schema);

// The value of option `name` under its canonical key, if `schema` has it.
std::optional<std::string> CanonicalOption(const arrow::Schema& schema, std::string_view name);

// Checks that a later put's options (any spelling) agree with those its dataset was created
// with (`stored`, canonical): options are set when a dataset is created, so a put that asks
// for another metric, say, is refused rather than silently ignored. Invalid naming the option,
// both values and the dataset.
arrow::Status CheckOptionsAgree(const arrow::Schema& put, const arrow::Schema& stored,
                                std::string_view dataset);

}  // namespace arbalest
