#include "security/tokens.h"

#include <fnmatch.h>
#include <sodium.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace arbalest {
namespace {

constexpr std::string_view kTokenPrefix = "arb_";
constexpr std::string_view kHashPrefix = "blake2b-256:";
constexpr size_t kSecretBytes = 32;
constexpr size_t kHashBytes = 32;

void InitSodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;  // sodium_init fails only without a random source; randombytes then aborts
}

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex(size * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, size);
  hex.pop_back();
  return hex;
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
    case Role::kCluster:
      return "cluster";
  }
  return "unknown";
}

arrow::Result<Role> ParseRole(std::string_view name) {
  if (name == "read") return Role::kRead;
  if (name == "write") return Role::kWrite;
  if (name == "admin") return Role::kAdmin;
  if (name == "cluster") return Role::kCluster;
  return arrow::Status::Invalid("unknown role '", name, "' (read, write, admin or cluster)");
}

bool TokenEntry::MayUse(std::string_view dataset) const {
  const std::string name(dataset);
  for (const std::string& pattern : datasets) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string TokenEntry::DatasetsText() const {
  std::string text;
  for (const std::string& pattern : datasets) text += (text.empty() ? "" : ",") + pattern;
  return text;
}

std::string HashToken(std::string_view token) {
  InitSodium();
  unsigned char hash[kHashBytes];
  crypto_generichash(hash, sizeof(hash), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return std::string(kHashPrefix) + Hex(hash, sizeof(hash));
}

bool IsValidTokenId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  }
  return true;
}

arrow::Result<std::string> TokenId(std::string_view token) {
  if (token.substr(0, kTokenPrefix.size()) == kTokenPrefix) {
    const std::string_view rest = token.substr(kTokenPrefix.size());
    const size_t end = rest.find('_');
    if (end != std::string_view::npos && IsValidTokenId(rest.substr(0, end)) &&
        rest.size() - end - 1 == 2 * kSecretBytes) {
      return std::string(rest.substr(0, end));
    }
  }
  return arrow::Status::Invalid("not an Arbalest token (arb_<id>_<64 hex digits>)");
}

arrow::Result<std::pair<std::string, std::string>> DecodeBasicCredentials(std::string_view base64) {
  InitSodium();
  std::string decoded(base64.size(), '\0');
  size_t size = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                        base64.data(), base64.size(), nullptr, &size, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return arrow::Status::Invalid("basic credentials are not base64");
  }
  decoded.resize(size);
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return arrow::Status::Invalid("basic credentials are not '<user>:<password>'");
  }
  return std::make_pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

arrow::Result<std::vector<std::string>> ParseDatasetPatterns(std::string_view text) {
  std::vector<std::string> patterns;
  size_t start = 0;
  while (true) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string_view pattern = text.substr(start, end - start);
    if (pattern.empty()) {
      return arrow::Status::Invalid("empty dataset pattern in '", text,
                                    "' (patterns are separated by commas; '*' is every dataset)");
    }
    for (char c : pattern) {
      if (std::isspace(static_cast<unsigned char>(c)) ||
          std::iscntrl(static_cast<unsigned char>(c))) {
        return arrow::Status::Invalid("dataset pattern '", pattern,
                                      "' holds a space or control character");
      }
    }
    patterns.emplace_back(pattern);
    if (end == text.size()) break;
    start = end + 1;
  }
  return patterns;
}

arrow::Result<NewToken> MakeToken(std::string id, Role role, std::string_view datasets) {
  InitSodium();
  if (id.empty()) {
    unsigned char random_id[4];
    randombytes_buf(random_id, sizeof(random_id));
    id = std::string("t").append(Hex(random_id, sizeof(random_id)));
  }
  if (!IsValidTokenId(id)) {
    return arrow::Status::Invalid("token id '", id,
                                  "' must be 1 to 64 letters, digits, '.' or '-'");
  }
  ARROW_ASSIGN_OR_RAISE(auto patterns, ParseDatasetPatterns(datasets));
  unsigned char secret[kSecretBytes];
  randombytes_buf(secret, sizeof(secret));
  NewToken result;
  result.token = std::string(kTokenPrefix) + id + "_" + Hex(secret, sizeof(secret));
  sodium_memzero(secret, sizeof(secret));
  TokenEntry entry{id, role, std::move(patterns), HashToken(result.token)};
  result.line =
      id + " " + std::string(RoleName(role)) + " " + entry.DatasetsText() + " " + entry.hash;
  return result;
}

arrow::Result<std::shared_ptr<const TokenTable>> TokenTable::Parse(std::string_view text,
                                                                   std::string_view source) {
  auto table = std::make_shared<TokenTable>();
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const auto fields = Fields(line);
    if (fields.empty()) continue;
    auto fail = [&](auto&&... message) {
      return arrow::Status::Invalid(source, " line ", line_number, ": ", message...);
    };
    if (fields.size() != 4) {
      return fail("expected 4 fields '<id> <role> <datasets> <hash>', got ", fields.size());
    }
    TokenEntry entry;
    entry.id = std::string(fields[0]);
    if (!IsValidTokenId(entry.id)) {
      return fail("token id '", entry.id, "' must be 1 to 64 letters, digits, '.' or '-'");
    }
    auto role = ParseRole(fields[1]);
    if (!role.ok()) return fail(role.status().message());
    entry.role = *role;
    auto patterns = ParseDatasetPatterns(fields[2]);
    if (!patterns.ok()) return fail(patterns.status().message());
    entry.datasets = std::move(*patterns);
    const std::string_view hash = fields[3];
    if (hash.substr(0, kHashPrefix.size()) != kHashPrefix ||
        hash.size() != kHashPrefix.size() + 2 * kHashBytes ||
        !IsLowerHex(hash.substr(kHashPrefix.size()))) {
      return fail(
          "the hash must be 'blake2b-256:' and 64 lowercase hex digits (made by "
          "`arbalest token`; never the token itself)");
    }
    entry.hash = std::string(hash);
    if (table->entries_.count(entry.id)) return fail("token id '", entry.id, "' appears twice");
    table->entries_.emplace(entry.id, std::move(entry));
  }
  return table;
}

arrow::Result<std::shared_ptr<const TokenTable>> TokenTable::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return arrow::Status::IOError("cannot read the token file ", path);
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return arrow::Status::IOError("cannot read the token file ", path);
  return Parse(text.str(), "token file " + path);
}

const TokenEntry* TokenTable::Find(std::string_view token) const {
  auto id = TokenId(token);
  if (!id.ok()) return nullptr;
  auto it = entries_.find(*id);
  if (it == entries_.end()) return nullptr;
  const std::string hash = HashToken(token);
  const TokenEntry& entry = it->second;
  if (hash.size() != entry.hash.size()) return nullptr;
  return sodium_memcmp(hash.data(), entry.hash.data(), hash.size()) == 0 ? &entry : nullptr;
}

}  // namespace arbalest
