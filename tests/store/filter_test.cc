#include "store/filter.h"

#include <arrow/api.h>
#include <arrow/util/logging.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "flight/filter_parser.h"

namespace arbalest {
namespace {

// `filters` (the protocol's JSON) parsed as a request's are, then compiled for `schema`.
arrow::Result<arrow::compute::Expression> ParseAndCompile(const std::string& filters,
                                                          const arrow::Schema& schema) {
  ARROW_ASSIGN_OR_RAISE(FilterExpr expr, ParseFilterExpr(Json::parse(filters)));
  return CompileFilter(expr, schema);
}

// 100 rows: i = row (null every 10th), f = row / 4, s = "item<row % 7>", b = row is even,
// t = 2024-01-01T00:00:00Z + row hours (milliseconds).
constexpr int64_t kRows = 100;
constexpr int64_t kEpoch2024Ms = 1704067200000;
constexpr int64_t kHourMs = 3600000;

std::optional<int64_t> I(int64_t row) { return row % 10 == 0 ? std::nullopt : std::optional(row); }
double F(int64_t row) { return static_cast<double>(row) / 4; }
std::string S(int64_t row) { return "item" + std::to_string(row % 7); }

std::shared_ptr<arrow::RecordBatch> Rows() {
  arrow::Int64Builder i;
  arrow::DoubleBuilder f;
  arrow::StringBuilder s;
  arrow::BooleanBuilder b;
  arrow::TimestampBuilder t(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"),
                            arrow::default_memory_pool());
  for (int64_t row = 0; row < kRows; ++row) {
    if (auto value = I(row)) {
      ARROW_CHECK_OK(i.Append(*value));
    } else {
      ARROW_CHECK_OK(i.AppendNull());
    }
    ARROW_CHECK_OK(f.Append(F(row)));
    ARROW_CHECK_OK(s.Append(S(row)));
    ARROW_CHECK_OK(b.Append(row % 2 == 0));
    ARROW_CHECK_OK(t.Append(kEpoch2024Ms + row * kHourMs));
  }
  auto schema =
      arrow::schema({arrow::field("i", arrow::int64()), arrow::field("f", arrow::float64()),
                     arrow::field("s", arrow::utf8()), arrow::field("b", arrow::boolean()),
                     arrow::field("t", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"))});
  return arrow::RecordBatch::Make(
      schema, kRows, {*i.Finish(), *f.Finish(), *s.Finish(), *b.Finish(), *t.Finish()});
}

// Rows selected by `filters`, as row numbers (f * 4 recovers the row).
std::vector<int64_t> Select(const std::string& filters) {
  auto batch = Rows();
  auto filter = ParseAndCompile(filters, *batch->schema());
  EXPECT_TRUE(filter.ok()) << filters << ": " << filter.status().ToString();
  if (!filter.ok()) return {};
  auto selected = ApplyFilter(*filter, batch);
  EXPECT_TRUE(selected.ok()) << selected.status().ToString();
  const auto& f = static_cast<const arrow::DoubleArray&>(*(*selected)->column(1));
  std::vector<int64_t> rows;
  for (int64_t k = 0; k < f.length(); ++k) rows.push_back(static_cast<int64_t>(f.Value(k) * 4));
  return rows;
}

std::vector<int64_t> Expected(const std::function<bool(int64_t)>& predicate) {
  std::vector<int64_t> rows;
  for (int64_t row = 0; row < kRows; ++row) {
    if (predicate(row)) rows.push_back(row);
  }
  return rows;
}

TEST(FilterTest, ComparisonsOnIntegersDropNulls) {
  EXPECT_EQ(Select(R"([{"field":"i","op":">","value":42}])"),
            Expected([](int64_t r) { return I(r) && *I(r) > 42; }));
  EXPECT_EQ(Select(R"([{"field":"i","op":"le","value":"17"}])"),
            Expected([](int64_t r) { return I(r) && *I(r) <= 17; }));
  EXPECT_EQ(Select(R"([{"field":"i","operator":"!=","value":5}])"),
            Expected([](int64_t r) { return I(r) && *I(r) != 5; }));
  EXPECT_EQ(Select(R"([{"field":"i","op":"<","value":7.5}])"),
            Expected([](int64_t r) { return I(r) && *I(r) < 7.5; }));
}

TEST(FilterTest, NullComparisons) {
  EXPECT_EQ(Select(R"([{"field":"i","op":"=","value":null}])"),
            Expected([](int64_t r) { return !I(r); }));
  EXPECT_EQ(Select(R"([{"field":"i","op":"!=","value":null}])"),
            Expected([](int64_t r) { return I(r).has_value(); }));
}

TEST(FilterTest, FloatsStringsBoolsTimestamps) {
  EXPECT_EQ(Select(R"([{"field":"f","op":">=","value":12.25}])"),
            Expected([](int64_t r) { return F(r) >= 12.25; }));
  EXPECT_EQ(Select(R"([{"field":"s","op":"==","value":"item3"}])"),
            Expected([](int64_t r) { return S(r) == "item3"; }));
  EXPECT_EQ(Select(R"([{"field":"s","op":">","value":"item4"}])"),
            Expected([](int64_t r) { return S(r) > "item4"; }));
  EXPECT_EQ(Select(R"([{"field":"b","op":"eq","value":true}])"),
            Expected([](int64_t r) { return r % 2 == 0; }));
  EXPECT_EQ(Select(R"([{"field":"t","op":"<","value":"2024-01-02T00:00:00"}])"),
            Expected([](int64_t r) { return r < 24; }));
  EXPECT_EQ(Select(R"([{"field":"t","op":">=","value":"2024-01-03T00:00:00Z"}])"),
            Expected([](int64_t r) { return r >= 48; }));
  EXPECT_EQ(Select("[{\"field\":\"t\",\"op\":\"=\",\"value\":" +
                   std::to_string(kEpoch2024Ms + 5 * kHourMs) + "}]"),
            Expected([](int64_t r) { return r == 5; }));
}

TEST(FilterTest, MembershipAndStringMatching) {
  EXPECT_EQ(Select(R"([{"field":"i","op":"in","value":[3, 10, 99, 1000]}])"),
            Expected([](int64_t r) { return r == 3 || r == 99; }));
  EXPECT_EQ(Select(R"([{"field":"i","op":"not in","value":[3, 10, 99]}])"),
            Expected([](int64_t r) { return I(r) && r != 3 && r != 99; }));
  EXPECT_EQ(Select(R"([{"field":"s","op":"not in","value":["item0","item1"]}])"),
            Expected([](int64_t r) { return S(r) != "item0" && S(r) != "item1"; }));
  EXPECT_EQ(Select(R"([{"field":"s","op":"contains","value":"m5"}])"),
            Expected([](int64_t r) { return S(r) == "item5"; }));
  EXPECT_EQ(Select(R"([{"field":"s","op":"prefix","value":"item"}])"),
            Expected([](int64_t) { return true; }));
}

TEST(FilterTest, AndOrNotNesting) {
  EXPECT_EQ(Select(R"([{"field":"f","op":"<","value":10},{"field":"b","op":"=","value":false}])"),
            Expected([](int64_t r) { return F(r) < 10 && r % 2 == 1; }));
  EXPECT_EQ(Select(R"([{"logic":"or","filters":[{"field":"i","op":"<","value":5},
                                                {"field":"i","op":">","value":95}]}])"),
            Expected([](int64_t r) { return I(r) && (*I(r) < 5 || *I(r) > 95); }));
  EXPECT_EQ(Select(R"({"logic":"not","filters":[{"field":"s","op":"=","value":"item2"}]})"),
            Expected([](int64_t r) { return S(r) != "item2"; }));
  EXPECT_EQ(Select("[]"), Expected([](int64_t) { return true; }));
}

void ExpectInvalid(const std::string& filters, const std::string& mention) {
  auto filter = ParseAndCompile(filters, *Rows()->schema());
  ASSERT_FALSE(filter.ok()) << filters;
  EXPECT_TRUE(filter.status().IsInvalid()) << filter.status().ToString();
  EXPECT_NE(filter.status().message().find(mention), std::string::npos)
      << filter.status().message();
}

// Found by fuzzing: Arrow folds an AND of n filters into a chain n deep, and binding a ticket's
// 20,000 filters ran the server out of stack. They now form a balanced tree.
TEST(FilterTest, LongFilterListsCompile) {
  std::string many = "[";
  for (int k = 0; k < 30000; ++k) many += R"({"field":"i","op":"!=","value":3},)";
  many += R"({"field":"i","op":"<","value":6}])";
  EXPECT_EQ(Select(many), Expected([](int64_t row) { return I(row) && row != 3 && row < 6; }));
  const std::string any = R"([{"logic":"or","filters":)" + many + "}]";
  EXPECT_EQ(Select(any), Expected([](int64_t row) { return I(row).has_value(); }));
}

TEST(FilterTest, BadFiltersAreNamed) {
  ExpectInvalid(R"([{"field":"nope","op":"=","value":1}])", "filter field 'nope' does not exist");
  ExpectInvalid(R"([{"field":"i","op":"=","value":"abc"}])",
                "value \"abc\" does not convert to int64");
  ExpectInvalid(R"([{"field":"t","op":"=","value":"yesterday"}])", "does not convert to timestamp");
  ExpectInvalid(R"([{"field":"i","op":"~","value":1}])", "unknown operator '~'");
  ExpectInvalid(R"([{"field":"i","op":"=","value":1,"extra":2}])", "unknown key 'extra'");
  ExpectInvalid(R"([{"field":"i","op":"in","value":5}])", "needs a JSON array");
  ExpectInvalid(R"([{"field":"i","op":"in","value":[1, null]}])", "null inside an 'in' list");
  ExpectInvalid(R"([{"field":"s","op":"in","value":["a", 7, true]}])",
                "value true does not convert to string");
  ExpectInvalid(R"([{"field":"i","op":"contains","value":"5"}])", "applies to string columns");
  ExpectInvalid(R"([{"field":"i","op":"=","value":99999999999999999999}])", "does not convert");
  ExpectInvalid(R"([{"logic":"xor","filters":[]}])", "unknown logic 'xor'");
  ExpectInvalid(R"("i > 5")", "must be a JSON array");
  ExpectInvalid(R"([{"field":"b","op":"=","value":2}])", "does not convert to bool");
  ExpectInvalid(R"([{"field":"i","op":">","value":null}])", "null can only be compared");
}

}  // namespace
}  // namespace arbalest
