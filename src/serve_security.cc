#include "serve_security.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "security/pem_file.h"

namespace arbalest {
namespace {

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

void AddSecurityFlags(CLI::App& serve, SecurityConfig& config) {
  serve
      .add_option("--tls-cert", config.tls_cert,
                  "PEM certificate (chain) of the Flight and metrics ports: serve TLS only")
      ->envname("ARBALEST_TLS_CERT");
  serve.add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert")
      ->envname("ARBALEST_TLS_KEY");
  serve
      .add_option("--tls-client-ca", config.tls_client_ca,
                  "PEM CA certificates: Flight clients must present a certificate they signed "
                  "(mutual TLS)")
      ->envname("ARBALEST_TLS_CLIENT_CA");
  serve
      .add_option("--auth-tokens", config.auth_tokens,
                  "Token file ('<id> <role> <datasets> <hash>' lines, made by `arbalest token`): "
                  "every Flight call needs one of its tokens; reloaded on SIGHUP")
      ->envname("ARBALEST_AUTH_TOKENS");
  serve
      .add_option("--audit-log", config.audit_log,
                  "Append a JSON line here for every call refused for its token and every admin "
                  "action (with --auth-tokens)")
      ->envname("ARBALEST_AUDIT_LOG");
}

CLI::App* AddTokenCommand(CLI::App& app, TokenCommand& command) {
  CLI::App* token = app.add_subcommand(
      "token", "Make a token: prints it (once) and the line to add to the --auth-tokens file");
  token->add_option("--id", command.id,
                    "Its name in the token file and audit log (default: random)");
  token
      ->add_option("--role", command.role,
                   "read, write, admin, or cluster (the calls between cluster nodes only)")
      ->check(CLI::IsMember({"read", "write", "admin", "cluster"}))
      ->capture_default_str();
  token
      ->add_option("--datasets", command.datasets,
                   "Datasets it may use: glob patterns separated by commas ('logs_*,metrics')")
      ->capture_default_str();
  return token;
}

int RunTokenCommand(const TokenCommand& command) {
  auto role = ParseRole(command.role);
  auto made = role.ok() ? MakeToken(command.id, *role, command.datasets)
                        : arrow::Result<NewToken>(role.status());
  if (!made.ok()) {
    std::cerr << made.status().message() << std::endl;
    return 2;
  }
  std::cerr << "# line 1: the token, shown only now: give it to the client\n"
               "# line 2: add it to the --auth-tokens file, then send the server SIGHUP\n";
  std::cout << made->token << "\n" << made->line << std::endl;
  return 0;
}

arrow::Result<Security> SetUpSecurity(const SecurityConfig& config,
                                      const std::shared_ptr<prometheus::Registry>& registry) {
  Security security;
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return arrow::Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (!config.tls_client_ca.empty() && config.tls_cert.empty()) {
    return arrow::Status::Invalid("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!config.tls_cert.empty()) {
    ARROW_ASSIGN_OR_RAISE(security.tls.cert_pem, ReadPemFile(config.tls_cert, "--tls-cert"));
    ARROW_ASSIGN_OR_RAISE(security.tls.key_pem, ReadPemFile(config.tls_key, "--tls-key"));
    if (!config.tls_client_ca.empty()) {
      ARROW_ASSIGN_OR_RAISE(security.tls.client_ca_pem,
                            ReadPemFile(config.tls_client_ca, "--tls-client-ca"));
    }
  }
  if (!config.audit_log.empty() && config.auth_tokens.empty()) {
    return arrow::Status::Invalid("--audit-log needs --auth-tokens");
  }
  if (config.auth_tokens.empty()) return security;
  ARROW_ASSIGN_OR_RAISE(security.tokens, TokenStore::Open(config.auth_tokens));
  std::shared_ptr<AuditLog> audit;
  if (!config.audit_log.empty()) {
    ARROW_ASSIGN_OR_RAISE(audit, AuditLog::Open(config.audit_log));
  }
  security.auth = std::make_shared<Authenticator>(security.tokens, std::move(audit), registry);
  spdlog::info("authentication on: {} tokens from {}{}", security.tokens->table()->size(),
               config.auth_tokens,
               config.audit_log.empty() ? "" : ", audit log " + config.audit_log);
  return security;
}

void WarnAboutExposure(const std::string& host, const SecurityConfig& config) {
  if (IsLoopback(host)) return;
  if (config.auth_tokens.empty()) {
    spdlog::warn(
        "!!! --host {} serves the network WITHOUT AUTHENTICATION: anyone who reaches the ports "
        "can read, write and delete every dataset{}. Give --auth-tokens (and --tls-cert, "
        "--tls-key); see docs/security.md",
        host, config.tls_cert.empty() ? ", in clear text" : "");
  } else if (config.tls_cert.empty()) {
    spdlog::warn(
        "!!! --host {} with --auth-tokens but without TLS: tokens and data cross the network in "
        "clear text, and anyone who sees a token can use it. Give --tls-cert and --tls-key; "
        "see docs/security.md",
        host);
  }
}

void ReloadTokens(TokenStore& tokens) {
  if (auto status = tokens.Reload(); !status.ok()) {
    spdlog::error("SIGHUP: the token file was not reloaded, the {} tokens loaded before stay: {}",
                  tokens.table()->size(), status.message());
    return;
  }
  spdlog::info("SIGHUP: reloaded {} tokens from {}", tokens.table()->size(), tokens.path());
}

}  // namespace arbalest
