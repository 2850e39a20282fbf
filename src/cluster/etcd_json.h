// The request bodies and replies of etcd's v3 JSON gateway (etcd 3.4: /v3/kv/range,
// /v3/kv/put, /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke,
// /v3/watch), kept apart from the HTTP client so that they can be tested without etcd. The
// gateway carries keys and values in base64 and 64-bit integers as JSON strings; a failed call
// answers {"error", "code", "message"}. A watch streams one JSON object per message.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"

namespace arbalest::etcd {

std::string Base64Encode(std::string_view bytes);
// Invalid for text that is not standard base64.
arrow::Result<std::string> Base64Decode(std::string_view text);

// The end of the key range holding every key that starts with `prefix` (etcd's range_end: the
// prefix with its last byte incremented).
std::string PrefixRangeEnd(std::string_view prefix);

Json RangePrefixRequest(std::string_view prefix);
Json PutRequest(std::string_view key, std::string_view value, int64_t lease);
Json DeleteRequest(std::string_view key);
Json LeaseGrantRequest(int64_t ttl_seconds);
Json LeaseIdRequest(int64_t lease);  // keepalive and revoke
Json WatchPrefixRequest(std::string_view prefix, int64_t start_revision);
Json RangeKeyRequest(std::string_view key);
// A transaction (/v3/kv/txn) that puts `value` at `key` only when the key's mod_revision is
// `expected_mod_revision`; 0: only when the key does not exist (its create_revision is 0).
Json PutIfRequest(std::string_view key, std::string_view value, int64_t expected_mod_revision);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct RangeReply {
  int64_t revision = 0;  // the store's revision when read: a watch from revision + 1 misses none
  std::vector<KeyValue> kvs;
};

struct Lease {
  int64_t id = 0;
  int64_t ttl_seconds = 0;
};

// A reply parsed: IOError naming etcd's error for an error reply, Invalid for one that is not
// what the call answers.
arrow::Result<RangeReply> ParseRangeReply(std::string_view text);
arrow::Result<Lease> ParseLeaseGrantReply(std::string_view text);
// The lease's remaining TTL; 0 when the lease has expired or was revoked (etcd then answers
// without a TTL).
arrow::Result<int64_t> ParseKeepAliveReply(std::string_view text);
// Whether a transaction's compares held (its success branch ran).
arrow::Result<bool> ParseTxnReply(std::string_view text);
// Any reply whose content does not matter (put, delete, revoke): only errors are parsed.
arrow::Status CheckReply(std::string_view text);

struct WatchEvent {
  bool deleted = false;  // DELETE; else PUT
  KeyValue kv;           // a DELETE carries the key alone
};

struct WatchMessage {
  bool created = false;   // the watch is in place: events from its start revision follow
  bool canceled = false;  // etcd ended the watch (e.g. its revision was compacted)
  std::string cancel_reason;
  int64_t compact_revision = 0;
  int64_t revision = 0;
  std::vector<WatchEvent> events;
};

// One message of a watch stream ({"result": {...}} or an error).
arrow::Result<WatchMessage> ParseWatchMessage(std::string_view text);

// Splits a byte stream of concatenated JSON objects (a watch response) into the objects:
// counts braces outside strings. Not thread-safe.
class JsonObjectSplitter {
 public:
  // Appends `bytes`; returns the objects completed by them, in order. Invalid when the stream
  // has bytes outside an object other than whitespace, or an object grows past `max_bytes`.
  arrow::Result<std::vector<std::string>> Append(std::string_view bytes);

  static constexpr size_t kMaxObjectBytes = 64 << 20;

 private:
  std::string pending_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace arbalest::etcd
