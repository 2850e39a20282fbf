#include "common/json_util.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

TEST(JsonUtilTest, ParsesObjectsOnly) {
  EXPECT_TRUE(ParseJsonObject(R"({"a":1})", "ticket").ok());
  auto not_json = ParseJsonObject("{oops", "ticket");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().message(), "ticket is not valid JSON");
  auto array = ParseJsonObject("[1,2]", "ticket");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().message(), "ticket must be a JSON object");
}

// Found by fuzzing: a ticket of a few hundred kilobytes of nested filters ran the server out of
// stack. Documents deeper than kMaxJsonDepth are refused before anything walks them.
TEST(JsonUtilTest, DeeplyNestedDocumentsAreRefused) {
  const auto nested = [](int depth) {
    return std::string(static_cast<size_t>(depth), '[') +
           std::string(static_cast<size_t>(depth), ']');
  };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth), "ticket").ok());
  auto deep = ParseJson(nested(kMaxJsonDepth + 1), "ticket");
  ASSERT_TRUE(deep.status().IsInvalid());
  EXPECT_EQ(deep.status().message(), "ticket nests arrays and objects deeper than 64 levels");
  EXPECT_TRUE(ParseJsonObject("{\"a\":" + nested(200000) + "}", "ticket").status().IsInvalid());
  // Brackets in strings are text, escaped quotes included.
  const std::string text = "\"\\\"" + std::string(100, '[') + "\"";
  auto in_string = ParseJsonObject("{\"a\": [" + text + "]}", "ticket");
  ASSERT_TRUE(in_string.ok()) << in_string.status().ToString();
  EXPECT_EQ((*in_string)["a"][0].get<std::string>().size(), 101u);
}

TEST(JsonUtilTest, UnknownKeyIsNamed) {
  Json object = Json::parse(R"({"dataset":"x","limt":5})");
  auto status = CheckKnownKeys(object, {"dataset", "limit"}, "scan ticket");
  ASSERT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("'limt'"), std::string::npos) << status.message();
  EXPECT_TRUE(CheckKnownKeys(object, {"dataset", "limt"}, "scan ticket").ok());
}

TEST(JsonUtilTest, TypedGettersCheckTypes) {
  Json object = Json::parse(R"({"name":"ds","limit":"ten","n":7})");
  EXPECT_EQ(**GetOptionalString(object, {"dataset", "name"}, "t"), "ds");
  EXPECT_FALSE(GetOptionalString(object, {"missing"}, "t")->has_value());
  EXPECT_TRUE(GetOptionalString(object, {"n"}, "t").status().IsInvalid());
  EXPECT_EQ(**GetOptionalInt(object, "n", "t"), 7);
  auto bad = GetOptionalInt(object, "limit", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'limit'"), std::string::npos);
}

TEST(JsonUtilTest, NumbersMayBeIntegersOrNot) {
  Json object = Json::parse(R"({"a":0.25,"b":-1,"c":"0.5"})");
  EXPECT_EQ(**GetOptionalNumber(object, "a", "t"), 0.25);
  EXPECT_EQ(**GetOptionalNumber(object, "b", "t"), -1.0);
  EXPECT_FALSE(GetOptionalNumber(object, "missing", "t")->has_value());
  auto bad = GetOptionalNumber(object, "c", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'c' in t must be a number"), std::string::npos);
}

TEST(JsonUtilTest, JsonBufferReplacesInvalidUtf8) {
  // A row stored by an older build, before puts were checked: "caf" + a lone 0xE9 (Latin-1 é).
  const Json reply = {{"text", std::string("caf\xE9 ok")}, {"n", 1}};
  std::shared_ptr<arrow::Buffer> buffer;
  ASSERT_NO_THROW(buffer = JsonBuffer(reply));
  const Json parsed = Json::parse(buffer->ToString());
  EXPECT_EQ(parsed["text"], "caf\xEF\xBF\xBD ok");  // U+FFFD
  EXPECT_EQ(parsed["n"], 1);
}

}  // namespace
}  // namespace arbalest
