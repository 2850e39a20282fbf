#include "flight/ticket.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

TEST(TicketTest, BareNameAndJson) {
  auto bare = ParseScanTicket("my.dataset-1");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->dataset, "my.dataset-1");
  EXPECT_FALSE(bare->options.limit.has_value());

  auto json = ParseScanTicket(
      R"({"name":"ds","limit":5,"columns":["a","b"],"filters":[{"field":"a","op":"=","value":1}]})");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->dataset, "ds");
  EXPECT_EQ(*json->options.limit, 5);
  EXPECT_EQ(json->options.columns->size(), 2u);
  EXPECT_TRUE(json->options.filters.is_array());
}

TEST(TicketTest, ScanTicketForRoundTrips) {
  auto parsed = ParseScanTicket(ScanTicketFor("ds_1"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->dataset, "ds_1");
}

void ExpectInvalid(const std::string& ticket, const std::string& mention) {
  auto parsed = ParseScanTicket(ticket);
  ASSERT_FALSE(parsed.ok()) << ticket;
  EXPECT_TRUE(parsed.status().IsInvalid()) << parsed.status().ToString();
  EXPECT_NE(parsed.status().message().find(mention), std::string::npos)
      << parsed.status().message();
}

TEST(TicketTest, BadTicketsAreNamed) {
  ExpectInvalid("", "empty ticket");
  ExpectInvalid("not a name!", "neither a JSON object nor a dataset name");
  ExpectInvalid("{broken", "ticket is not valid JSON");
  ExpectInvalid(R"({"dataset":"ds","limt":3})", "unknown key 'limt'");
  ExpectInvalid(R"({"limit":3})", "needs 'dataset'");
  ExpectInvalid(R"({"dataset":"ds","limit":"3"})", "'limit'");
  ExpectInvalid(R"({"dataset":"ds","columns":"a"})", "'columns' must be a JSON array");
  ExpectInvalid(R"({"dataset":"a b"})", "invalid dataset name 'a b'");
  EXPECT_TRUE(ParseScanTicket(R"({"search":{"dataset":"ds"}})").status().IsNotImplemented());
}

}  // namespace
}  // namespace arbalest
