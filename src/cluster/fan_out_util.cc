#include "cluster/fan_out_util.h"

#include <arrow/flight/types.h>

namespace arbalest {

namespace fl = arrow::flight;

// Why `peer`'s part is missing, from the error of its search; names the peer's address, and
// for refusals of this node's TLS or token, the flag to check.
std::string MissingReason(const arrow::Status& status, std::chrono::milliseconds timeout,
                          const MemberInfo& peer, bool tls) {
  if (status.IsKeyError()) return "no dataset: " + status.message();
  const std::string at = "peer " + peer.node_id + " at " + peer.flight;
  if (auto detail = fl::FlightStatusDetail::UnwrapStatus(status)) {
    switch (detail->code()) {
      case fl::FlightStatusCode::TimedOut:
        return "timeout: no answer from " + at + " within " + std::to_string(timeout.count()) +
               " ms";
      case fl::FlightStatusCode::Unavailable:
        return "unavailable: " + at + ": " + status.message() +
               (tls ? " (with TLS: does --cluster-ca, or --tls-client-ca, hold the CA of its "
                      "certificate, and its certificate name its advertised host? Does it "
                      "accept this node's certificate?)"
                    : "");
      case fl::FlightStatusCode::Unauthenticated:
        return "unauthenticated: " + at + " refused this node's cluster token (" +
               status.message() + "; --cluster-token-file must hold a token of its --auth-tokens)";
      case fl::FlightStatusCode::Unauthorized:
        return "permission denied: " + at + " refused this node's cluster token (" +
               status.message() + ")";
      default:
        break;
    }
  }
  return "error: " + at + ": " + status.ToString();
}

bool PeerUnreachable(const arrow::Status& status) {
  auto detail = fl::FlightStatusDetail::UnwrapStatus(status);
  return detail && (detail->code() == fl::FlightStatusCode::Unavailable ||
                    detail->code() == fl::FlightStatusCode::TimedOut);
}

// The keys of the hop's DoGet ticket: the client's search or scan keys, answered by the member
// alone.
Json HopKeys(const Json& keys) {
  Json hop = keys;
  hop.erase("require_all");
  hop.erase("timeout_ms");
  hop["local_only"] = true;
  return hop;
}

}  // namespace arbalest
