#include "flight/edge_put.h"

#include "common/json_util.h"

namespace arbalest {

std::optional<std::string> EdgeDataset(const arrow::flight::FlightDescriptor& descriptor) {
  if (descriptor.type != arrow::flight::FlightDescriptor::PATH || descriptor.path.size() != 2 ||
      descriptor.path[1] != kEdgesPathElement) {
    return std::nullopt;
  }
  return descriptor.path[0];
}

arrow::Status PutEdges(VectorStore& store, const std::string& name,
                       arrow::flight::FlightMessageReader& reader,
                       arrow::flight::FlightMetadataWriter& writer) {
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(name));
  while (true) {
    ARROW_ASSIGN_OR_RAISE(arrow::flight::FlightStreamChunk chunk, reader.Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;
      break;
    }
    ARROW_ASSIGN_OR_RAISE(int64_t edges, store.AddEdges(*dataset, *chunk.data));
    ARROW_RETURN_NOT_OK(
        writer.WriteMetadata(*JsonBuffer(Json{{"status", "acked"}, {"edges", edges}})));
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
