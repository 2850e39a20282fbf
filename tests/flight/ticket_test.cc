#include "flight/ticket.h"

#include <gtest/gtest.h>

#include <variant>

namespace arbalest {
namespace {

arrow::Result<ScanTicket> ParseScanTicket(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto ticket, ParseTicket(text));
  if (!std::holds_alternative<ScanTicket>(ticket)) return arrow::Status::Invalid("not a scan");
  return std::get<ScanTicket>(std::move(ticket));
}

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
  EXPECT_NE(json->options.filter, nullptr);
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
}

TEST(TicketTest, AfterSegmentOfALocalOnlyScan) {
  auto parsed = ParseScanTicket(
      R"({"dataset":"ds","local_only":true,"after_segment":{"first_row":0,"rows":1500,"graph":"12345"}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(parsed->options.after_segment.has_value());
  EXPECT_EQ(parsed->options.after_segment->first_row, 0);
  EXPECT_EQ(parsed->options.after_segment->rows, 1500);
  EXPECT_EQ(parsed->options.after_segment->graph, 12345u);
  EXPECT_FALSE(ParseScanTicket(R"({"dataset":"ds"})")->options.after_segment.has_value());

  ExpectInvalid(R"({"dataset":"ds","after_segment":{"first_row":0,"rows":5,"graph":"1"}})",
                "needs 'local_only': true");
  ExpectInvalid(R"({"dataset":"ds","local_only":true,"after_segment":[0,5]})",
                "'after_segment' is not an object");
  ExpectInvalid(
      R"({"dataset":"ds","local_only":true,"after_segment":{"first_row":-1,"rows":5,"graph":"1"}})",
      "needs first_row >= 0, rows > 0 and graph");
  ExpectInvalid(
      R"({"dataset":"ds","local_only":true,"after_segment":{"first_row":0,"rows":0,"graph":"1"}})",
      "needs first_row >= 0, rows > 0 and graph");
  ExpectInvalid(
      R"({"dataset":"ds","local_only":true,"after_segment":{"first_row":0,"rows":5,"graph":"x1"}})",
      "graph must be a decimal string");
  ExpectInvalid(
      R"({"dataset":"ds","local_only":true,"after_segment":{"first_row":0,"rows":5,"graph":"1","x":1}})",
      "unknown key 'x'");
}

TEST(TicketTest, SearchTickets) {
  auto ticket = ParseTicket(
      R"({"search":{"dataset":"ds","vector":[1,2.5,-3],"k":5,"ef":40,"columns":["a"],
                    "include_vectors":true,"filters":[{"field":"a","op":">","value":1}]}})");
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  const auto& search = std::get<ParsedSearch>(*ticket);
  EXPECT_EQ(search.dataset, "ds");
  ASSERT_EQ(search.queries.size(), 1u);
  EXPECT_EQ(search.queries[0].query, (std::vector<float>{1, 2.5f, -3}));
  EXPECT_EQ(search.queries[0].k, 5);
  EXPECT_EQ(search.queries[0].ef, 40);
  EXPECT_TRUE(search.queries[0].include_vectors);

  auto expect_invalid = [](const std::string& text, const std::string& mention) {
    auto parsed = ParseTicket(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_TRUE(parsed.status().IsInvalid()) << parsed.status().ToString();
    EXPECT_NE(parsed.status().message().find(mention), std::string::npos)
        << parsed.status().message();
  };
  expect_invalid(R"({"search":{"dataset":"ds"}})", "needs 'vector'");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[1],"kk":3}})", "unknown key 'kk'");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[1,"x"]}})", "only numbers");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[1e39]}})", "non-finite");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[]}})", "non-empty");
  expect_invalid(R"({"search":{"dataset":"ds","vectors":[[1]]}})", "only accepted by");
  expect_invalid(R"({"search":{"vector":[1]},"limit":3})", "unknown key 'limit'");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[1],"text_query":5}})",
                 "'text_query' in search ticket must be a string");
  expect_invalid(R"({"search":{"dataset":"ds","vector":[1],"alpha":"0.5"}})",
                 "'alpha' in search ticket must be a number");
  expect_invalid(R"({"search":{"dataset":"ds","alpha":0}})", "needs 'vector'");
}

TEST(TicketTest, ClusterScanKeys) {
  auto bare = ParseTicket("ds");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(std::get<ScanTicket>(*bare).fan_out.local_only);
  EXPECT_EQ(std::get<ScanTicket>(*bare).keys, Json({{"dataset", "ds"}}));  // the hop's keys

  auto ticket = ParseTicket(R"({"dataset":"ds","limit":5,"local_only":true,"require_all":true,
                      "timeout_ms":250})");
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  const auto& scan = std::get<ScanTicket>(*ticket);
  EXPECT_TRUE(scan.fan_out.local_only);
  EXPECT_TRUE(scan.fan_out.require_all);
  EXPECT_EQ(scan.fan_out.timeout_ms, 250);
  EXPECT_EQ(scan.options.limit, 5);
  EXPECT_EQ(scan.keys["limit"], 5);

  auto bad = ParseTicket(R"({"dataset":"ds","local_only":"yes"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'local_only' in scan ticket"), std::string::npos);
}

TEST(TicketTest, ClusterSearchKeys) {
  auto plain = ParseTicket(R"({"search":{"dataset":"ds","vector":[1]}})");
  ASSERT_TRUE(plain.ok());
  const auto& defaults = std::get<ParsedSearch>(*plain).fan_out;
  EXPECT_FALSE(defaults.local_only);
  EXPECT_FALSE(defaults.require_all);
  EXPECT_FALSE(defaults.timeout_ms.has_value());

  auto ticket = ParseTicket(
      R"({"search":{"dataset":"ds","vector":[1],"local_only":true,"require_all":true,
                    "timeout_ms":250}})");
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  const auto& search = std::get<ParsedSearch>(*ticket);
  EXPECT_TRUE(search.fan_out.local_only);
  EXPECT_TRUE(search.fan_out.require_all);
  EXPECT_EQ(search.fan_out.timeout_ms, 250);
  EXPECT_EQ(search.keys["timeout_ms"], 250);  // the request as sent, for the hop

  for (const char* bad : {R"("local_only":1)", R"("require_all":"yes")", R"("timeout_ms":0)",
                          R"("timeout_ms":600001)", R"("timeout_ms":1.5)"}) {
    auto parsed =
        ParseTicket(std::string(R"({"search":{"dataset":"ds","vector":[1],)") + bad + "}}");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(parsed.status().IsInvalid());
    const std::string key = std::string(bad).substr(1, std::string(bad).find('"', 1) - 1);
    EXPECT_NE(parsed.status().message().find("'" + key + "'"), std::string::npos)
        << parsed.status().message();
  }
}

TEST(TicketTest, HybridSearchTickets) {
  auto ticket = ParseTicket(
      R"({"search":{"dataset":"ds","vector":[1,2],"text_query":"red fox","alpha":0.25}})");
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  const SearchRequest& request = std::get<ParsedSearch>(*ticket).queries.at(0);
  EXPECT_EQ(request.text_query, "red fox");
  EXPECT_EQ(request.alpha, 0.25);
  EXPECT_EQ(request.query, (std::vector<float>{1, 2}));

  // Text only: the vector may be left out (the store checks that alpha is 0).
  auto text_only = ParseTicket(R"({"search":{"dataset":"ds","text_query":"fox","alpha":0}})");
  ASSERT_TRUE(text_only.ok()) << text_only.status().ToString();
  const SearchRequest& text_request = std::get<ParsedSearch>(*text_only).queries.at(0);
  EXPECT_TRUE(text_request.query.empty());
  EXPECT_EQ(text_request.alpha, 0.0);
  EXPECT_FALSE(std::get<ParsedSearch>(*ParseTicket(R"({"search":{"dataset":"ds","vector":[1]}})"))
                   .queries.at(0)
                   .text_query.has_value());
}

}  // namespace
}  // namespace arbalest
