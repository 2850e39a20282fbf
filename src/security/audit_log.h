// The audit log (--audit-log): one JSON object per line for every call refused for want of a
// valid token or of permission, and for every admin action allowed. Never holds a token, only
// its id.
#pragma once

#include <arrow/result.h>

#include <cstdio>
#include <memory>
#include <string>

#include "common/mutex.h"

namespace arbalest {

struct AuditEvent {
  std::string token_id;  // empty: no valid token
  std::string peer;
  std::string method;   // DoGet, DoAction, ...
  std::string action;   // DoAction's type; empty otherwise
  std::string dataset;  // empty: none, or every dataset ("*")
  bool allowed = false;
  std::string reason;  // why refused; empty when allowed
};

// Thread-safe. Lines are flushed as they are written.
class AuditLog {
 public:
  // Opens `path` for appending (created if missing, mode 0600).
  static arrow::Result<std::shared_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();

  void Write(const AuditEvent& event);

  // {"time": ISO 8601 UTC with milliseconds, "token", "peer", "method", "action", "dataset",
  //  "allowed", "reason"} without a newline.
  static std::string Line(const AuditEvent& event);

 private:
  explicit AuditLog(FILE* file) : file_(file) {}

  Mutex mutex_;
  FILE* const file_ PT_GUARDED_BY(mutex_);
};

}  // namespace arbalest
