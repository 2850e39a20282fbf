// Arrow Flight clients to the other members, one per address, kept for reuse (a gRPC channel
// per peer, shared by concurrent searches). A client whose peer stopped answering is dropped so
// that the next search connects afresh instead of waiting out gRPC's reconnect backoff.
#pragma once

#include <arrow/flight/client.h>
#include <arrow/result.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class PeerClients {
 public:
  // The client for `address` (host:port), connected on first use. Invalid for an address that
  // is not host:port.
  arrow::Result<std::shared_ptr<arrow::flight::FlightClient>> Get(const std::string& address);
  // Forgets the client of `address` (its peer failed).
  void Drop(const std::string& address);
  // Forgets the clients of every address not in `addresses` (members that left).
  void KeepOnly(const std::vector<std::string>& addresses);

 private:
  Mutex mutex_;
  std::map<std::string, std::shared_ptr<arrow::flight::FlightClient>> clients_ GUARDED_BY(mutex_);
};

// Splits "host:port" (the last ':'; "[v6]:port" keeps its brackets out). Invalid otherwise.
arrow::Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace arbalest
