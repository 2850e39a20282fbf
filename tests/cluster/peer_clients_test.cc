// The pool of Flight clients to the other members (gRPC connects lazily: no server needed).
#include "cluster/peer_clients.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

TEST(PeerClients, OneClientPerAddressUntilDroppedOrGone) {
  PeerClients peers;
  auto first = peers.Get("127.0.0.1:1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*peers.Get("127.0.0.1:1"), *first);
  auto other = peers.Get("127.0.0.1:2");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);

  peers.Drop("127.0.0.1:1");
  EXPECT_NE(*peers.Get("127.0.0.1:1"), *first);  // connected afresh

  const auto kept = *peers.Get("127.0.0.1:2");
  const auto gone = *peers.Get("127.0.0.1:1");
  peers.KeepOnly({"127.0.0.1:2"});
  EXPECT_EQ(*peers.Get("127.0.0.1:2"), kept);
  EXPECT_NE(*peers.Get("127.0.0.1:1"), gone);

  EXPECT_TRUE(peers.Get("no-port").status().IsInvalid());
}

}  // namespace
}  // namespace arbalest
