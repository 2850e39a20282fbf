// DoExchange of protocol.md, three conversations on one bidirectional stream:
//
//  - descriptor CMD "VectorSearch": the client sends batches of queries with columns `dataset`
//    (utf8), `query_vector` (FixedSizeList or List of float32/float64), and optionally `k`
//    (integer, default 10) and `ef` (integer). For each query, in order, the server writes one
//    batch, the query's search result in the schema of a DoGet search, with app_metadata
//    {"query": i, "dataset": name, "rows": n}. All results of one exchange share one schema,
//    so every query must go to datasets whose results have the same columns. On a cluster node
//    (ServiceOptions::cluster) each query fans out to the members (optional columns
//    `local_only`, `require_all` boolean and `timeout_ms` integer, as the search keys), and the
//    app_metadata names those missing from its result under "missing_nodes".
//  - descriptor CMD "fetch": rows by id (exchange_fetch.h).
//  - descriptor PATH ["ingest", dataset]: each batch is stored as by DoPut and answered, once
//    durable, with app_metadata {"status":"acked","batch_id":n,"rows":r,"seq":s}.
#pragma once

#include <arrow/flight/server.h>

#include "flight/flight_service.h"

namespace arbalest {

arrow::Status ServeExchange(VectorStore& store, const ServiceOptions& options,
                            arrow::flight::FlightMessageReader& reader,
                            arrow::flight::FlightMessageWriter& writer);

}  // namespace arbalest
