// DoExchange with the descriptor command "fetch" (protocol.md, "DoExchange fetch"): rows by id.
// The client streams batches with a utf8 column `dataset` (one name per batch) and a column
// `id` of ids; each batch is answered, in order, by one batch of the live rows carrying those
// ids (every stored column, in the dataset's row order), with app_metadata {"batch", "dataset",
// "requested", "rows", "missing": [ids no live row carries]}. A batch without an `id` column is
// answered as Longbow answers any DoExchange message, the way its operations script probes the
// data port: app_metadata {"status": "ack", "batch", "rows"} and no rows.
#pragma once

#include <arrow/flight/server.h>

#include "store/vector_store.h"

namespace arbalest {

arrow::Status ServeFetch(VectorStore& store, arrow::flight::FlightMessageReader& reader,
                         arrow::flight::FlightMessageWriter& writer);

}  // namespace arbalest
