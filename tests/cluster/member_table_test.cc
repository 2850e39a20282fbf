// The member table fed by range reads and watch events, and the member records and names.
#include "cluster/member_table.h"

#include <gtest/gtest.h>

#include "cluster/peer_clients.h"

namespace arbalest {
namespace {

const std::string kPrefix = MembersPrefix("c");

etcd::KeyValue Record(const std::string& id, const std::string& flight) {
  MemberInfo member{id, flight, "h:2", "h:3", "0.1.0", 42};
  return {kPrefix + id, member.ToJson().dump(), 1, 0};
}

std::vector<std::string> Ids(const MemberTable& table) {
  std::vector<std::string> ids;
  for (const auto& member : table.Members()) ids.push_back(member.node_id);
  return ids;
}

TEST(MemberInfo, RoundTripsThroughJsonAndRequiresIdAndFlight) {
  MemberInfo member{"n1", "10.0.0.1:3000", "10.0.0.1:3001", "10.0.0.1:9090", "0.1.0", 1234};
  auto parsed = ParseMemberInfo(member.ToJson().dump());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ToJson(), member.ToJson());
  // Unknown keys (a newer version's) are ignored.
  EXPECT_TRUE(ParseMemberInfo(R"({"node_id":"n","flight":"h:1","zone":"a"})").ok());
  EXPECT_TRUE(ParseMemberInfo(R"({"node_id":"n"})").status().IsInvalid());
  EXPECT_TRUE(ParseMemberInfo(R"({"node_id":"n","flight":3})").status().IsInvalid());
  EXPECT_TRUE(ParseMemberInfo("nope").status().IsInvalid());
}

TEST(MemberNames, DefaultIdsAndValidation) {
  EXPECT_EQ(MembersPrefix("prod"), "/prod/members/");
  EXPECT_EQ(DefaultNodeId("127.0.0.1:3000"), "127.0.0.1-3000");
  EXPECT_EQ(DefaultNodeId("[::1]:3000"), "_--1_-3000");
  EXPECT_TRUE(ValidateNodeId("node-1.a_b").ok());
  EXPECT_TRUE(ValidateNodeId("").IsInvalid());
  EXPECT_TRUE(ValidateNodeId("a/b").IsInvalid());
  EXPECT_TRUE(ValidateClusterName("prod").ok());
  EXPECT_TRUE(ValidateClusterName("a b").IsInvalid());
  EXPECT_TRUE(ValidateClusterName(std::string(65, 'a')).IsInvalid());
}

TEST(SplitHostPort, SplitsAtTheLastColon) {
  EXPECT_EQ(*SplitHostPort("127.0.0.1:3000"), (std::pair<std::string, int>{"127.0.0.1", 3000}));
  EXPECT_EQ(*SplitHostPort("[::1]:3000"), (std::pair<std::string, int>{"::1", 3000}));
  EXPECT_TRUE(SplitHostPort("host").status().IsInvalid());
  EXPECT_TRUE(SplitHostPort("host:0").status().IsInvalid());
  EXPECT_TRUE(SplitHostPort("host:70000").status().IsInvalid());
  EXPECT_TRUE(SplitHostPort(":3000").status().IsInvalid());
}

TEST(MemberTable, ResetThenWatchEvents) {
  MemberTable table(kPrefix);
  table.Reset({Record("b", "h:1"), Record("a", "h:2")}, 10);
  EXPECT_EQ(Ids(table), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(table.revision(), 10);

  etcd::WatchMessage joined;
  joined.revision = 11;
  joined.events.push_back({false, Record("c", "h:3")});
  EXPECT_TRUE(table.Apply(joined));
  EXPECT_EQ(Ids(table), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(table.revision(), 11);

  etcd::WatchMessage left;
  left.revision = 12;
  left.events.push_back({true, {kPrefix + "a", "", 12, 0}});
  EXPECT_TRUE(table.Apply(left));
  EXPECT_EQ(Ids(table), (std::vector<std::string>{"b", "c"}));
  EXPECT_FALSE(table.Contains("a"));

  // An update replaces the record; the key, not the value, names the member.
  etcd::WatchMessage moved;
  moved.events.push_back({false, Record("b", "h:9")});
  moved.events.back().kv.value = MemberInfo{"other", "h:9", "", "", "", 0}.ToJson().dump();
  table.Apply(moved);
  auto members = table.Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].node_id, "b");
  EXPECT_EQ(members[0].flight, "h:9");

  etcd::WatchMessage progress;  // no events
  EXPECT_FALSE(table.Apply(progress));
  table.Reset({}, 20);
  EXPECT_TRUE(table.Members().empty());
}

TEST(MemberTable, IgnoresUnparsableRecordsAndKeysOutsideThePrefix) {
  MemberTable table(kPrefix);
  etcd::KeyValue broken{kPrefix + "x", "not json", 1, 0};
  etcd::KeyValue outside{"/other/members/y", Record("y", "h:1").value, 1, 0};
  table.Reset({Record("a", "h:1"), broken, outside}, 5);
  EXPECT_EQ(Ids(table), (std::vector<std::string>{"a"}));
  // A member whose record becomes unparsable leaves the table.
  etcd::WatchMessage message;
  message.events.push_back({false, {kPrefix + "a", "{", 6, 0}});
  table.Apply(message);
  EXPECT_TRUE(table.Members().empty());
}

}  // namespace
}  // namespace arbalest
