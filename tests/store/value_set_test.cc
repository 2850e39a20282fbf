#include "store/value_set.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json_util.h"
#include "flight/filter_parser.h"
#include "store/filter.h"

namespace arbalest {
namespace {

struct Case {
  std::shared_ptr<arrow::DataType> type;
  const char* values;  // a JSON array
};

std::string Describe(const Case& c) { return c.type->ToString() + " <- " + c.values; }

// `values` (a JSON array) as the parser gives an 'in' list: one array when alike, else literals.
FilterValueList ListOf(const std::string& values) {
  const Json filter = Json::parse(R"({"field":"col","op":"in","value":)" + values + "}");
  return ParseFilterExpr(filter).ValueOrDie().values;
}

// The one-cast path must convert exactly as the value-by-value path: the same array, or a
// refusal whenever that path refuses (with its message, naming the value).
TEST(ValueSetTest, OneCastConvertsLikeValueByValue) {
  const auto ms_utc = arrow::timestamp(arrow::TimeUnit::MILLI, "UTC");
  const std::vector<Case> cases = {
      {arrow::int64(), "[1, -2, 3, 9223372036854775807]"},
      {arrow::int64(), "[1, 18446744073709551615]"},  // beyond int64: refused
      {arrow::uint64(), "[0, 18446744073709551615]"},
      {arrow::uint64(), "[3, -1]"},
      {arrow::int32(), "[1, 2, 3000000000]"},
      {arrow::int8(), "[127, -128]"},
      {arrow::int64(), "[1.0, 2.0, -3.0]"},
      {arrow::int64(), "[1.5]"},
      {arrow::int64(), "[\"12\", \"-7\"]"},
      {arrow::int64(), "[\"12\", \"x\"]"},
      {arrow::int64(), "[1, \"2\"]"},  // mixed kinds
      {arrow::float64(), "[0.25, -1e300, 3.5]"},
      {arrow::float64(), "[1, 2, 3]"},
      {arrow::float32(), "[0.1, 16777217.0]"},
      {arrow::float32(), "[1, 16777217]"},
      {arrow::utf8(), "[\"a\", \"b\", \"\", \"café\"]"},
      {arrow::utf8(), "[1, 2.5]"},  // numbers are printed into strings value by value
      {arrow::large_utf8(), "[\"a\", \"b\"]"},
      {arrow::binary(), "[\"a\", \"b\"]"},
      {arrow::boolean(), "[true, false]"},
      {arrow::boolean(), "[0, 1]"},
      {arrow::boolean(), "[2]"},
      {ms_utc, "[1704067200000, -5]"},
      {ms_utc, "[\"2024-01-01T00:00:00Z\", \"2024-01-01 01:00:00\"]"},
      {ms_utc, "[1.5]"},
      {arrow::decimal128(10, 2), "[1, 250, \"3.25\"]"},
      {arrow::decimal128(10, 2), "[\"3.25\", \"1.5\"]"},
      {arrow::date32(), "[19000, 19001]"},
      {arrow::int64(), "[]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c));
    const FilterValueList values = ListOf(c.values);
    const arrow::Field field("col", c.type);
    const auto expected = MakeValueSetOneByOne(values, field);
    const auto actual = MakeValueSet(values, field);
    ASSERT_EQ(actual.ok(), expected.ok())
        << actual.status().ToString() << " vs " << expected.status().ToString();
    if (!expected.ok()) {
      EXPECT_EQ(actual.status().ToString(), expected.status().ToString());
      continue;
    }
    EXPECT_TRUE((*actual)->type()->Equals(*c.type)) << (*actual)->type()->ToString();
    EXPECT_TRUE((*actual)->Equals(**expected))
        << (*actual)->ToString() << " vs " << (*expected)->ToString();
  }
}

TEST(ValueSetTest, RefusalsNameTheValue) {
  const arrow::Field field("price", arrow::int32());
  const auto refused = MakeValueSet(ListOf("[1, 2, 3000000000, 4]"), field);
  ASSERT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("3000000000"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("'price'"), std::string::npos);
}

}  // namespace
}  // namespace arbalest
