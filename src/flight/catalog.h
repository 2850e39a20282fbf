// What the server says about its datasets: FlightInfo for GetFlightInfo/ListFlights, the JSON of
// the `stats` action, and the ListFlights criteria of protocol.md.
#pragma once

#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <memory>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "store/vector_store.h"

namespace arbalest {

// FlightInfo of `dataset`: stored schema, PATH descriptor, live rows, bytes, and one endpoint whose
// ticket scans the whole dataset on this server.
arrow::Result<arrow::flight::FlightInfo> MakeFlightInfo(const Dataset& dataset);

// The `stats` of one dataset: rows (live rows), deleted_rows (deleted, still stored until
// compaction), bytes (stored, deleted rows included), batches, dim, vector column and type, id
// type, columns.
Json DatasetStats(const Dataset& dataset);

// The datasets that match ListFlights `criteria`: empty (all), or JSON
// {"name":"substring","filters":[...]} whose filters see the columns name, rows, bytes, dim.
arrow::Result<std::vector<std::shared_ptr<Dataset>>> SelectDatasets(const VectorStore& store,
                                                                    std::string_view criteria);

}  // namespace arbalest
