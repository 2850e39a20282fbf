#include "cluster/member.h"

#include <arrow/status.h>

#include <algorithm>
#include <cctype>

namespace arbalest {
namespace {

bool IsNameCharacter(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

arrow::Status ValidateName(std::string_view name, size_t max_length, std::string_view what) {
  if (name.empty() || name.size() > max_length ||
      !std::all_of(name.begin(), name.end(), IsNameCharacter)) {
    return arrow::Status::Invalid(what, " '", name, "' must be 1 to ", max_length,
                                  " characters of letters, digits, '.', '_' and '-'");
  }
  return arrow::Status::OK();
}

}  // namespace

Json MemberInfo::ToJson() const {
  Json json{{"node_id", node_id}, {"flight", flight},   {"meta", meta},
            {"metrics", metrics}, {"version", version}, {"started_at_ms", started_at_ms}};
  if (draining) json["draining"] = true;
  return json;
}

arrow::Result<MemberInfo> ParseMemberInfo(std::string_view text) {
  constexpr std::string_view what = "member record";
  ARROW_ASSIGN_OR_RAISE(Json json, ParseJsonObject(text, what));
  MemberInfo member;
  for (auto [key, field] :
       {std::pair{"node_id", &member.node_id}, std::pair{"flight", &member.flight},
        std::pair{"meta", &member.meta}, std::pair{"metrics", &member.metrics},
        std::pair{"version", &member.version}}) {
    ARROW_ASSIGN_OR_RAISE(auto value, GetOptionalString(json, {key}, what));
    *field = value.value_or("");
  }
  if (member.node_id.empty() || member.flight.empty()) {
    return arrow::Status::Invalid("member record needs 'node_id' and 'flight': ",
                                  std::string(text.substr(0, 200)));
  }
  ARROW_ASSIGN_OR_RAISE(auto started, GetOptionalInt(json, "started_at_ms", what));
  member.started_at_ms = started.value_or(0);
  auto draining = json.find("draining");
  member.draining = draining != json.end() && draining->is_boolean() && draining->get<bool>();
  return member;
}

std::set<std::string> MemberIds(const std::vector<MemberInfo>& members, bool draining_only) {
  std::set<std::string> ids;
  for (const auto& member : members) {
    if (!draining_only || member.draining) ids.insert(member.node_id);
  }
  return ids;
}

std::string MembersPrefix(std::string_view cluster) {
  std::string prefix = "/";
  prefix.append(cluster).append("/members/");
  return prefix;
}

std::string DefaultNodeId(std::string_view advertise) {
  std::string id(advertise);
  std::replace(id.begin(), id.end(), ':', '-');
  std::replace_if(
      id.begin(), id.end(), [](char c) { return !IsNameCharacter(c); }, '_');
  return id;
}

arrow::Status ValidateNodeId(std::string_view id) { return ValidateName(id, 128, "node id"); }

arrow::Status ValidateClusterName(std::string_view name) {
  return ValidateName(name, 64, "cluster name");
}

}  // namespace arbalest
