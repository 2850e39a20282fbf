#include "flight/text_stats.h"

#include <arrow/status.h>

#include "store/dataset_text.h"

namespace arbalest {
namespace {

constexpr std::string_view kActionBody = "body of action 'text-stats'";

arrow::Result<uint64_t> Count(const Json& json, std::string_view key, std::string_view what) {
  auto it = json.find(key);
  if (it == json.end()) return arrow::Status::Invalid(what, " needs '", key, "'");
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    return arrow::Status::Invalid("'", key, "' in ", what, " must be a non-negative integer, got ",
                                  JsonForMessage(*it));
  }
  return it->get<uint64_t>();
}

}  // namespace

Json Bm25StatsToJson(const Bm25Stats& stats) {
  Json doc_freq = Json::object();
  for (const auto& [term, freq] : stats.doc_freq) doc_freq[term] = freq;
  return Json{{"docs", stats.docs},
              {"total_length", stats.total_length},
              {"doc_freq", std::move(doc_freq)}};
}

arrow::Result<Bm25Stats> Bm25StatsFromJson(const Json& json, std::string_view what) {
  if (!json.is_object()) {
    return arrow::Status::Invalid(what, " must be a JSON object {\"docs\", \"total_length\", ",
                                  "\"doc_freq\"}, got ", JsonForMessage(json));
  }
  ARROW_RETURN_NOT_OK(CheckKnownKeys(json, {"docs", "total_length", "doc_freq"}, what));
  Bm25Stats stats;
  ARROW_ASSIGN_OR_RAISE(stats.docs, Count(json, "docs", what));
  ARROW_ASSIGN_OR_RAISE(stats.total_length, Count(json, "total_length", what));
  auto doc_freq = json.find("doc_freq");
  if (doc_freq == json.end()) return arrow::Status::Invalid(what, " needs 'doc_freq'");
  if (!doc_freq->is_object()) {
    return arrow::Status::Invalid("'doc_freq' in ", what,
                                  " must be an object of term: document count, got ",
                                  JsonForMessage(*doc_freq));
  }
  for (const auto& [term, freq] : doc_freq->items()) {
    ARROW_ASSIGN_OR_RAISE(uint64_t count, Count(*doc_freq, term, "'doc_freq'"));
    if (count > stats.docs) {
      return arrow::Status::Invalid("'doc_freq' in ", what, ": term '", term, "' is in ", count,
                                    " documents, more than 'docs' (", stats.docs, ")");
    }
    stats.doc_freq[term] = count;
  }
  return stats;
}

arrow::Result<Json> TextStatsAction(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, kActionBody));
  ARROW_RETURN_NOT_OK(
      CheckKnownKeys(request, {"dataset", "text_query", "local_only"}, kActionBody));
  ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(request, {"dataset"}, kActionBody));
  if (!name) return arrow::Status::Invalid(kActionBody, " needs 'dataset'");
  ARROW_ASSIGN_OR_RAISE(auto query, GetOptionalString(request, {"text_query"}, kActionBody));
  if (!query) return arrow::Status::Invalid(kActionBody, " needs 'text_query'");
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
  const auto text = dataset->text();
  if (text == nullptr) {
    return arrow::Status::Invalid("action 'text-stats': dataset '", *name,
                                  "' has no full-text columns");
  }
  return Bm25StatsToJson(text->QueryStats(*query));
}

}  // namespace arbalest
