#include "flight/catalog.h"

#include <arrow/builder.h>
#include <arrow/status.h>

#include "flight/filter_parser.h"
#include "flight/ticket.h"
#include "store/filter.h"

namespace arbalest {
namespace {

// One row per entry with the fields criteria filters may name.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CatalogBatch(
    const std::vector<CatalogEntry>& entries) {
  arrow::StringBuilder names;
  arrow::Int64Builder rows, bytes;
  arrow::Int32Builder dims;
  for (const CatalogEntry& entry : entries) {
    ARROW_RETURN_NOT_OK(names.Append(entry.name));
    ARROW_RETURN_NOT_OK(rows.Append(entry.rows));
    ARROW_RETURN_NOT_OK(bytes.Append(entry.bytes));
    ARROW_RETURN_NOT_OK(dims.Append(entry.dim));
  }
  auto schema =
      arrow::schema({arrow::field("name", arrow::utf8()), arrow::field("rows", arrow::int64()),
                     arrow::field("bytes", arrow::int64()), arrow::field("dim", arrow::int32())});
  arrow::ArrayVector columns(4);
  ARROW_RETURN_NOT_OK(names.Finish(&columns[0]));
  ARROW_RETURN_NOT_OK(rows.Finish(&columns[1]));
  ARROW_RETURN_NOT_OK(bytes.Finish(&columns[2]));
  ARROW_RETURN_NOT_OK(dims.Finish(&columns[3]));
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(entries.size()), columns);
}

}  // namespace

CatalogEntry LocalCatalogEntry(const Dataset& dataset) {
  const DatasetSnapshot snapshot = dataset.Snapshot();
  return CatalogEntry{dataset.name(),
                      snapshot.schema,
                      snapshot.live_rows(),
                      snapshot.num_rows - snapshot.live_rows(),
                      snapshot.num_bytes,
                      dataset.layout().vector.dim,
                      nullptr};
}

std::vector<CatalogEntry> LocalCatalog(const VectorStore& store, std::string_view name_part) {
  std::vector<CatalogEntry> entries;
  for (const auto& dataset : store.List()) {
    if (dataset->name().find(name_part) != std::string::npos) {
      entries.push_back(LocalCatalogEntry(*dataset));
    }
  }
  return entries;
}

Json DatasetStats(const Dataset& dataset) {
  const DatasetSnapshot snapshot = dataset.Snapshot();
  const DatasetLayout& layout = dataset.layout();
  Json columns = Json::array();
  for (const auto& field : snapshot.schema->fields()) columns.push_back(field->name());
  const bool assigned = layout.id_kind == IdKind::kAssigned;
  const CompactionTotals compactions = dataset.compaction_totals();
  Json text = nullptr;
  if (const auto index = dataset.text()) {
    const TextIndexStats stats = index->Stats();
    text = Json{{"columns", index->columns()},
                {"rows", stats.live_rows},
                {"terms", stats.terms},
                {"bytes", stats.total_bytes}};
  }
  Json quantization = nullptr;
  const HnswIndex& hnsw = *snapshot.segments.front().graph;
  if (hnsw.params().quantization != Quantization::kNone) {
    quantization =
        Json{{"type", QuantizationName(hnsw.params().quantization)}, {"trained", hnsw.quantized()}};
    if (hnsw.params().quantization == Quantization::kPq) quantization["pq_m"] = hnsw.params().pq_m;
  }
  return Json{{"dataset", dataset.name()},
              {"rows", snapshot.live_rows()},
              {"deleted_rows", snapshot.num_rows - snapshot.live_rows()},
              {"bytes", snapshot.num_bytes},
              {"batches", snapshot.batches.size()},
              {"dim", layout.vector.dim},
              {"vector_column", layout.vector.column},
              {"vector_type", VectorTypeName(*layout.vector.value_type)},
              {"id_type", assigned ? "uint64" : std::string(IdKindName(layout.id_kind))},
              {"ids_assigned", assigned},
              {"columns", std::move(columns)},
              {"indexed_rows", snapshot.indexed_rows},
              {"index_bytes", dataset.index_memory()},
              {"index_restored_rows", dataset.index().restored_rows()},
              {"index_graph_bytes", GraphMemory(snapshot.segments).graph_bytes},
              {"segments", snapshot.segments.size()},
              {"shared_vector_rows", dataset.shared_vector_rows()},
              {"quantization", std::move(quantization)},
              {"index", Json{{"metric", std::string(MetricName(hnsw.metric()))},
                             {"m", hnsw.params().m},
                             {"ef_construction", hnsw.params().ef_construction},
                             {"build_precision",
                              std::string(simd::ElementTypeName(hnsw.build_element_type()))}}},
              {"snapshot_lsn", dataset.saved_snapshot().lsn},
              {"compactions", compactions.compactions},
              {"reclaimed_rows", compactions.reclaimed_rows},
              {"text_index", std::move(text)}};
}

arrow::Result<CatalogCriteria> ParseCatalogCriteria(std::string_view text) {
  CatalogCriteria criteria;
  if (text.empty()) return criteria;
  constexpr std::string_view what = "ListFlights criteria";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(text, what));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      request, {"name", "filters", "local_only", "require_all", "timeout_ms"}, what));
  ARROW_ASSIGN_OR_RAISE(criteria.name, GetOptionalString(request, {"name"}, what));
  if (auto filters = request.find("filters"); filters != request.end()) {
    ARROW_ASSIGN_OR_RAISE(criteria.filters, ParseFilterExpr(*filters));
  }
  ARROW_ASSIGN_OR_RAISE(criteria.fan_out, ParseFanOutOptions(request, what));
  return criteria;
}

arrow::Result<std::vector<CatalogEntry>> SelectEntries(std::vector<CatalogEntry> entries,
                                                       const CatalogCriteria& criteria) {
  if (criteria.name) {
    std::erase_if(entries, [&](const CatalogEntry& entry) {
      return entry.name.find(*criteria.name) == std::string::npos;
    });
  }
  if (!criteria.filters) return entries;
  ARROW_ASSIGN_OR_RAISE(auto catalog, CatalogBatch(entries));
  ARROW_ASSIGN_OR_RAISE(auto filter, CompileFilter(*criteria.filters, *catalog->schema()));
  ARROW_ASSIGN_OR_RAISE(auto selected, ApplyFilter(filter, catalog));
  const auto& selected_names = static_cast<const arrow::StringArray&>(*selected->column(0));
  std::vector<CatalogEntry> result;
  for (int64_t i = 0; i < selected_names.length(); ++i) {
    for (const CatalogEntry& entry : entries) {
      if (entry.name == selected_names.GetView(i)) result.push_back(entry);
    }
  }
  return result;
}

}  // namespace arbalest
