#include "flight/flight_service.h"

#include <arrow/buffer.h>
#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <thread>

#include "common/json_util.h"
#include "flight/actions.h"
#include "flight/call_credentials.h"
#include "flight/catalog.h"
#include "flight/cluster_search.h"
#include "flight/edge_put.h"
#include "flight/exchange.h"
#include "flight/ingest_stream.h"
#include "flight/rpc_metrics.h"
#include "flight/segment_shipping.h"
#include "flight/ticket.h"
#include "store/scan.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// The dataset named by a PATH descriptor.
arrow::Result<std::string> DatasetOf(const fl::FlightDescriptor& descriptor) {
  if (descriptor.type != fl::FlightDescriptor::PATH || descriptor.path.size() != 1) {
    return arrow::Status::Invalid(
        "the descriptor must be a PATH with one element, the dataset name "
        "(FlightDescriptor.for_path(name)); got ",
        descriptor.ToString());
  }
  return descriptor.path[0];
}

// gRPC ends the stream of a call it fails (a message over the receive limit) before it marks
// the call cancelled. A put without batches would create its dataset from the schema alone, so
// it gives the mark a moment to arrive first; puts with batches never wait (their dataset
// exists already).
void WaitForLateCancellation(const fl::ServerCallContext& context) {
  constexpr auto kGrace = std::chrono::milliseconds(100);
  const auto deadline = std::chrono::steady_clock::now() + kGrace;
  while (!context.is_cancelled() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A routed put's way into this node's store.
LocalPuts LocalPutsOf(VectorStore& store, const ServiceOptions& options) {
  return LocalPuts{
      [&store, null_sink = options.null_sink](const std::string& dataset, HeldIds held_ids) {
        return std::unique_ptr<PutSink>(
            std::make_unique<IngestStream>(store, dataset, null_sink, held_ids));
      },
      [&store](const std::string& dataset) { return store.Get(dataset).ok(); },
      [&store](const std::string& dataset) { return store.Drop(dataset); },
      [&store](const std::string& dataset, const Json& ids) -> arrow::Result<int64_t> {
        const Json body{{"dataset", dataset}, {"ids", ids}};
        ARROW_ASSIGN_OR_RAISE(auto replies, RunAction(store, "delete", body.dump(), nullptr));
        ARROW_ASSIGN_OR_RAISE(Json answer, ParseJson(replies.front()->ToString(), "delete"));
        return answer.value("deleted", int64_t{0});
      },
      [&store](const std::string& dataset,
               const SegmentMutation& segment) -> arrow::Result<int64_t> {
        auto found = store.Get(dataset);
        if (!found.ok() && found.status().IsKeyError() && !segment.batches.empty()) {
          found = store.GetOrCreate(dataset, *segment.batches.front()->schema());
        }
        ARROW_RETURN_NOT_OK(found.status());
        return store.AdoptSegment(**found, segment);
      },
      [&store](const std::string& dataset) -> arrow::Result<RestoredIndex> {
        ARROW_ASSIGN_OR_RAISE(auto found, store.Get(dataset));
        return RestoredIndex{found->num_rows(), found->saved_snapshot().indexed_rows};
      },
      [&store](const std::string& dataset) -> arrow::Result<LocalPuts::SnapshotWait> {
        Snapshotter* snapshotter = store.snapshotter();
        if (!snapshotter) return arrow::Status::NotImplemented("snapshots are off on this node");
        ARROW_ASSIGN_OR_RAISE(auto done, snapshotter->Enqueue(dataset));
        return [done = done.share()](
                   std::chrono::milliseconds wait) -> arrow::Result<std::optional<Json>> {
          if (done.wait_for(wait) != std::future_status::ready) return std::nullopt;
          const Snapshotter::Reports& reports = done.get();
          ARROW_RETURN_NOT_OK(reports.status());
          if (reports->empty()) return arrow::Status::IOError("the snapshot wrote nothing");
          return SnapshotReportJson(reports->front());
        };
      }};
}

// The stream DoGet answers for `bytes`, a ticket.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenTicket(VectorStore& store,
                                                                    ClusterHooks* cluster,
                                                                    ServerMetrics* metrics,
                                                                    const std::string& bytes) {
  if (auto segment = OpenShardSegmentTicket(store, bytes)) return std::move(*segment);
  ARROW_ASSIGN_OR_RAISE(auto ticket, ParseTicket(bytes));
  if (const auto* search = std::get_if<ParsedSearch>(&ticket)) {
    ARROW_ASSIGN_OR_RAISE(auto found, SearchQuery(store, cluster, *search, 0, metrics));
    auto result = WithMissingNodes(std::move(found.batch), found.missing);
    return arrow::RecordBatchReader::Make({result}, result->schema());
  }
  return ScanReader(store, cluster, std::get<ScanTicket>(ticket));
}

// The bodies DoAction answers for `type` and `body`, its errors as the client sees them;
// `caller_token` as RunAction's.
arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> AnswerAction(
    VectorStore& store, ClusterHooks* cluster, ServerMetrics* metrics, std::string_view type,
    std::string_view body, const CallCancelled& call_cancelled,
    const std::string& caller_token = {}) {
  auto bodies = RunAction(store, type, body, metrics, call_cancelled, cluster, caller_token);
  if (!bodies.ok()) return ForClient(bodies.status());
  return bodies;
}

// A cluster node's way to its own shards without a Flight hop. The cluster is held by pointer:
// it owns what this returns.
LocalReads LocalReadsOf(std::shared_ptr<VectorStore> store, const ServiceOptions& options) {
  return LocalReads{
      [store, cluster = options.cluster.get(), metrics = options.metrics](
          const std::string& ticket) { return OpenTicket(*store, cluster, metrics.get(), ticket); },
      [store, cluster = options.cluster.get(), metrics = options.metrics](
          const std::string& type, const std::string& body) -> arrow::Result<Json> {
        ARROW_ASSIGN_OR_RAISE(auto bodies,
                              AnswerAction(*store, cluster, metrics.get(), type, body, nullptr));
        if (bodies.empty()) return arrow::Status::IOError("action '", type, "' answered nothing");
        return ParseJson(bodies.front()->ToString(), "the member's answer");
      },
      [store](const std::string& dataset) -> arrow::Result<DatasetSnapshot> {
        ARROW_ASSIGN_OR_RAISE(auto found, store->Get(dataset));
        return found->Snapshot();
      },
      // Shares the store's ownership: the budget lives as long as what the cluster charges.
      std::shared_ptr<MemoryBudget>(store, store->mutable_memory())};
}

}  // namespace

void FlightService::AttachToCluster() {
  if (!options_.cluster) return;
  options_.cluster->AttachLocal(LocalPutsOf(*store_, options_));
  options_.cluster->AttachLocalReads(LocalReadsOf(store_, options_));
}

arrow::Status FlightService::DoPut(const fl::ServerCallContext& context,
                                   std::unique_ptr<fl::FlightMessageReader> reader,
                                   std::unique_ptr<fl::FlightMetadataWriter> writer) {
  if (auto edges_of = EdgeDataset(reader->descriptor())) {
    return ForClient(PutEdges(*store_, *edges_of, *reader, *writer));
  }
  std::unique_ptr<PutSink> stream;
  if (options_.cluster) {
    // A put stream from another node: many slices, each answered on its own.
    if (auto served = options_.cluster->ServePutStream(reader->descriptor(), *reader, *writer,
                                                       LocalPutsOf(*store_, options_),
                                                       CallerToken(context))) {
      return ForClient(*served);
    }
    // A sharded dataset's put, or a shard's one-shot put from another node.
    ARROW_ASSIGN_OR_RAISE(auto put_schema, reader->GetSchema());
    ARROW_ASSIGN_OR_RAISE(
        stream, options_.cluster->OpenPut(reader->descriptor(), put_schema,
                                          LocalPutsOf(*store_, options_), CallerToken(context)));
  }
  if (!stream) {
    ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(reader->descriptor()));
    stream = options_.log_sink ? options_.log_sink->OpenStream(std::move(name))
                               : std::unique_ptr<PutSink>(std::make_unique<IngestStream>(
                                     *store_, name, options_.null_sink));
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  while (true) {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader->Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;  // metadata-only message: nothing to store
      break;
    }
    ARROW_ASSIGN_OR_RAISE(Json ack, stream->Append(chunk.data));
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(*JsonBuffer(ack)));
  }
  // The stream may have ended because gRPC failed the call (a message over
  // --max-message-size): it did not declare the dataset, and must not create it.
  if (stream->batches() == 0) WaitForLateCancellation(context);
  if (context.is_cancelled()) return arrow::Status::Cancelled("the put stream was cancelled");
  return ForClient(stream->Finish(*schema));
}

arrow::Status FlightService::DoExchange(const fl::ServerCallContext&,
                                        std::unique_ptr<fl::FlightMessageReader> reader,
                                        std::unique_ptr<fl::FlightMessageWriter> writer) {
  return ServeExchange(*store_, options_, *reader, *writer);
}

arrow::Status FlightService::DoGet(const fl::ServerCallContext&, const fl::Ticket& request,
                                   std::unique_ptr<fl::FlightDataStream>* stream) {
  ARROW_ASSIGN_OR_RAISE(auto reader, OpenTicket(*store_, options_.cluster.get(),
                                                options_.metrics.get(), request.ticket));
  *stream = std::make_unique<fl::RecordBatchStream>(std::move(reader));
  return arrow::Status::OK();
}

arrow::Result<std::vector<CatalogEntry>> FlightService::Catalog(
    std::string_view name_part, const FanOutOptions& fan_out) const {
  auto local = [this, name_part] { return LocalCatalog(*store_, name_part); };
  if (!options_.cluster || fan_out.local_only) return local();
  ARROW_ASSIGN_OR_RAISE(ClusterCatalog catalog,
                        options_.cluster->Catalog(name_part, fan_out, local));
  return std::move(catalog.entries);
}

arrow::Result<CatalogEntry> FlightService::CatalogEntryNamed(const std::string& name) const {
  ARROW_ASSIGN_OR_RAISE(std::vector<CatalogEntry> entries, Catalog(name, FanOutOptions{}));
  for (CatalogEntry& entry : entries) {
    if (entry.name == name) return std::move(entry);
  }
  return store_->Get(name).status();  // not held anywhere: the store's own error
}

arrow::Status FlightService::ListFlights(const fl::ServerCallContext&, const fl::Criteria* criteria,
                                         std::unique_ptr<fl::FlightListing>* listings) {
  ARROW_ASSIGN_OR_RAISE(CatalogCriteria parsed,
                        ParseCatalogCriteria(criteria ? criteria->expression : ""));
  ARROW_ASSIGN_OR_RAISE(std::vector<CatalogEntry> entries,
                        Catalog(parsed.name.value_or(""), parsed.fan_out));
  ARROW_ASSIGN_OR_RAISE(entries, SelectEntries(std::move(entries), parsed));
  std::vector<fl::FlightInfo> infos;
  infos.reserve(entries.size());
  for (const CatalogEntry& entry : entries) {
    ARROW_ASSIGN_OR_RAISE(auto info, MakeFlightInfo(entry));
    infos.push_back(std::move(info));
  }
  *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
  return arrow::Status::OK();
}

arrow::Status FlightService::GetFlightInfo(const fl::ServerCallContext&,
                                           const fl::FlightDescriptor& request,
                                           std::unique_ptr<fl::FlightInfo>* info) {
  ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(request));
  ARROW_ASSIGN_OR_RAISE(CatalogEntry entry, CatalogEntryNamed(name));
  ARROW_ASSIGN_OR_RAISE(auto flight_info, MakeFlightInfo(entry));
  *info = std::make_unique<fl::FlightInfo>(std::move(flight_info));
  return arrow::Status::OK();
}

arrow::Status FlightService::GetSchema(const fl::ServerCallContext&,
                                       const fl::FlightDescriptor& request,
                                       std::unique_ptr<fl::SchemaResult>* schema) {
  ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(request));
  // A dataset this node holds has its schema here; a sharded one only on its shards' replicas.
  std::shared_ptr<arrow::Schema> stored;
  if (auto dataset = store_->Get(name); dataset.ok()) {
    stored = (*dataset)->schema();
  } else {
    ARROW_ASSIGN_OR_RAISE(CatalogEntry entry, CatalogEntryNamed(name));
    stored = entry.schema;
  }
  ARROW_ASSIGN_OR_RAISE(*schema, fl::SchemaResult::Make(*stored));
  return arrow::Status::OK();
}

arrow::Status FlightService::ListActions(const fl::ServerCallContext&,
                                         std::vector<fl::ActionType>* actions) {
  *actions = SupportedActions();
  return arrow::Status::OK();
}

arrow::Status FlightService::DoAction(const fl::ServerCallContext& context,
                                      const fl::Action& action,
                                      std::unique_ptr<fl::ResultStream>* result) {
  LabelAction(context, action.type);
  const std::string_view body = action.body ? std::string_view(*action.body) : std::string_view();
  ARROW_ASSIGN_OR_RAISE(
      auto bodies, AnswerAction(
                       *store_, options_.cluster.get(), options_.metrics.get(), action.type, body,
                       [&context] { return context.is_cancelled(); }, CallerToken(context)));
  std::vector<fl::Result> results;
  for (auto& reply : bodies) results.push_back(fl::Result{std::move(reply)});
  *result = std::make_unique<fl::SimpleResultStream>(std::move(results));
  return arrow::Status::OK();
}

}  // namespace arbalest
