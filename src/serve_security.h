// The security flags of `arbalest serve` (TLS, tokens, audit log) and the `arbalest token`
// command: what main.cc hooks in. See docs/security.md.
#pragma once

#include <arrow/result.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "flight/server.h"
#include "security/token_store.h"

namespace prometheus {
class Registry;
}

namespace arbalest {

struct SecurityConfig {
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string auth_tokens;
  std::string audit_log;
};

struct TokenCommand {
  std::string id;
  std::string role = "read";
  std::string datasets = "*";
};

void AddSecurityFlags(CLI::App& serve, SecurityConfig& config);
CLI::App* AddTokenCommand(CLI::App& app, TokenCommand& command);
// Prints a new token and its token file line; the exit code.
int RunTokenCommand(const TokenCommand& command);

// What the servers need: TLS certificates read, the token table loaded (errors name the file
// and line), the audit log opened.
struct Security {
  TlsOptions tls;
  std::shared_ptr<TokenStore> tokens;  // null: no authentication
  std::shared_ptr<Authenticator> auth;
};
arrow::Result<Security> SetUpSecurity(const SecurityConfig& config,
                                      const std::shared_ptr<prometheus::Registry>& registry);

// Logs what the settings leave open: loud warnings for a non-loopback `host` without tokens,
// or with tokens but without TLS.
void WarnAboutExposure(const std::string& host, const SecurityConfig& config);

// SIGHUP: reads the token file again (logged; a bad file keeps the tokens in use).
void ReloadTokens(TokenStore& tokens);

}  // namespace arbalest
