// Small helpers for the JSON documents of the protocol (tickets, action bodies, criteria).
// Every failure is an arrow::Status::Invalid whose message names the offending key, so the
// client learns exactly what to fix. No exceptions escape these functions.
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace arbalest {

using Json = nlohmann::json;

// The deepest nesting of arrays and objects a document may have. Deeper ones are refused
// before they are parsed: code that walks a document recursively (the filter compiler, the JSON
// printer) would run out of stack on a few hundred kilobytes of brackets.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as a JSON value. `what` names the document in errors ("ticket"). Invalid when
// it is not JSON or nests deeper than kMaxJsonDepth.
arrow::Result<Json> ParseJson(std::string_view text, std::string_view what);

// ParseJson, and Invalid unless the value is an object.
arrow::Result<Json> ParseJsonObject(std::string_view text, std::string_view what);

// Fails on the first key of `object` that is not in `allowed`, naming it.
arrow::Status CheckKnownKeys(const Json& object, std::initializer_list<std::string_view> allowed,
                             std::string_view what);

// The string under the first present key of `keys` (aliases), or nullopt when none is
// present. Invalid when the value is not a string.
arrow::Result<std::optional<std::string>> GetOptionalString(
    const Json& object, std::initializer_list<std::string_view> keys, std::string_view what);

// The integer under `key`, or nullopt when absent. Invalid when not an integer.
arrow::Result<std::optional<int64_t>> GetOptionalInt(const Json& object, std::string_view key,
                                                     std::string_view what);

// The number (integer or not) under `key`, or nullopt when absent. Invalid when not a number.
arrow::Result<std::optional<double>> GetOptionalNumber(const Json& object, std::string_view key,
                                                       std::string_view what);

// `json` serialized into a buffer (action results, PutResult metadata). Never throws: bytes of
// its strings that are not valid UTF-8 are replaced by U+FFFD.
std::shared_ptr<arrow::Buffer> JsonBuffer(const Json& json);

// A short, printable rendering of a JSON value for error messages.
std::string JsonForMessage(const Json& value);

}  // namespace arbalest
