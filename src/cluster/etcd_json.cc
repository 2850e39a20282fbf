#include "cluster/etcd_json.h"

#include <arrow/status.h>
#include <sodium.h>

#include <cctype>
#include <charconv>

namespace arbalest::etcd {
namespace {

constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;

// The gateway's int64: a JSON string of digits (or, leniently, a number); 0 when absent.
arrow::Result<int64_t> Int64Field(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) return value;
  }
  return arrow::Status::Invalid("etcd reply: '", key, "' is not an integer: ", JsonForMessage(*it));
}

arrow::Result<std::string> Base64Field(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return arrow::Status::Invalid("etcd reply: '", key, "' is not a base64 string");
  }
  return Base64Decode(it->get_ref<const std::string&>());
}

// The reply as a JSON object; IOError for etcd's {"error": ...} replies.
arrow::Result<Json> ParseReply(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseJsonObject(text, "etcd reply"));
  if (auto error = reply.find("error"); error != reply.end()) {
    const std::string message =
        reply.value("message", error->is_string() ? error->get<std::string>() : error->dump());
    return arrow::Status::IOError("etcd answered an error: ", message);
  }
  return reply;
}

arrow::Result<KeyValue> ParseKeyValue(const Json& kv) {
  if (!kv.is_object()) return arrow::Status::Invalid("etcd reply: a key-value is not an object");
  KeyValue parsed;
  ARROW_ASSIGN_OR_RAISE(parsed.key, Base64Field(kv, "key"));
  ARROW_ASSIGN_OR_RAISE(parsed.value, Base64Field(kv, "value"));
  ARROW_ASSIGN_OR_RAISE(parsed.mod_revision, Int64Field(kv, "mod_revision"));
  ARROW_ASSIGN_OR_RAISE(parsed.lease, Int64Field(kv, "lease"));
  return parsed;
}

arrow::Result<int64_t> HeaderRevision(const Json& object) {
  auto header = object.find("header");
  if (header == object.end() || !header->is_object()) return 0;
  return Int64Field(*header, "revision");
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

arrow::Result<std::string> Base64Decode(std::string_view text) {
  std::string bytes(text.size(), '\0');
  size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, &end, kVariant) != 0 ||
      end != text.data() + text.size()) {
    return arrow::Status::Invalid("etcd reply: not base64: ", std::string(text.substr(0, 64)));
  }
  bytes.resize(length);
  return bytes;
}

std::string PrefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Json RangePrefixRequest(std::string_view prefix) {
  return {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixRangeEnd(prefix))}};
}

Json PutRequest(std::string_view key, std::string_view value, int64_t lease) {
  Json request{{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) request["lease"] = std::to_string(lease);
  return request;
}

Json DeleteRequest(std::string_view key) { return {{"key", Base64Encode(key)}}; }

Json LeaseGrantRequest(int64_t ttl_seconds) { return {{"TTL", std::to_string(ttl_seconds)}}; }

Json LeaseIdRequest(int64_t lease) { return {{"ID", std::to_string(lease)}}; }

Json WatchPrefixRequest(std::string_view prefix, int64_t start_revision) {
  Json create = RangePrefixRequest(prefix);
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  return {{"create_request", std::move(create)}};
}

Json RangeKeyRequest(std::string_view key) { return {{"key", Base64Encode(key)}}; }

Json PutIfRequest(std::string_view key, std::string_view value, int64_t expected_mod_revision) {
  const std::string encoded_key = Base64Encode(key);
  Json compare{{"key", encoded_key}, {"result", "EQUAL"}};
  if (expected_mod_revision == 0) {
    compare["target"] = "CREATE";
    compare["create_revision"] = "0";
  } else {
    compare["target"] = "MOD";
    compare["mod_revision"] = std::to_string(expected_mod_revision);
  }
  return {
      {"compare", Json::array({std::move(compare)})},
      {"success",
       Json::array({{{"request_put", {{"key", encoded_key}, {"value", Base64Encode(value)}}}}})}};
}

arrow::Result<bool> ParseTxnReply(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseReply(text));
  // proto3 JSON leaves out false.
  auto succeeded = reply.find("succeeded");
  return succeeded != reply.end() && succeeded->is_boolean() && succeeded->get<bool>();
}

arrow::Result<RangeReply> ParseRangeReply(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseReply(text));
  RangeReply parsed;
  ARROW_ASSIGN_OR_RAISE(parsed.revision, HeaderRevision(reply));
  if (auto kvs = reply.find("kvs"); kvs != reply.end()) {
    if (!kvs->is_array()) return arrow::Status::Invalid("etcd reply: 'kvs' is not an array");
    for (const auto& kv : *kvs) {
      ARROW_ASSIGN_OR_RAISE(auto parsed_kv, ParseKeyValue(kv));
      parsed.kvs.push_back(std::move(parsed_kv));
    }
  }
  return parsed;
}

arrow::Result<Lease> ParseLeaseGrantReply(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseReply(text));
  Lease lease;
  ARROW_ASSIGN_OR_RAISE(lease.id, Int64Field(reply, "ID"));
  ARROW_ASSIGN_OR_RAISE(lease.ttl_seconds, Int64Field(reply, "TTL"));
  if (lease.id == 0 || lease.ttl_seconds <= 0) {
    return arrow::Status::IOError("etcd granted no lease: ", std::string(text.substr(0, 200)));
  }
  return lease;
}

arrow::Result<int64_t> ParseKeepAliveReply(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseReply(text));
  auto result = reply.find("result");
  if (result == reply.end() || !result->is_object()) {
    return arrow::Status::Invalid("etcd keepalive reply without 'result': ",
                                  std::string(text.substr(0, 200)));
  }
  return Int64Field(*result, "TTL");
}

arrow::Status CheckReply(std::string_view text) { return ParseReply(text).status(); }

arrow::Result<WatchMessage> ParseWatchMessage(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json reply, ParseReply(text));
  auto result = reply.find("result");
  if (result == reply.end() || !result->is_object()) {
    return arrow::Status::Invalid("etcd watch message without 'result': ",
                                  std::string(text.substr(0, 200)));
  }
  WatchMessage message;
  message.created = result->value("created", false);
  message.canceled = result->value("canceled", false);
  message.cancel_reason = result->value("cancel_reason", std::string());
  ARROW_ASSIGN_OR_RAISE(message.compact_revision, Int64Field(*result, "compact_revision"));
  ARROW_ASSIGN_OR_RAISE(message.revision, HeaderRevision(*result));
  if (auto events = result->find("events"); events != result->end()) {
    if (!events->is_array()) return arrow::Status::Invalid("etcd watch: 'events' is not an array");
    for (const auto& event : *events) {
      if (!event.is_object() || !event.contains("kv")) {
        return arrow::Status::Invalid("etcd watch: an event without 'kv'");
      }
      WatchEvent parsed;
      parsed.deleted = event.value("type", std::string("PUT")) == "DELETE";
      ARROW_ASSIGN_OR_RAISE(parsed.kv, ParseKeyValue(event["kv"]));
      message.events.push_back(std::move(parsed));
    }
  }
  return message;
}

arrow::Result<std::vector<std::string>> JsonObjectSplitter::Append(std::string_view bytes) {
  std::vector<std::string> objects;
  for (const char c : bytes) {
    if (depth_ == 0) {
      if (std::isspace(static_cast<unsigned char>(c))) continue;
      if (c != '{') {
        return arrow::Status::Invalid("etcd watch stream: unexpected byte '", std::string(1, c),
                                      "' between messages");
      }
    }
    pending_.push_back(c);
    if (pending_.size() > kMaxObjectBytes) {
      return arrow::Status::Invalid("etcd watch stream: a message over ", kMaxObjectBytes,
                                    " bytes");
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{') {
      ++depth_;
    } else if (c == '}') {
      if (--depth_ == 0) {
        objects.push_back(std::move(pending_));
        pending_.clear();
      }
    }
  }
  return objects;
}

}  // namespace arbalest::etcd
