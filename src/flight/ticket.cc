#include "flight/ticket.h"

#include <arrow/status.h>

#include "common/dataset_name.h"
#include "flight/filter_parser.h"
#include "flight/segment_shipping.h"

namespace arbalest {

arrow::Result<std::variant<ScanTicket, ParsedSearch>> ParseTicket(std::string_view ticket) {
  if (ticket.empty()) {
    return arrow::Status::Invalid("empty ticket: expected a dataset name or a JSON scan request");
  }
  ScanTicket result;
  if (ticket.front() != '{') {
    if (!IsValidDatasetName(ticket)) {
      return arrow::Status::Invalid("ticket is neither a JSON object nor a dataset name; ",
                                    ValidateDatasetName(ticket).message());
    }
    result.dataset = std::string(ticket);
    result.keys = Json{{"dataset", result.dataset}};
    return result;
  }
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(ticket, "ticket"));
  if (request.contains("search")) {
    ARROW_RETURN_NOT_OK(CheckKnownKeys(request, {"search"}, "search ticket"));
    return ParseSearch(request["search"], /*allow_batch=*/false, "search ticket");
  }
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request,
                                     {"dataset", "name", "filters", "limit", "columns",
                                      "local_only", "require_all", "timeout_ms", "after_segment"},
                                     "scan ticket"));
  ARROW_ASSIGN_OR_RAISE(result.fan_out, ParseFanOutOptions(request, "scan ticket"));
  ARROW_ASSIGN_OR_RAISE(auto dataset, GetOptionalString(request, {"dataset", "name"}, "ticket"));
  if (!dataset) return arrow::Status::Invalid("scan ticket needs 'dataset' (or 'name')");
  ARROW_RETURN_NOT_OK(ValidateDatasetName(*dataset));
  result.dataset = std::move(*dataset);
  if (auto filters = request.find("filters"); filters != request.end()) {
    ARROW_ASSIGN_OR_RAISE(result.options.filter, ParseFilters(*filters));
  }
  ARROW_ASSIGN_OR_RAISE(result.options.limit, GetOptionalInt(request, "limit", "scan ticket"));
  if (auto columns = request.find("columns"); columns != request.end()) {
    ARROW_ASSIGN_OR_RAISE(result.options.columns, ParseColumnList(*columns));
  }
  if (auto after = request.find("after_segment"); after != request.end()) {
    if (!result.fan_out.local_only) {
      return arrow::Status::Invalid(
          "scan ticket: 'after_segment' names a segment of one node's copy: it needs "
          "'local_only': true");
    }
    constexpr std::string_view what = "scan ticket's 'after_segment'";
    if (after->is_object()) {
      ARROW_RETURN_NOT_OK(CheckKnownKeys(*after, {"first_row", "rows", "graph"}, what));
    }
    ARROW_ASSIGN_OR_RAISE(result.options.after_segment, SegmentRefFromJson(*after, what));
  }
  result.keys = std::move(request);
  return result;
}

std::string ScanTicketFor(std::string_view dataset) { return Json{{"dataset", dataset}}.dump(); }

}  // namespace arbalest
