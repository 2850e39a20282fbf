// The tokens a Flight call carries (docs/security.md): the client's own, in `authorization:
// Bearer <token>`, and on the calls between cluster nodes that write on a client's behalf (a
// shard put, a delete's hop) the client's token again, forwarded in `x-arbalest-forwarded-token`
// beside the node's cluster token. The receiving node checks both: the cluster token says the
// call comes from a member, the forwarded one whether the client may make that write
// (AuthorizingFlightService). A cluster token alone cannot write, so a leaked cluster token file
// writes nothing; and a node never writes with more rights than the client whose put it routes.
#pragma once

#include <arrow/flight/client.h>
#include <arrow/flight/server.h>

#include <optional>
#include <string>
#include <string_view>

namespace arbalest {

inline constexpr char kAuthorizationHeader[] = "authorization";
inline constexpr char kForwardedTokenHeader[] = "x-arbalest-forwarded-token";

// The credentials after `scheme ` in the authorization header, case-insensitive scheme;
// nullopt when the header is absent or of another scheme.
std::optional<std::string_view> Credentials(const arrow::flight::CallHeaders& headers,
                                            std::string_view scheme);

// The client token a node forwarded with this call; nullopt when none.
std::optional<std::string_view> ForwardedToken(const arrow::flight::CallHeaders& headers);

// The token to forward with the writes this call makes on other nodes: the one forwarded to it
// (the call is itself a hop), else its own bearer token; empty when it has none (a node
// without --auth-tokens). Only meaningful once the call was authorized.
std::string CallerToken(const arrow::flight::ServerCallContext& context);

// Adds `token` (when not empty) as the forwarded client token of a call to another node.
void ForwardToken(arrow::flight::FlightCallOptions* call, const std::string& token);

}  // namespace arbalest
