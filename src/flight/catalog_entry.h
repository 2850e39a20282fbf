// One dataset as ListFlights, GetFlightInfo and GetSchema describe it, and its FlightInfo.
//
// On a single node an entry is one local dataset. On a cluster node it is a logical dataset
// (cluster/catalog_merge.h): an unsharded dataset summed over the members holding it, a sharded
// one counted once, from one full replica of each shard. Members exchange their own entries as
// FlightInfos (a ListFlights with `"local_only": true`), so the FlightInfo must carry everything
// an entry holds: the counts a FlightInfo has no field for travel in its app_metadata (JSON,
// protocol.md).
#pragma once

#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/json_util.h"

namespace arbalest {

struct CatalogEntry {
  std::string name;
  std::shared_ptr<arrow::Schema> schema;  // as stored
  int64_t rows = 0;                       // live rows
  int64_t deleted_rows = 0;               // deleted, still stored until compaction
  int64_t bytes = 0;                      // stored, deleted rows included
  int32_t dim = 0;
  // On a cluster node: where the counts come from ({"nodes": [...]} or {"shards": N,
  // "replicas": [...]}, and "missing_nodes" / "missing_shards" when a part did not answer);
  // null on a single node or a local_only listing.
  Json cluster;
};

// The FlightInfo of `entry`: its schema, a PATH descriptor with its name, total_records (live
// rows), total_bytes, and one endpoint whose ticket scans the whole dataset on the server that
// answered (no location). app_metadata: {"dim", "deleted_rows"} plus the keys of `cluster`.
arrow::Result<arrow::flight::FlightInfo> MakeFlightInfo(const CatalogEntry& entry);

// The entry a member's FlightInfo describes (the inverse of MakeFlightInfo). Invalid, naming
// what is wrong, when it is not one of ours (no PATH descriptor, no app_metadata JSON).
arrow::Result<CatalogEntry> CatalogEntryOf(const arrow::flight::FlightInfo& info);

}  // namespace arbalest
