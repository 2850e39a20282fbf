#include "flight/flight_service.h"

#include <arrow/buffer.h>
#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include "common/json_util.h"
#include "flight/actions.h"
#include "flight/catalog.h"
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

// Arrow Flight's gRPC transport has no path to RESOURCE_EXHAUSTED: a refusal for lack of
// memory travels as UNAVAILABLE (retry later), keeping the Arrow CapacityError code in the
// status headers for Arrow clients.
arrow::Status ForClient(arrow::Status status) {
  if (!status.IsCapacityError()) return status;
  return status.WithMessage("resource exhausted: ", status.message())
      .WithDetail(std::make_shared<fl::FlightStatusDetail>(fl::FlightStatusCode::Unavailable));
}

Json AckJson(const PutAck& ack) {
  Json json{{"status", "acked"}, {"rows", ack.rows}, {"seq", ack.seq}};
  if (ack.slow_down) {
    json["slow_down"] = true;
    json["reason"] = "memory use is past 90% of --max-memory";
  }
  return json;
}

}  // namespace

arrow::Status FlightService::DoPut(const fl::ServerCallContext&,
                                   std::unique_ptr<fl::FlightMessageReader> reader,
                                   std::unique_ptr<fl::FlightMetadataWriter> writer) {
  ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(reader->descriptor()));
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  std::shared_ptr<Dataset> dataset;
  int64_t batch_index = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader->Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;  // metadata-only message: nothing to store
      break;
    }
    arrow::Result<PutAck> ack = PutAck{chunk.data->num_rows(), 0, false};
    if (!options_.null_sink) {
      ack =
          dataset ? store_->Append(*dataset, chunk.data) : store_->Put(name, chunk.data, &dataset);
    }
    if (!ack.ok()) {
      spdlog::debug("DoPut '{}' batch {} rejected: {}", name, batch_index, ack.status().message());
      return ForClient(
          ack.status().WithMessage("batch ", batch_index, " rejected: ", ack.status().message()));
    }
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(*JsonBuffer(AckJson(*ack))));
    ++batch_index;
  }
  if (batch_index == 0 && !options_.null_sink) {
    // A stream with a schema and no batches declares the dataset.
    ARROW_RETURN_NOT_OK(store_->GetOrCreate(name, *schema).status());
  }
  return arrow::Status::OK();
}

arrow::Status FlightService::DoGet(const fl::ServerCallContext&, const fl::Ticket& request,
                                   std::unique_ptr<fl::FlightDataStream>* stream) {
  ARROW_ASSIGN_OR_RAISE(auto ticket, ParseTicket(request.ticket));
  std::shared_ptr<arrow::RecordBatchReader> reader;
  if (const auto* search = std::get_if<ParsedSearch>(&ticket)) {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store_->Get(search->dataset));
    ARROW_ASSIGN_OR_RAISE(auto result,
                          TimedSearch(*dataset, search->queries.front(), options_.metrics.get()));
    ARROW_ASSIGN_OR_RAISE(reader, arrow::RecordBatchReader::Make({result}, result->schema()));
  } else {
    const auto& scan = std::get<ScanTicket>(ticket);
    ARROW_ASSIGN_OR_RAISE(auto dataset, store_->Get(scan.dataset));
    ARROW_ASSIGN_OR_RAISE(reader, ScanSnapshot(dataset->Snapshot(), scan.options));
  }
  *stream = std::make_unique<fl::RecordBatchStream>(std::move(reader));
  return arrow::Status::OK();
}

arrow::Status FlightService::ListFlights(const fl::ServerCallContext&, const fl::Criteria* criteria,
                                         std::unique_ptr<fl::FlightListing>* listings) {
  ARROW_ASSIGN_OR_RAISE(auto datasets,
                        SelectDatasets(*store_, criteria ? criteria->expression : ""));
  std::vector<fl::FlightInfo> infos;
  infos.reserve(datasets.size());
  for (const auto& dataset : datasets) {
    ARROW_ASSIGN_OR_RAISE(auto info, MakeFlightInfo(*dataset));
    infos.push_back(std::move(info));
  }
  *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
  return arrow::Status::OK();
}

arrow::Status FlightService::GetFlightInfo(const fl::ServerCallContext&,
                                           const fl::FlightDescriptor& request,
                                           std::unique_ptr<fl::FlightInfo>* info) {
  ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(request));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store_->Get(name));
  ARROW_ASSIGN_OR_RAISE(auto flight_info, MakeFlightInfo(*dataset));
  *info = std::make_unique<fl::FlightInfo>(std::move(flight_info));
  return arrow::Status::OK();
}

arrow::Status FlightService::GetSchema(const fl::ServerCallContext&,
                                       const fl::FlightDescriptor& request,
                                       std::unique_ptr<fl::SchemaResult>* schema) {
  ARROW_ASSIGN_OR_RAISE(std::string name, DatasetOf(request));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store_->Get(name));
  ARROW_ASSIGN_OR_RAISE(*schema, fl::SchemaResult::Make(*dataset->schema()));
  return arrow::Status::OK();
}

arrow::Status FlightService::ListActions(const fl::ServerCallContext&,
                                         std::vector<fl::ActionType>* actions) {
  *actions = SupportedActions();
  return arrow::Status::OK();
}

arrow::Status FlightService::DoAction(const fl::ServerCallContext&, const fl::Action& action,
                                      std::unique_ptr<fl::ResultStream>* result) {
  const std::string_view body = action.body ? std::string_view(*action.body) : std::string_view();
  ARROW_ASSIGN_OR_RAISE(auto bodies, RunAction(*store_, action.type, body, options_.metrics.get()));
  std::vector<fl::Result> results;
  for (auto& reply : bodies) results.push_back(fl::Result{std::move(reply)});
  *result = std::make_unique<fl::SimpleResultStream>(std::move(results));
  return arrow::Status::OK();
}

}  // namespace arbalest
