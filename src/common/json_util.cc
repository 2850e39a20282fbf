#include "common/json_util.h"

#include <arrow/status.h>

#include <algorithm>

namespace arbalest {

namespace {

// Whether the arrays and objects of `text` (brackets outside strings) nest deeper than `limit`.
bool NestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

arrow::Result<Json> ParseJson(std::string_view text, std::string_view what) {
  if (NestsDeeperThan(text, kMaxJsonDepth)) {
    return arrow::Status::Invalid(what, " nests arrays and objects deeper than ", kMaxJsonDepth,
                                  " levels");
  }
  Json parsed = Json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return arrow::Status::Invalid(what, " is not valid JSON");
  return parsed;
}

arrow::Result<Json> ParseJsonObject(std::string_view text, std::string_view what) {
  ARROW_ASSIGN_OR_RAISE(Json parsed, ParseJson(text, what));
  if (!parsed.is_object()) return arrow::Status::Invalid(what, " must be a JSON object");
  return parsed;
}

arrow::Status CheckKnownKeys(const Json& object, std::initializer_list<std::string_view> allowed,
                             std::string_view what) {
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
    std::string names;
    for (std::string_view name : allowed) {
      if (!names.empty()) names += ", ";
      names += name;
    }
    return arrow::Status::Invalid("unknown key '", item.key(), "' in ", what,
                                  " (known keys: ", names, ")");
  }
  return arrow::Status::OK();
}

arrow::Result<std::optional<std::string>> GetOptionalString(
    const Json& object, std::initializer_list<std::string_view> keys, std::string_view what) {
  for (std::string_view key : keys) {
    auto it = object.find(key);
    if (it == object.end()) continue;
    if (!it->is_string()) {
      return arrow::Status::Invalid("'", key, "' in ", what, " must be a string, got ",
                                    JsonForMessage(*it));
    }
    return it->get<std::string>();
  }
  return std::nullopt;
}

arrow::Result<std::optional<int64_t>> GetOptionalInt(const Json& object, std::string_view key,
                                                     std::string_view what) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number_integer()) {
    return arrow::Status::Invalid("'", key, "' in ", what, " must be an integer, got ",
                                  JsonForMessage(*it));
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return arrow::Status::Invalid("'", key, "' in ", what, " is out of range");
  }
  return it->get<int64_t>();
}

arrow::Result<std::optional<double>> GetOptionalNumber(const Json& object, std::string_view key,
                                                       std::string_view what) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number()) {
    return arrow::Status::Invalid("'", key, "' in ", what, " must be a number, got ",
                                  JsonForMessage(*it));
  }
  return it->get<double>();
}

std::shared_ptr<arrow::Buffer> JsonBuffer(const Json& json) {
  // Strings from stored rows may hold invalid UTF-8 (older builds stored it unchecked): such
  // bytes become U+FFFD instead of an exception.
  return arrow::Buffer::FromString(
      json.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace));
}

std::string JsonForMessage(const Json& value) {
  std::string text =
      value.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  constexpr size_t kMax = 80;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

}  // namespace arbalest
