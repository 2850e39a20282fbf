// A small store the request fuzz targets (tickets, actions) run against, so that a request
// that parses is also served: three datasets of a few dozen rows, mostly indexed, some rows
// deleted, covering the id kinds, vector element types, metrics and column types that tickets,
// filters and searches treat differently. The seed corpora name these datasets and columns.
#pragma once

#include <memory>

#include "store/vector_store.h"

namespace arbalest::fuzz {

// The datasets (see fuzz_store.cc for their schemas):
//   docs   int64 ids, float32 vectors of width 4 (euclidean), a text column `body`, one column
//          of each filterable type; rows 0-15 of 24 indexed, ids 3 and 7 deleted.
//   codes  utf8 ids, float16 vectors of width 3 (cosine); all 6 rows indexed.
//   auto   ids assigned by the server, int8 vectors of width 2 (dot_product); none indexed.
// With `fully_indexed` every row is indexed (check_readiness then answers READY at once instead
// of waiting out its "wait"). Aborts when the store cannot be built (a bug of this fixture, not
// of an input).
std::unique_ptr<VectorStore> MakeFuzzStore(bool fully_indexed = false);

}  // namespace arbalest::fuzz
