#include "cluster/etcd_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace arbalest::etcd {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// One POST of JSON `body` to `url`, its reply read by `write` (a curl write callback on `user`).
// `timeout` 0: none (a watch).
arrow::Status PostTo(const std::string& url, const ClientTls& tls, const std::string& body,
                     std::chrono::milliseconds connect_timeout, std::chrono::milliseconds timeout,
                     curl_write_callback write, void* user, curl_xferinfo_callback progress,
                     void* progress_user) {
  InitCurlOnce();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return arrow::Status::OutOfMemory("curl_easy_init failed");
  std::unique_ptr<curl_slist, CurlDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"));
  char error[CURL_ERROR_SIZE] = {0};
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  // A watch idles for as long as no member changes: probes notice a peer that went away
  // without closing the connection.
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPINTVL, 2L);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, user);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  if (!tls.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.cert_file.c_str());
  if (!tls.key_file.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.key_file.c_str());
  if (progress) {
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, progress_user);
  }
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    return arrow::Status::IOError(url, ": ", error[0] ? error : curl_easy_strerror(code));
  }
  long http_status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 200) {
    return arrow::Status::IOError(url, ": HTTP status ", http_status);
  }
  return arrow::Status::OK();
}

// What a watch's curl callbacks share.
struct WatchState {
  JsonObjectSplitter splitter;
  const std::function<arrow::Status(const WatchMessage&)>* on_message;
  const std::function<bool()>* stop;
  bool stopped = false;
  arrow::Status failure;  // why the callback ended the transfer
};

size_t OnWatchBytes(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<WatchState*>(user);
  auto objects = state->splitter.Append(std::string_view(data, size * count));
  if (!objects.ok()) {
    state->failure = objects.status();
    return 0;
  }
  for (const auto& object : *objects) {
    auto message = ParseWatchMessage(object);
    state->failure = message.ok() ? (*state->on_message)(*message) : message.status();
    if (!state->failure.ok()) return 0;
  }
  return size * count;
}

int OnWatchProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* state = static_cast<WatchState*>(user);
  if ((*state->stop)()) state->stopped = true;
  return state->stopped ? 1 : 0;
}

// `endpoints` without trailing slashes (paths are appended).
std::vector<std::string> TrimSlashes(std::vector<std::string> endpoints) {
  for (auto& endpoint : endpoints) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  }
  return endpoints;
}

}  // namespace

Client::Client(std::vector<std::string> endpoints, std::chrono::milliseconds timeout, ClientTls tls)
    : endpoints_(TrimSlashes(std::move(endpoints))), timeout_(timeout), tls_(std::move(tls)) {}

arrow::Result<std::string> Client::Post(std::string_view path, const Json& body) {
  const std::string text = body.dump();
  std::string errors;
  const size_t first = preferred_.load();
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t index = (first + i) % endpoints_.size();
    std::string reply;
    arrow::Status status = PostTo(endpoints_[index] + std::string(path), tls_, text, timeout_,
                                  timeout_, AppendToString, &reply, nullptr, nullptr);
    if (status.ok()) {
      preferred_ = index;
      return reply;
    }
    errors += (errors.empty() ? "" : "; ") + status.message();
  }
  return arrow::Status::IOError("etcd unreachable: ", errors);
}

arrow::Result<Lease> Client::GrantLease(int64_t ttl_seconds) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/lease/grant", LeaseGrantRequest(ttl_seconds)));
  return ParseLeaseGrantReply(reply);
}

arrow::Result<int64_t> Client::KeepAlive(int64_t lease) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/lease/keepalive", LeaseIdRequest(lease)));
  return ParseKeepAliveReply(reply);
}

arrow::Status Client::RevokeLease(int64_t lease) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/lease/revoke", LeaseIdRequest(lease)));
  return CheckReply(reply);
}

arrow::Status Client::Put(std::string_view key, std::string_view value, int64_t lease) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/kv/put", PutRequest(key, value, lease)));
  return CheckReply(reply);
}

arrow::Status Client::Delete(std::string_view key) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/kv/deleterange", DeleteRequest(key)));
  return CheckReply(reply);
}

arrow::Result<RangeReply> Client::RangePrefix(std::string_view prefix) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/kv/range", RangePrefixRequest(prefix)));
  return ParseRangeReply(reply);
}

arrow::Result<RangeReply> Client::Range(std::string_view key) {
  ARROW_ASSIGN_OR_RAISE(auto reply, Post("/v3/kv/range", RangeKeyRequest(key)));
  return ParseRangeReply(reply);
}

arrow::Result<bool> Client::PutIf(std::string_view key, std::string_view value,
                                  int64_t expected_mod_revision) {
  ARROW_ASSIGN_OR_RAISE(auto reply,
                        Post("/v3/kv/txn", PutIfRequest(key, value, expected_mod_revision)));
  return ParseTxnReply(reply);
}

arrow::Status Client::Watch(std::string_view prefix, int64_t start_revision,
                            const std::function<arrow::Status(const WatchMessage&)>& on_message,
                            const std::function<bool()>& stop) {
  const std::string body = WatchPrefixRequest(prefix, start_revision).dump();
  WatchState state{{}, &on_message, &stop, false, arrow::Status::OK()};
  const std::string& endpoint = endpoints_[preferred_.load() % endpoints_.size()];
  arrow::Status status =
      PostTo(endpoint + "/v3/watch", tls_, body, timeout_, std::chrono::milliseconds(0),
             OnWatchBytes, &state, OnWatchProgress, &state);
  if (state.stopped) return arrow::Status::OK();
  if (!state.failure.ok()) return state.failure;
  if (status.ok()) return arrow::Status::IOError(endpoint, ": the watch stream ended");
  return arrow::Status::IOError("etcd watch: ", status.message());
}

}  // namespace arbalest::etcd
