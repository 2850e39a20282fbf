#include "flight/call_credentials.h"

#include <algorithm>
#include <cctype>

namespace arbalest {

namespace fl = arrow::flight;

std::optional<std::string_view> Credentials(const fl::CallHeaders& headers,
                                            std::string_view scheme) {
  auto [begin, end] = headers.equal_range(kAuthorizationHeader);
  for (auto it = begin; it != end; ++it) {
    const std::string_view value = it->second;
    if (value.size() > scheme.size() && value[scheme.size()] == ' ' &&
        std::equal(scheme.begin(), scheme.end(), value.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      std::string_view rest = value.substr(scheme.size() + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      return rest;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> ForwardedToken(const fl::CallHeaders& headers) {
  auto it = headers.find(kForwardedTokenHeader);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::string CallerToken(const fl::ServerCallContext& context) {
  const fl::CallHeaders& headers = context.incoming_headers();
  if (auto forwarded = ForwardedToken(headers)) return std::string(*forwarded);
  if (auto bearer = Credentials(headers, "Bearer")) return std::string(*bearer);
  return "";
}

void ForwardToken(fl::FlightCallOptions* call, const std::string& token) {
  if (!token.empty()) call->headers.emplace_back(kForwardedTokenHeader, token);
}

}  // namespace arbalest
