#include "flight/auth_policy.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

namespace fl = arrow::flight;

TEST(AuthPolicyTest, ActionRoles) {
  for (const char* read :
       {"VectorSearch", "HybridSearch", "VectorSearchByID", "check_readiness", "stats"}) {
    EXPECT_EQ(RequiredRole(read), Role::kRead) << read;
  }
  for (const char* write : {"delete", "snapshot", "ForceSnapshot"}) {
    EXPECT_EQ(RequiredRole(write), Role::kWrite) << write;
  }
  for (const char* admin : {"compact", "delete-dataset", "cluster-status", "no-such-action"}) {
    EXPECT_EQ(RequiredRole(admin), Role::kAdmin) << admin;
  }
}

TEST(AuthPolicyTest, DatasetsOfRequests) {
  EXPECT_EQ(ForTicket("logs_a").datasets, std::vector<std::string>{"logs_a"});
  EXPECT_EQ(ForTicket(R"({"dataset":"a","limit":1})").datasets, std::vector<std::string>{"a"});
  EXPECT_EQ(ForTicket(R"({"search":{"name":"b","vector":[1]}})").datasets,
            std::vector<std::string>{"b"});
  EXPECT_EQ(ForTicket(R"({"dataset":"a","name":"b"})").datasets.size(), 2u);
  EXPECT_TRUE(ForTicket("{not json").datasets.empty());
  EXPECT_TRUE(ForAction("stats", "").every_dataset);
  EXPECT_TRUE(ForAction("snapshot", "{}").every_dataset);
  EXPECT_FALSE(ForAction("stats", R"({"dataset":"a"})").every_dataset);
  EXPECT_FALSE(ForAction("delete", "").every_dataset);
  EXPECT_EQ(ForDescriptor("DoPut", fl::FlightDescriptor::Path({"a"}), Role::kWrite).datasets,
            std::vector<std::string>{"a"});
  auto ingest = ForExchange(fl::FlightDescriptor::Path({"ingest", "a"}));
  EXPECT_EQ(ingest.role, Role::kWrite);
  EXPECT_EQ(ingest.datasets, std::vector<std::string>{"a"});
  auto search = ForExchange(fl::FlightDescriptor::Command("VectorSearch"));
  EXPECT_EQ(search.role, Role::kRead);
  EXPECT_TRUE(search.datasets.empty());
}

TEST(AuthPolicyTest, Decisions) {
  const TokenEntry reader{"r", Role::kRead, {"logs_*"}, ""};
  const TokenEntry admin{"a", Role::kAdmin, {"*"}, ""};
  auto decision = Decide(reader, ForAction("delete", R"({"dataset":"logs_a","id":1})"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason, "role");
  EXPECT_EQ(decision.message, "token 'r' has role read; action 'delete' needs role write");
  decision = Decide(reader, ForTicket("other"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason, "dataset");
  EXPECT_EQ(decision.dataset, "other");
  EXPECT_TRUE(Decide(reader, ForTicket("logs_1")).allowed);
  // Every name in the request must match, whichever one the handler uses.
  EXPECT_FALSE(Decide(reader, ForTicket(R"({"dataset":"logs_1","name":"other"})")).allowed);
  EXPECT_FALSE(Decide(reader, ForAction("stats", "{}")).allowed);
  EXPECT_FALSE(Decide(reader, ForTicket("{broken")).allowed);
  EXPECT_TRUE(Decide(admin, ForAction("stats", "{}")).allowed);
  EXPECT_TRUE(Decide(admin, ForTicket("{broken")).allowed);  // the handler refuses it
  EXPECT_TRUE(Decide(reader, ForExchange(fl::FlightDescriptor::Command("VectorSearch"))).allowed);
  EXPECT_FALSE(
      DecideDataset(reader, ForExchange(fl::FlightDescriptor::Command("VectorSearch")), "other")
          .allowed);
}

// A cluster token makes the hops of a cluster search (read calls saying local_only) and nothing
// else: no plain search, no scan, no write, no admin action, no listing.
TEST(AuthPolicyTest, ClusterRoleMayOnlyHop) {
  const TokenEntry node{"node", Role::kCluster, {"*"}, ""};
  EXPECT_TRUE(
      Decide(node, ForTicket(R"({"search":{"dataset":"a","vector":[1],"local_only":true}})"))
          .allowed);
  EXPECT_TRUE(Decide(node, ForAction("stats", R"({"dataset":"a","local_only":true})")).allowed);
  auto decision = Decide(node, ForTicket(R"({"search":{"dataset":"a","vector":[1]}})"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason, "role");
  EXPECT_EQ(decision.message,
            "token 'node' has role cluster: it may only make the calls between cluster nodes "
            "(read calls with local_only, shard-fence), not DoGet");
  EXPECT_FALSE(Decide(node, ForTicket(R"({"search":{"dataset":"a","local_only":false}})")).allowed);
  EXPECT_FALSE(Decide(node, ForTicket("a")).allowed);
  EXPECT_FALSE(Decide(node, ForAction("delete", R"({"dataset":"a","local_only":true})")).allowed);
  EXPECT_FALSE(Decide(node, ForAction("cluster-status", R"({"local_only":true})")).allowed);
  EXPECT_FALSE(Decide(node, ForDescriptor("DoPut", fl::FlightDescriptor::Path({"a"}), Role::kWrite))
                   .allowed);
  EXPECT_FALSE(
      Decide(node, ForDescriptor("GetFlightInfo", fl::FlightDescriptor::Path({"a"}), Role::kRead))
          .allowed);
  // Its dataset patterns hold as for any token.
  const TokenEntry scoped{"node", Role::kCluster, {"logs_*"}, ""};
  EXPECT_FALSE(
      Decide(scoped, ForTicket(R"({"search":{"dataset":"a","vector":[1],"local_only":true}})"))
          .allowed);
  // Other roles may hop as they may search.
  const TokenEntry reader{"r", Role::kRead, {"*"}, ""};
  EXPECT_TRUE(Decide(reader, ForTicket(R"({"search":{"dataset":"a","local_only":true}})")).allowed);
  // A replica's catch-up closes its source's shard fence.
  EXPECT_TRUE(Decide(node, ForAction("shard-fence", R"({"dataset":"a.__shard1"})")).allowed);
  EXPECT_FALSE(Decide(reader, ForAction("shard-fence", R"({"dataset":"a.__shard1"})")).allowed);
  // And reads the digests of its source's copy.
  EXPECT_TRUE(Decide(node, ForAction("shard-digest", R"({"dataset":"a","shard":1})")).allowed);
  EXPECT_FALSE(Decide(reader, ForAction("shard-digest", R"({"dataset":"a","shard":1})")).allowed);
  // And fetches its source's sealed segments with their graphs, which a reader may not.
  EXPECT_TRUE(Decide(node, ForAction("shard-segments", R"({"dataset":"a.__shard1"})")).allowed);
  EXPECT_FALSE(Decide(reader, ForAction("shard-segments", R"({"dataset":"a.__shard1"})")).allowed);
  const std::string segment =
      R"({"shard_segment":{"dataset":"a.__shard1","first_row":0,"rows":5,"graph":"1"}})";
  EXPECT_EQ(ForTicket(segment).datasets, std::vector<std::string>{"a"});
  EXPECT_TRUE(Decide(node, ForTicket(segment)).allowed);
  EXPECT_FALSE(Decide(reader, ForTicket(segment)).allowed);
}

TEST(AuthPolicyTest, ShardDatasetsAreCheckedAsTheirDataset) {
  EXPECT_EQ(ForTicket(R"({"dataset":"logs_a.__shard12","local_only":true})").datasets,
            std::vector<std::string>{"logs_a"});
  EXPECT_EQ(ForTicket(R"({"dataset":"a.__shardx"})").datasets,
            std::vector<std::string>{"a.__shardx"});
  const TokenEntry reader{"r", Role::kRead, {"logs_*"}, ""};
  EXPECT_TRUE(
      Decide(reader, ForTicket(R"({"dataset":"logs_a.__shard0","local_only":true})")).allowed);
  EXPECT_FALSE(Decide(reader, ForTicket(R"({"dataset":"b.__shard0","local_only":true})")).allowed);
}

TEST(AuthPolicyTest, ForwardedWritesAreDecidedByTheClientsToken) {
  const TokenEntry node{"node", Role::kCluster, {"*"}, ""};
  const TokenEntry writer{"w", Role::kWrite, {"logs_*"}, ""};
  const TokenEntry reader{"r", Role::kRead, {"*"}, ""};
  const auto put = ForDescriptor(
      "DoPut",
      fl::FlightDescriptor::Command(R"({"shard_put":{"dataset":"logs_a","shard":1,"epoch":2}})"),
      Role::kWrite);
  EXPECT_TRUE(put.forwardable);
  EXPECT_EQ(put.datasets, std::vector<std::string>{"logs_a"});
  const auto hop_delete = ForAction("delete", R"({"dataset":"logs_a.__shard1","local_only":true})");
  EXPECT_TRUE(hop_delete.forwardable);
  EXPECT_FALSE(ForAction("delete", R"({"dataset":"logs_a"})").forwardable);
  // The cluster token alone may not write.
  auto alone = Decide(node, put);
  EXPECT_FALSE(alone.allowed);
  EXPECT_NE(alone.message.find("must carry that client's token"), std::string::npos);
  EXPECT_FALSE(Decide(node, hop_delete).allowed);
  // With the client's: the client's role and datasets decide.
  EXPECT_TRUE(DecideForwarded(node, &writer, put).allowed);
  EXPECT_TRUE(DecideForwarded(node, &writer, hop_delete).allowed);
  auto refused = DecideForwarded(node, &reader, put);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.reason, "role");
  EXPECT_NE(refused.message.find("(forwarded by cluster token 'node')"), std::string::npos);
  const auto other = ForDescriptor(
      "DoPut", fl::FlightDescriptor::Command(R"({"shard_put":{"dataset":"b","shard":0}})"),
      Role::kWrite);
  EXPECT_EQ(DecideForwarded(node, &writer, other).reason, "dataset");
  EXPECT_EQ(DecideForwarded(node, nullptr, put).reason, "bad_token");
  EXPECT_FALSE(DecideForwarded(node, &node, put).allowed);  // a cluster token is no client's
  // Only the writes a node makes on a client's behalf forward a token.
  EXPECT_FALSE(
      DecideForwarded(node, &writer, ForAction("compact", R"({"dataset":"logs_a"})")).allowed);
}

}  // namespace
}  // namespace arbalest
