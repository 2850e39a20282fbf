// The net under every RPC: no exception may escape a handler. gRPC would answer one with
// UNKNOWN "Unexpected error in RPC handling" and log nothing, so the bug behind it could not be
// found. Nothing in the server is meant to throw (errors are arrow::Status); GuardRpc turns
// whatever does into INTERNAL "internal error ..." and logs it with the request.
#pragma once

#include <arrow/status.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "flight/flight_service.h"

namespace arbalest {

// Runs `handler`; an exception it throws is logged as an error with `rpc` and `request()` (a
// description of the call, only computed then) and returned as an INTERNAL Flight error.
arrow::Status GuardRpc(std::string_view rpc, const std::function<std::string()>& request,
                       const std::function<arrow::Status()>& handler);

// At most `max` bytes of `bytes`, for a log line: printable ASCII as is, other bytes as \xNN,
// "..." when cut.
std::string PrintableExcerpt(std::string_view bytes, size_t max = 256);

// FlightService with every RPC run by GuardRpc: what the servers run.
class GuardedFlightService : public FlightService {
 public:
  using FlightService::FlightService;

  arrow::Status DoPut(const arrow::flight::ServerCallContext& context,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter> writer) override;
  arrow::Status DoGet(const arrow::flight::ServerCallContext& context,
                      const arrow::flight::Ticket& request,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;
  arrow::Status DoExchange(const arrow::flight::ServerCallContext& context,
                           std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                           std::unique_ptr<arrow::flight::FlightMessageWriter> writer) override;
  arrow::Status ListFlights(const arrow::flight::ServerCallContext& context,
                            const arrow::flight::Criteria* criteria,
                            std::unique_ptr<arrow::flight::FlightListing>* listings) override;
  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                              const arrow::flight::FlightDescriptor& request,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;
  arrow::Status GetSchema(const arrow::flight::ServerCallContext& context,
                          const arrow::flight::FlightDescriptor& request,
                          std::unique_ptr<arrow::flight::SchemaResult>* schema) override;
  arrow::Status DoAction(const arrow::flight::ServerCallContext& context,
                         const arrow::flight::Action& action,
                         std::unique_ptr<arrow::flight::ResultStream>* result) override;
};

}  // namespace arbalest
