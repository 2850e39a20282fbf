#include "flight/segment_shipping.h"

#include <arrow/status.h>

#include <charconv>

namespace arbalest {
namespace {

constexpr std::string_view kActionBody = "action 'shard-segments' body";
constexpr std::string_view kTicket = "a shard_segment ticket";

}  // namespace

Json SegmentRefJson(const SegmentRef& segment) {
  return {{"first_row", segment.first_row},
          {"rows", segment.rows},
          {"graph", std::to_string(segment.graph)}};
}

arrow::Result<SegmentRef> SegmentRefFromJson(const Json& json, std::string_view what) {
  if (!json.is_object()) return arrow::Status::Invalid(what, " is not an object");
  SegmentRef segment;
  ARROW_ASSIGN_OR_RAISE(auto first_row, GetOptionalInt(json, "first_row", what));
  ARROW_ASSIGN_OR_RAISE(auto rows, GetOptionalInt(json, "rows", what));
  ARROW_ASSIGN_OR_RAISE(auto graph, GetOptionalString(json, {"graph"}, what));
  if (!first_row || !rows || !graph || *first_row < 0 || *rows <= 0) {
    return arrow::Status::Invalid(
        what, " needs first_row >= 0, rows > 0 and graph: ", JsonForMessage(json));
  }
  auto [ptr, ec] = std::from_chars(graph->data(), graph->data() + graph->size(), segment.graph);
  if (ec != std::errc() || ptr != graph->data() + graph->size()) {
    return arrow::Status::Invalid(what, ": graph must be a decimal string, got '", *graph, "'");
  }
  segment.first_row = *first_row;
  segment.rows = *rows;
  return segment;
}

arrow::Result<Json> ShardSegmentsAction(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, kActionBody));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request, {"dataset", "local_only"}, kActionBody));
  ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(request, {"dataset"}, kActionBody));
  if (!name) return arrow::Status::Invalid(kActionBody, " needs 'dataset'");
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
  const DatasetSnapshot view = dataset->Snapshot();
  Json segments = Json::array();
  for (const SegmentRef& segment : AdoptableSegments(view))
    segments.push_back(SegmentRefJson(segment));
  return Json{{"dataset", *name}, {"rows", view.num_rows}, {"segments", std::move(segments)}};
}

arrow::Result<std::vector<SegmentRef>> SegmentsFromAnswer(const Json& answer) {
  if (!answer.is_object() || !answer.contains("segments") || !answer["segments"].is_array()) {
    return arrow::Status::Invalid("a shard-segments answer without segments: ",
                                  JsonForMessage(answer));
  }
  std::vector<SegmentRef> segments;
  for (const Json& segment : answer["segments"]) {
    ARROW_ASSIGN_OR_RAISE(segments.emplace_back(),
                          SegmentRefFromJson(segment, "a segment of a shard-segments answer"));
  }
  return segments;
}

std::string ShardSegmentTicket(const std::string& dataset, const SegmentRef& segment) {
  Json keys = SegmentRefJson(segment);
  keys["dataset"] = dataset;
  return Json{{kShardSegmentTicketKey, std::move(keys)}}.dump();
}

std::optional<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>> OpenShardSegmentTicket(
    VectorStore& store, std::string_view ticket) {
  // Most tickets are scans and searches: those are not parsed twice.
  if (ticket.find(kShardSegmentTicketKey) == std::string_view::npos) return std::nullopt;
  auto json = ParseJsonObject(ticket, "ticket");
  if (!json.ok() || !json->contains(kShardSegmentTicketKey)) return std::nullopt;
  auto open = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_RETURN_NOT_OK(CheckKnownKeys(*json, {kShardSegmentTicketKey, "local_only"}, kTicket));
    const Json& keys = (*json)[kShardSegmentTicketKey];
    if (!keys.is_object()) return arrow::Status::Invalid(kTicket, " is not an object");
    ARROW_RETURN_NOT_OK(CheckKnownKeys(keys, {"dataset", "first_row", "rows", "graph"}, kTicket));
    ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(keys, {"dataset"}, kTicket));
    if (!name) return arrow::Status::Invalid(kTicket, " needs 'dataset'");
    ARROW_ASSIGN_OR_RAISE(SegmentRef segment, SegmentRefFromJson(keys, kTicket));
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
    return SegmentChunks(*dataset, segment);
  };
  return open();
}

}  // namespace arbalest
