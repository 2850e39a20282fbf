// A client of etcd's v3 JSON gateway over HTTP (libcurl): the few calls membership needs (lease
// grant/keepalive/revoke, put, prefix range, delete, a streaming prefix watch). Why the JSON
// gateway and not etcd's gRPC API: docs/dependencies.md. Every call tries the endpoints in turn
// (--cluster-etcd URL,URL...), starting from the last one that answered, and fails with IOError
// naming the endpoints and curl's error when none answers within the timeout. https endpoints
// are verified against ClientTls's CA (curl's own checks: the chain and the host name), and
// present a client certificate when etcd asks for one (its --client-cert-auth).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cluster/etcd_json.h"

namespace arbalest::etcd {

// PEM files for https endpoints; empty: curl's default (the system's CAs; no client cert).
struct ClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// Thread-safe: every call has its own connection.
class Client {
 public:
  // `endpoints`: base URLs such as http://127.0.0.1:2379 or https://etcd-1:2379. `timeout`: the
  // longest a unary call waits (connecting included).
  Client(std::vector<std::string> endpoints, std::chrono::milliseconds timeout, ClientTls tls = {});

  const std::vector<std::string>& endpoints() const { return endpoints_; }

  arrow::Result<Lease> GrantLease(int64_t ttl_seconds);
  // The lease's remaining TTL; 0 when it has expired.
  arrow::Result<int64_t> KeepAlive(int64_t lease);
  arrow::Status RevokeLease(int64_t lease);
  arrow::Status Put(std::string_view key, std::string_view value, int64_t lease);
  arrow::Status Delete(std::string_view key);
  arrow::Result<RangeReply> RangePrefix(std::string_view prefix);
  // The key alone (`kvs` empty when absent).
  arrow::Result<RangeReply> Range(std::string_view key);
  // Puts `value` at `key` when its mod_revision is `expected_mod_revision` (0: when absent), in
  // one transaction; false when the compare failed (another writer came first).
  arrow::Result<bool> PutIf(std::string_view key, std::string_view value,
                            int64_t expected_mod_revision);

  // Watches the keys under `prefix` from `start_revision`, calling `on_message` for each message
  // (from the thread that called Watch), until `stop` returns true (asked about once a second
  // and after each message; Watch then returns OK), `on_message` fails (returns its error) or
  // the stream breaks (IOError). Blocks meanwhile.
  arrow::Status Watch(std::string_view prefix, int64_t start_revision,
                      const std::function<arrow::Status(const WatchMessage&)>& on_message,
                      const std::function<bool()>& stop);

 private:
  // POSTs `body` to `path` of the first endpoint that answers; the reply's body.
  arrow::Result<std::string> Post(std::string_view path, const Json& body);

  const std::vector<std::string> endpoints_;
  const std::chrono::milliseconds timeout_;
  const ClientTls tls_;
  std::atomic<size_t> preferred_{0};  // the endpoint that answered last
};

}  // namespace arbalest::etcd
