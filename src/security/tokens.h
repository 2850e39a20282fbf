// Bearer tokens and what they may do: the token file (--auth-tokens), roles, dataset patterns.
//
// A token is `arb_<id>_<64 hex digits>`: its id (which names it in the audit log and the token
// file) and 256 random bits. The file holds one line per token, `<id> <role> <datasets>
// <hash>`, never the token itself: the hash is `blake2b-256:<hex>`, BLAKE2b (libsodium's
// crypto_generichash) of the whole token. See docs/security.md for why a fast hash suffices.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace arbalest {

// Each of read, write and admin may do what the roles before it may. kCluster stands apart: a
// node's token for the calls between nodes (--cluster-token-file), which may only make the
// read-only calls that say local_only (auth_policy.h); RoleAllows grants it nothing else.
enum class Role { kCluster = -1, kRead = 0, kWrite = 1, kAdmin = 2 };

std::string_view RoleName(Role role);
arrow::Result<Role> ParseRole(std::string_view name);

// Whether a token of role `held` may do what needs `needed`.
inline bool RoleAllows(Role held, Role needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

struct TokenEntry {
  std::string id;
  Role role = Role::kRead;
  // Glob patterns (fnmatch: *, ?, [...]) of the datasets the token may use; "*" alone: all.
  std::vector<std::string> datasets;
  std::string hash;  // "blake2b-256:" + 64 hex digits

  bool all_datasets() const { return datasets.size() == 1 && datasets[0] == "*"; }
  bool MayUse(std::string_view dataset) const;
  // The patterns as written in the file ("*", "logs_*,metrics").
  std::string DatasetsText() const;
};

// Hashes a token for the token file.
std::string HashToken(std::string_view token);

// The id a well-formed token carries; Invalid when `token` is not `arb_<id>_<secret>`.
arrow::Result<std::string> TokenId(std::string_view token);

// Whether `id` may name a token: 1 to 64 of A-Z a-z 0-9 . -
bool IsValidTokenId(std::string_view id);

struct NewToken {
  std::string token;  // shown once
  std::string line;   // for the token file
};

// A fresh random token and its file line. `id` empty: a random one. Invalid for a bad id,
// role or pattern.
arrow::Result<NewToken> MakeToken(std::string id, Role role, std::string_view datasets);

// Parsed token file: every token by id.
class TokenTable {
 public:
  // Parses the token file text; `source` names it in errors ("FILE line N: ...").
  static arrow::Result<std::shared_ptr<const TokenTable>> Parse(std::string_view text,
                                                                std::string_view source);
  static arrow::Result<std::shared_ptr<const TokenTable>> Load(const std::string& path);

  // The entry of `token` when its hash is in the table (compared in constant time); null
  // otherwise.
  const TokenEntry* Find(std::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, TokenEntry, std::less<>> entries_;
};

// Decodes the base64 of HTTP basic authentication into user and password (split at the
// first ':').
arrow::Result<std::pair<std::string, std::string>> DecodeBasicCredentials(std::string_view base64);

// Splits "a,b" into patterns, each checked (no empty ones). "*" is every dataset.
arrow::Result<std::vector<std::string>> ParseDatasetPatterns(std::string_view text);

}  // namespace arbalest
