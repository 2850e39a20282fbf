// The token table of a running server: loaded from --auth-tokens at startup and reloaded on
// SIGHUP. A reload that fails keeps the table in use (and says why).
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>

#include "common/mutex.h"
#include "security/tokens.h"

namespace arbalest {

// Thread-safe.
class TokenStore {
 public:
  // Loads `path`; the error names the file and line of a bad entry.
  static arrow::Result<std::shared_ptr<TokenStore>> Open(std::string path);

  // Reads the file again; on error the current table stays.
  arrow::Status Reload();

  // The current table (a reload does not change one already taken).
  std::shared_ptr<const TokenTable> table() const;
  const std::string& path() const { return path_; }

 private:
  explicit TokenStore(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  mutable SharedMutex mutex_;
  std::shared_ptr<const TokenTable> table_ GUARDED_BY(mutex_);
};

}  // namespace arbalest
