#include "store/schema_options.h"

#include <arrow/status.h>

#include <array>
#include <vector>

namespace arbalest {
namespace {

// Every option a dataset reads from its schema metadata (dataset_index.h, dataset_text.h,
// dataset_layout.h document their values).
constexpr std::array<std::string_view, 11> kOptionNames = {"metric",
                                                           "index.m",
                                                           "index.ef_construction",
                                                           "index.quantization",
                                                           "index.pq_m",
                                                           "index.training_rows",
                                                           "index.build_precision",
                                                           "index.segment_max_bytes",
                                                           "text.columns",
                                                           kVectorColumnOption,
                                                           kUniqueIdOption};

bool IsOptionName(std::string_view name) {
  for (const auto known : kOptionNames) {
    if (known == name) return true;
  }
  return false;
}

// The bare option name `key` spells, "" for a key that is not an option (the user's own), or
// Invalid for an unknown name under one of our prefixes.
arrow::Result<std::string_view> OptionNameOf(std::string_view key) {
  for (const auto prefix : {kCanonicalPrefix, kArbalestPrefix}) {
    if (key.substr(0, prefix.size()) != prefix) continue;
    const std::string_view name = key.substr(prefix.size());
    if (!IsOptionName(name)) {
      return arrow::Status::Invalid("unknown schema metadata key '", std::string(key),
                                    "'; the known options are ", KnownOptionNames(), " (as '",
                                    std::string(kArbalestPrefix), "<name>', '",
                                    std::string(kCanonicalPrefix), "<name>' or '<name>')");
    }
    return name;
  }
  return IsOptionName(key) ? key : std::string_view();
}

}  // namespace

std::string KnownOptionNames() {
  std::string names;
  for (const auto name : kOptionNames) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

arrow::Result<std::map<std::string, std::string>> ParseOptions(
    const arrow::KeyValueMetadata* metadata) {
  std::map<std::string, std::string> options;
  std::map<std::string, std::string> spelled;  // option name -> the key that gave it
  if (!metadata) return options;
  for (int64_t i = 0; i < metadata->size(); ++i) {
    const std::string& key = metadata->key(i);
    ARROW_ASSIGN_OR_RAISE(const std::string_view name, OptionNameOf(key));
    if (name.empty()) continue;
    const std::string& value = metadata->value(i);
    auto [it, inserted] = options.emplace(std::string(name), value);
    if (!inserted && it->second != value) {
      return arrow::Status::Invalid("schema metadata keys '", spelled[it->first], "' and '", key,
                                    "' set option '", it->first, "' to different values ('",
                                    it->second, "' and '", value, "')");
    }
    spelled.emplace(std::string(name), key);
  }
  return options;
}

arrow::Result<std::shared_ptr<arrow::Schema>> CanonicalOptions(const arrow::Schema& schema) {
  const auto& metadata = schema.metadata();
  ARROW_ASSIGN_OR_RAISE(auto options, ParseOptions(metadata.get()));
  if (options.empty()) return std::make_shared<arrow::Schema>(schema);
  std::vector<std::string> keys, values;
  for (int64_t i = 0; i < metadata->size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(const std::string_view name, OptionNameOf(metadata->key(i)));
    if (!name.empty()) continue;
    keys.push_back(metadata->key(i));
    values.push_back(metadata->value(i));
  }
  for (const auto& [name, value] : options) {
    keys.push_back(std::string(kCanonicalPrefix) + name);
    values.push_back(value);
  }
  return schema.WithMetadata(arrow::key_value_metadata(std::move(keys), std::move(values)));
}

std::optional<std::string> CanonicalOption(const arrow::Schema& schema, std::string_view name) {
  const auto& metadata = schema.metadata();
  if (!metadata) return std::nullopt;
  const int index = metadata->FindKey(std::string(kCanonicalPrefix) + std::string(name));
  if (index < 0) return std::nullopt;
  return metadata->value(index);
}

arrow::Status CheckOptionsAgree(const arrow::Schema& put, const arrow::Schema& stored,
                                std::string_view dataset) {
  ARROW_ASSIGN_OR_RAISE(auto options, ParseOptions(put.metadata().get()));
  for (const auto& [name, value] : options) {
    const std::optional<std::string> current = CanonicalOption(stored, name);
    if (current == value) continue;
    return arrow::Status::Invalid(
        "schema metadata sets option '", name, "' to '", value, "', but dataset '", dataset,
        "' was created with ", current ? "'" + *current + "'" : std::string("its default"),
        "; options are set when a dataset is created (drop it and create it again to change "
        "them)");
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
