#include "flight/catalog_entry.h"

#include <arrow/ipc/api.h>
#include <arrow/status.h>

#include "flight/ticket.h"

namespace arbalest {

namespace fl = arrow::flight;

arrow::Result<fl::FlightInfo> MakeFlightInfo(const CatalogEntry& entry) {
  fl::FlightEndpoint endpoint;
  endpoint.ticket.ticket = ScanTicketFor(entry.name);
  Json metadata = entry.cluster.is_object() ? entry.cluster : Json::object();
  metadata["dim"] = entry.dim;
  metadata["deleted_rows"] = entry.deleted_rows;
  return fl::FlightInfo::Make(*entry.schema, fl::FlightDescriptor::Path({entry.name}), {endpoint},
                              entry.rows, entry.bytes, /*ordered=*/true, metadata.dump());
}

arrow::Result<CatalogEntry> CatalogEntryOf(const fl::FlightInfo& info) {
  const fl::FlightDescriptor& descriptor = info.descriptor();
  if (descriptor.type != fl::FlightDescriptor::PATH || descriptor.path.size() != 1) {
    return arrow::Status::Invalid("a member listed a flight without a one-element PATH: ",
                                  descriptor.ToString());
  }
  CatalogEntry entry;
  entry.name = descriptor.path[0];
  arrow::ipc::DictionaryMemo memo;
  ARROW_ASSIGN_OR_RAISE(entry.schema, info.GetSchema(&memo));
  entry.rows = info.total_records();
  entry.bytes = info.total_bytes();
  const std::string what = "the app_metadata of member flight '" + entry.name + "'";
  ARROW_ASSIGN_OR_RAISE(Json metadata, ParseJsonObject(info.app_metadata(), what));
  ARROW_ASSIGN_OR_RAISE(auto dim, GetOptionalInt(metadata, "dim", what));
  ARROW_ASSIGN_OR_RAISE(auto deleted, GetOptionalInt(metadata, "deleted_rows", what));
  if (!dim || !deleted) {
    return arrow::Status::Invalid(what, " lacks 'dim' or 'deleted_rows': ", metadata.dump());
  }
  entry.dim = static_cast<int32_t>(*dim);
  entry.deleted_rows = *deleted;
  return entry;
}

}  // namespace arbalest
