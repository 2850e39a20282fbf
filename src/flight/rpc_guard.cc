#include "flight/rpc_guard.h"

#include <arrow/flight/types.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace arbalest {
namespace {

namespace fl = arrow::flight;

std::string DescribeDescriptor(const fl::FlightDescriptor& descriptor) {
  return PrintableExcerpt(descriptor.ToString());
}

}  // namespace

arrow::Status GuardRpc(std::string_view rpc, const std::function<std::string()>& request,
                       const std::function<arrow::Status()>& handler) {
  std::string what;
  try {
    return handler();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  std::string described;
  try {
    described = request();
  } catch (...) {
    described = "(the request could not be described)";
  }
  spdlog::error("internal error in {} ({}): {}", rpc, described, PrintableExcerpt(what));
  return fl::MakeFlightError(fl::FlightStatusCode::Internal,
                             "internal error in " + std::string(rpc) + ": " +
                                 PrintableExcerpt(what) + " (logged by the server)");
}

std::string PrintableExcerpt(std::string_view bytes, size_t max) {
  std::string text;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      text += static_cast<char>(c);
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      text += {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
    }
  }
  if (bytes.size() > max) text += "...";
  return text;
}

arrow::Status GuardedFlightService::DoPut(const fl::ServerCallContext& context,
                                          std::unique_ptr<fl::FlightMessageReader> reader,
                                          std::unique_ptr<fl::FlightMetadataWriter> writer) {
  const std::string descriptor = DescribeDescriptor(reader->descriptor());
  return GuardRpc(
      "DoPut", [&] { return descriptor; },
      [&] { return FlightService::DoPut(context, std::move(reader), std::move(writer)); });
}

arrow::Status GuardedFlightService::DoGet(const fl::ServerCallContext& context,
                                          const fl::Ticket& request,
                                          std::unique_ptr<fl::FlightDataStream>* stream) {
  return GuardRpc(
      "DoGet", [&] { return "ticket " + PrintableExcerpt(request.ticket); },
      [&] { return FlightService::DoGet(context, request, stream); });
}

arrow::Status GuardedFlightService::DoExchange(const fl::ServerCallContext& context,
                                               std::unique_ptr<fl::FlightMessageReader> reader,
                                               std::unique_ptr<fl::FlightMessageWriter> writer) {
  const std::string descriptor = DescribeDescriptor(reader->descriptor());
  return GuardRpc(
      "DoExchange", [&] { return descriptor; },
      [&] { return FlightService::DoExchange(context, std::move(reader), std::move(writer)); });
}

arrow::Status GuardedFlightService::ListFlights(const fl::ServerCallContext& context,
                                                const fl::Criteria* criteria,
                                                std::unique_ptr<fl::FlightListing>* listings) {
  return GuardRpc(
      "ListFlights",
      [&] { return "criteria " + PrintableExcerpt(criteria ? criteria->expression : ""); },
      [&] { return FlightService::ListFlights(context, criteria, listings); });
}

arrow::Status GuardedFlightService::GetFlightInfo(const fl::ServerCallContext& context,
                                                  const fl::FlightDescriptor& request,
                                                  std::unique_ptr<fl::FlightInfo>* info) {
  return GuardRpc(
      "GetFlightInfo", [&] { return DescribeDescriptor(request); },
      [&] { return FlightService::GetFlightInfo(context, request, info); });
}

arrow::Status GuardedFlightService::GetSchema(const fl::ServerCallContext& context,
                                              const fl::FlightDescriptor& request,
                                              std::unique_ptr<fl::SchemaResult>* schema) {
  return GuardRpc(
      "GetSchema", [&] { return DescribeDescriptor(request); },
      [&] { return FlightService::GetSchema(context, request, schema); });
}

arrow::Status GuardedFlightService::DoAction(const fl::ServerCallContext& context,
                                             const fl::Action& action,
                                             std::unique_ptr<fl::ResultStream>* result) {
  return GuardRpc(
      "DoAction",
      [&] {
        const std::string_view body =
            action.body ? std::string_view(*action.body) : std::string_view();
        return "action " + PrintableExcerpt(action.type) + ", body " + PrintableExcerpt(body);
      },
      [&] { return FlightService::DoAction(context, action, result); });
}

}  // namespace arbalest
