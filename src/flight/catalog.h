// What the server says about its datasets: the catalog entries of ListFlights, GetFlightInfo and
// GetSchema (catalog_entry.h), the ListFlights criteria of protocol.md, and the JSON of the
// `stats` action.
#pragma once

#include <arrow/result.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "flight/catalog_entry.h"
#include "flight/cluster_hooks.h"
#include "store/filter_expr.h"
#include "store/vector_store.h"

namespace arbalest {

// The entry of one local dataset (no `cluster`).
CatalogEntry LocalCatalogEntry(const Dataset& dataset);

// Every local dataset's entry (`name_part`: only those whose name holds it).
std::vector<CatalogEntry> LocalCatalog(const VectorStore& store, std::string_view name_part = {});

// ListFlights criteria: empty (every dataset), or JSON {"name": "substring", "filters": [...]}
// whose filters see the columns name, rows, bytes, dim, and the cluster keys local_only,
// require_all and timeout_ms.
struct CatalogCriteria {
  std::optional<std::string> name;
  std::optional<FilterExpr> filters;
  FanOutOptions fan_out;
};
arrow::Result<CatalogCriteria> ParseCatalogCriteria(std::string_view criteria);

// The entries of `entries` that match `criteria`'s name and filters, in their order.
arrow::Result<std::vector<CatalogEntry>> SelectEntries(std::vector<CatalogEntry> entries,
                                                       const CatalogCriteria& criteria);

// The `stats` of one dataset: rows (live rows), deleted_rows (deleted, still stored until
// compaction), bytes (stored, deleted rows included), batches, dim, vector column and type, id
// type, columns, indexed rows (and how many of them were mapped from a snapshot at startup), and
// the LSN of its latest snapshot (0: none).
Json DatasetStats(const Dataset& dataset);

}  // namespace arbalest
