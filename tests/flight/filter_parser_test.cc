// Typed filters against the JSON filters they replace: the filters of kGoldenFilters, parsed
// (flight/filter_parser.h) and compiled (store/filter.h), select on GoldenRows exactly the rows
// the build before typed filters selected (kOldResults, recorded by compiling each filter with
// that build's JSON compiler and applying it to the same batch), and refuse what it refused.
// Then the parser's refusals, one kind of bad input at a time, and the literals' text.
#include "flight/filter_parser.h"

#include <arrow/api.h>
#include <arrow/util/logging.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "flight/ticket.h"
#include "store/filter.h"

namespace arbalest {
namespace {

// 40 rows: row (int64), i (int64, null every 5th, row - 10), u (uint64, row * 3), f (float64, null
// every 7th, row / 2 - 3), f32 (float32, row / 4), s (utf8, null every 6th, one of five words,
// two of them numeric), b (bool, null every 4th, row % 3 == 0).
std::shared_ptr<arrow::RecordBatch> GoldenRows() {
  constexpr int64_t kRows = 40;
  const char* words[] = {"apple", "banana", "cherry", "1.5", "10"};
  arrow::Int64Builder row, i;
  arrow::UInt64Builder u;
  arrow::DoubleBuilder f;
  arrow::FloatBuilder f32;
  arrow::StringBuilder s;
  arrow::BooleanBuilder b;
  for (int64_t r = 0; r < kRows; ++r) {
    ARROW_CHECK_OK(row.Append(r));
    ARROW_CHECK_OK(r % 5 == 0 ? i.AppendNull() : i.Append(r - 10));
    ARROW_CHECK_OK(u.Append(static_cast<uint64_t>(r) * 3));
    ARROW_CHECK_OK(r % 7 == 0 ? f.AppendNull() : f.Append(static_cast<double>(r) / 2 - 3));
    ARROW_CHECK_OK(f32.Append(static_cast<float>(r) / 4));
    ARROW_CHECK_OK(r % 6 == 0 ? s.AppendNull() : s.Append(words[r % 5]));
    ARROW_CHECK_OK(r % 4 == 0 ? b.AppendNull() : b.Append(r % 3 == 0));
  }
  auto schema =
      arrow::schema({arrow::field("row", arrow::int64()), arrow::field("i", arrow::int64()),
                     arrow::field("u", arrow::uint64()), arrow::field("f", arrow::float64()),
                     arrow::field("f32", arrow::float32()), arrow::field("s", arrow::utf8()),
                     arrow::field("b", arrow::boolean())});
  return arrow::RecordBatch::Make(schema, kRows,
                                  {*row.Finish(), *i.Finish(), *u.Finish(), *f.Finish(),
                                   *f32.Finish(), *s.Finish(), *b.Finish()});
}

// Filters over GoldenRows, valid and not.
const char* kGoldenFilters[] = {
    R"([{"field":"i","op":">","value":5}])",
    R"([{"field":"i","op":"<=","value":"-3"}])",
    R"([{"field":"i","op":"<","value":-2.5}])",
    R"([{"field":"i","op":"=","value":7.0}])",
    R"([{"field":"i","op":"!=","value":4}])",
    R"([{"field":"i","op":"=","value":null}])",
    R"([{"field":"i","op":"<>","value":null}])",
    R"([{"field":"u","op":">=","value":90}])",
    R"([{"field":"u","op":"<","value":"30"}])",
    R"([{"field":"u","op":"=","value":-1}])",
    R"([{"field":"u","op":"in","value":[0, 3, 18446744073709551615]}])",
    R"([{"field":"u","op":"in","value":[-1, 18446744073709551615]}])",
    R"([{"field":"f","op":">","value":4}])",
    R"([{"field":"f","op":"<=","value":"0.5"}])",
    R"([{"field":"f","op":"in","value":[0.5, 1, "2.5", -3]}])",
    R"([{"field":"f","op":"not in","value":[0.5, 1.5, 2.5]}])",
    R"([{"field":"f32","op":">","value":9.25}])",
    R"([{"field":"f32","op":"in","value":[0.25, 1, 2]}])",
    R"([{"field":"s","op":"=","value":"banana"}])",
    R"([{"field":"s","op":"=","value":1.5}])",
    R"([{"field":"s","op":"=","value":10}])",
    R"([{"field":"s","op":">","value":"b"}])",
    R"([{"field":"s","op":"in","value":["apple","cherry"]}])",
    R"([{"field":"s","op":"in","value":[10, 1.5]}])",
    R"([{"field":"s","op":"in","value":["apple", 10]}])",
    R"([{"field":"s","op":"not in","value":["apple","1.5"]}])",
    R"([{"field":"s","op":"contains","value":"an"}])",
    R"([{"field":"s","op":"prefix","value":"ch"}])",
    R"([{"field":"s","op":"=","value":null}])",
    R"([{"field":"b","op":"=","value":true}])",
    R"([{"field":"b","op":"=","value":0}])",
    R"([{"field":"b","op":"in","value":[true]}])",
    R"([{"field":"b","op":"in","value":[0, 1]}])",
    R"([{"field":"b","op":"!=","value":false}])",
    R"([{"field":"i","op":"in","value":[1, 2, 3, "4", 5.0]}])",
    R"([{"field":"i","op":"in","value":[1, -2, 3, 25]}])",
    R"([{"field":"i","op":"not in","value":[1, -2, 3, 25]}])",
    R"([{"field":"i","op":"in","value":["1", "-2", "29"]}])",
    R"([{"field":"i","op":"in","value":[1.5, 2]}])",
    R"([{"field":"i","op":"in","value":[]}])",
    R"([{"field":"i","op":"not in","value":[]}])",
    R"([{"field":"i","op":">","value":0},{"field":"s","op":"!=","value":"apple"}])",
    R"([{"logic":"or","filters":[{"field":"i","op":"<","value":-8},{"field":"f","op":">","value":15}]}])",
    R"({"logic":"not","filters":[{"field":"b","op":"=","value":true}]})",
    R"({"logic":"not","filters":[{"field":"i","op":">","value":0},{"field":"f","op":"<","value":10}]})",
    R"([{"logic":"and","filters":[{"logic":"or","filters":[{"field":"s","op":"=","value":"10"},{"field":"b","op":"=","value":false}]},{"field":"row","op":"<","value":30}]}])",
    R"({"logic":"and","filters":[]})",
    R"({"logic":"or","filters":[]})",
    R"({"logic":"not","filters":[]})",
    R"([])",
    R"(null)",
    R"({"field":"row","op":"ge","value":38})",
    R"([{"field":"row","op":"IN","value":[0, 39]}])",
    // Refused.
    R"([{"field":"i","op":"=","value":"abc"}])",
    R"([{"field":"i","op":"~","value":1}])",
    R"([{"field":"nope","op":"=","value":1}])",
    R"([{"field":"i","op":"in","value":5}])",
    R"([{"field":"i","op":"in","value":[1, null]}])",
    R"([{"field":"i","op":"in","value":[1, [2]]}])",
    R"([{"field":"i","op":"=","value":[1]}])",
    R"([{"field":"i","op":"=","value":{"a":1}}])",
    R"([{"field":"i","op":"contains","value":"1"}])",
    R"([{"field":"s","op":"contains","value":1}])",
    R"([{"field":"i","op":">","value":null}])",
    R"([{"field":"b","op":"=","value":2}])",
    R"([{"field":"b","op":"=","value":"yes"}])",
    R"([{"field":"u","op":"in","value":[1, -1]}])",
    R"([{"field":"i","op":"=","value":true}])",
    R"([{"op":"=","value":1}])",
    R"([{"field":"i","value":1}])",
    R"([{"field":"i","op":"="}])",
    R"([{"field":"i","op":"=","value":1,"x":1}])",
    R"([{"logic":"xor","filters":[]}])",
    R"([{"logic":"or"}])",
    R"([{"logic":"or","filters":[],"x":1}])",
    R"(["i > 5"])",
    R"("i > 5")",
    R"(42)",
};

// Row numbers each filter of kGoldenFilters selected in the build before typed filters, or
// "error" where it refused the filter.
const char* kOldResults[] = {
    "16,17,18,19,21,22,23,24,26,27,28,29,31,32,33,34,36,37,38,39",
    "1,2,3,4,6,7",
    "1,2,3,4,6,7",
    "17",
    "1,2,3,4,6,7,8,9,11,12,13,16,17,18,19,21,22,23,24,26,27,28,29,31,32,33,34,36,37,38,39",
    "0,5,10,15,20,25,30,35",
    "1,2,3,4,6,7,8,9,11,12,13,14,16,17,18,19,21,22,23,24,26,27,28,29,31,32,33,34,36,37,38,39",
    "30,31,32,33,34,35,36,37,38,39",
    "0,1,2,3,4,5,6,7,8,9",
    "error",
    "0,1",
    "error",
    "15,16,17,18,19,20,22,23,24,25,26,27,29,30,31,32,33,34,36,37,38,39",
    "1,2,3,4,5,6",
    "8,11",
    "1,2,3,4,5,6,8,10,12,13,15,16,17,18,19,20,22,23,24,25,26,27,29,30,31,32,33,34,36,37,38,39",
    "38,39",
    "1,4,8",
    "1,11,16,21,26,31",
    "3,8,13,23,28,33,38",
    "4,9,14,19,29,34,39",
    "1,2,7,11,16,17,21,22,26,27,31,32,37",
    "2,5,7,10,15,17,20,22,25,27,32,35,37",
    "3,4,8,9,13,14,19,23,28,29,33,34,38,39",
    "4,5,9,10,14,15,19,20,25,29,34,35,39",
    "1,2,4,7,9,11,14,16,17,19,21,22,26,27,29,31,32,34,37,39",
    "1,11,16,21,26,31",
    "2,7,17,22,27,32,37",
    "0,6,12,18,24,30,36",
    "3,6,9,15,18,21,27,30,33,39",
    "1,2,5,7,10,11,13,14,17,19,22,23,25,26,29,31,34,35,37,38",
    "3,6,9,15,18,21,27,30,33,39",
    "1,2,3,5,6,7,9,10,11,13,14,15,17,18,19,21,22,23,25,26,27,29,30,31,33,34,35,37,38,39",
    "3,6,9,15,18,21,27,30,33,39",
    "11,12,13,14",
    "8,11,13",
    "1,2,3,4,6,7,9,12,14,16,17,18,19,21,22,23,24,26,27,28,29,31,32,33,34,36,37,38,39",
    "8,11,39",
    "error",
    "",
    "1,2,3,4,6,7,8,9,11,12,13,14,16,17,18,19,21,22,23,24,26,27,28,29,31,32,33,34,36,37,38,39",
    "11,13,14,16,17,19,21,22,23,26,27,28,29,31,32,33,34,37,38,39",
    "1,37,38,39",
    "1,2,5,7,10,11,13,14,17,19,22,23,25,26,29,31,34,35,37,38",
    "1,2,3,4,6,7,8,9,26,27,29,30,31,32,33,34,36,37,38,39",
    "1,2,4,5,7,9,10,11,13,14,17,19,22,23,25,26,29",
    "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,"
    "34,35,36,37,38,39",
    "",  // an empty or/not: refused by the old build with a TypeError (fixed)
    "",  // an empty or/not: refused by the old build with a TypeError (fixed)
    "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,"
    "34,35,36,37,38,39",
    "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,"
    "34,35,36,37,38,39",
    "38,39",
    "0,39",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
};

// The rows (comma-separated row numbers) `text` selects from `batch`, or "error".
std::string Selected(const std::shared_ptr<arrow::RecordBatch>& batch, const char* text) {
  auto parsed = ParseFilterExpr(Json::parse(text));
  if (!parsed.ok()) return "error";
  auto compiled = CompileFilter(*parsed, *batch->schema());
  if (!compiled.ok()) return "error";
  auto selected = ApplyFilter(*compiled, batch);
  if (!selected.ok()) return "apply error: " + selected.status().ToString();
  const auto& rows = static_cast<const arrow::Int64Array&>(*(*selected)->column(0));
  std::string out;
  for (int64_t k = 0; k < rows.length(); ++k) {
    if (k > 0) out += ',';
    out += std::to_string(rows.Value(k));
  }
  return out;
}

TEST(FilterParserTest, TypedFiltersSelectWhatTheJsonFiltersSelected) {
  static_assert(std::size(kGoldenFilters) == std::size(kOldResults));
  const auto batch = GoldenRows();
  for (size_t i = 0; i < std::size(kGoldenFilters); ++i) {
    EXPECT_EQ(Selected(batch, kGoldenFilters[i]), kOldResults[i]) << kGoldenFilters[i];
  }
}

// The message of the refusal of `filters` by the parser (not the compiler: no schema needed).
std::string ParseError(const std::string& filters) {
  auto parsed = ParseFilterExpr(Json::parse(filters));
  EXPECT_FALSE(parsed.ok()) << filters;
  if (parsed.ok()) return "";
  EXPECT_TRUE(parsed.status().IsInvalid()) << parsed.status().ToString();
  return parsed.status().message();
}

void ExpectParseError(const std::string& filters, const std::string& mention) {
  const std::string message = ParseError(filters);
  EXPECT_NE(message.find(mention), std::string::npos) << filters << ": " << message;
}

TEST(FilterParserTest, UnknownOperatorsAndLogicAreNamed) {
  ExpectParseError(R"([{"field":"a","op":"~","value":1}])", "unknown operator '~'");
  ExpectParseError(R"([{"field":"a","op":"~","value":1}])", "use =, !=, >, >=, <, <=, in");
  ExpectParseError(R"([{"field":"a","op":"like","value":"x%"}])", "unknown operator 'like'");
  ExpectParseError(R"([{"logic":"xor","filters":[]}])", "unknown logic 'xor' (use and, or, not)");
  ExpectParseError(R"([{"logic":7,"filters":[]}])", "'logic'");
}

TEST(FilterParserTest, ValuesOfTheWrongKindAreNamed) {
  ExpectParseError(R"([{"field":"a","op":"in","value":5}])",
                   "filter on 'a': 'in' needs a JSON array value, got 5");
  ExpectParseError(R"([{"field":"a","op":"not in","value":"x"}])",
                   "'not in' needs a JSON array value, got \"x\"");
  ExpectParseError(R"([{"field":"a","op":"contains","value":5}])",
                   "filter on 'a': 'contains' needs a string value, got 5");
  ExpectParseError(R"([{"field":"a","op":"prefix","value":null}])", "'prefix' needs a string");
  ExpectParseError(R"([{"field":"a","op":">","value":null}])",
                   "filter on 'a': null can only be compared with = or !=");
  ExpectParseError(R"([{"field":"a","op":"=","value":[1,2]}])",
                   "filter on 'a': value [1,2] for '=' is not a number, string, boolean or null");
  ExpectParseError(R"([{"field":"a","op":"<","value":{"x":1}}])", "value {\"x\":1} for '<'");
  ExpectParseError(R"([{"field":"a","op":"in","value":[1, null]}])",
                   "filter on 'a': null inside an 'in' list");
  ExpectParseError(R"([{"field":"a","op":"in","value":[1, [2]]}])",
                   "filter on 'a': 'in' list entry [2] is not a number, string or boolean");
  ExpectParseError(R"([{"field":7,"op":"=","value":1}])", "'field'");
  ExpectParseError(R"([{"field":"a","op":true,"value":1}])", "'op'");
}

TEST(FilterParserTest, MissingKeysAreNamed) {
  ExpectParseError(R"([{"op":"=","value":1}])", "filter: missing 'field'");
  ExpectParseError(R"([{"field":"a","value":1}])", "filter: missing 'op'");
  ExpectParseError(R"([{"field":"a","op":"="}])", "filter on 'a': missing 'value'");
  ExpectParseError(R"([{"logic":"or"}])", "logic 'or' needs a 'filters' array");
  ExpectParseError(R"([{"logic":"or","filters":{}}])", "logic 'or' needs a 'filters' array");
  ExpectParseError(R"([{"field":"a","op":"=","value":1,"extra":2}])", "unknown key 'extra'");
  ExpectParseError(R"([{"logic":"and","filters":[],"x":1}])", "unknown key 'x'");
}

TEST(FilterParserTest, MalformedFiltersAreNamed) {
  ExpectParseError(R"("a > 5")", "'filters' must be a JSON array of filter objects, got \"a > 5\"");
  ExpectParseError("42", "'filters' must be a JSON array");
  ExpectParseError(R"(["a > 5"])", "filter: each filter must be a JSON object, got \"a > 5\"");
  ExpectParseError(R"([{"logic":"not","filters":[[]]}])", "each filter must be a JSON object");
  // Text that is not JSON never reaches the filter parser: the request's parser names it.
  auto ticket = ParseTicket(R"({"dataset":"ds","filters":[{"field":)");
  ASSERT_TRUE(ticket.status().IsInvalid());
  EXPECT_NE(ticket.status().message().find("ticket is not valid JSON"), std::string::npos)
      << ticket.status().message();
}

TEST(FilterParserTest, RefusalsInRequestsNameTheFilter) {
  auto ticket = ParseTicket(R"({"dataset":"ds","filters":[{"field":"a","op":"~","value":1}]})");
  ASSERT_TRUE(ticket.status().IsInvalid());
  EXPECT_NE(ticket.status().message().find("unknown operator '~'"), std::string::npos);
  auto search = ParseTicket(
      R"({"search":{"dataset":"ds","vector":[1],"filters":[{"field":"a","op":"in","value":1}]}})");
  ASSERT_TRUE(search.status().IsInvalid());
  EXPECT_NE(search.status().message().find("'in' needs a JSON array"), std::string::npos);
}

TEST(FilterParserTest, FiltersHoldAtMostTheLimitOfListedValues) {
  Json many = Json::array();
  for (size_t i = 0; i < kMaxFilterValues; ++i) many.push_back(i);
  const Json at_limit = Json::array({{{"field", "id"}, {"op", "in"}, {"value", many}}});
  EXPECT_TRUE(ParseFilterExpr(at_limit).ok());
  // One more, in a nested 'not in': counted across the whole request.
  const Json over = Json::array(
      {{{"field", "id"}, {"op", "in"}, {"value", many}},
       {{"logic", "or"},
        {"filters", Json::array({{{"field", "id"}, {"op", "not in"}, {"value", {7}}}})}}});
  const auto refused = ParseFilterExpr(over);
  ASSERT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("filters hold 1000001 values"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("at most 1000000 per request"), std::string::npos);
}

TEST(FilterParserTest, TheTypedTree) {
  auto parsed = ParseFilterExpr(Json::parse(R"([
      {"field":"a","op":"GTE","value":3},
      {"logic":"or","filters":[{"field":"b","operator":"=","value":null},
                               {"field":"c","op":"starts_with","value":"x"}]},
      {"logic":"not","filters":[{"field":"d","op":"nin","value":[1.5, 2.5]}]}])"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const FilterExpr& all = *parsed;
  ASSERT_EQ(all.kind, FilterExpr::Kind::kAnd);
  ASSERT_EQ(all.children.size(), 3u);
  const FilterExpr& a = all.children[0];
  EXPECT_EQ(a.kind, FilterExpr::Kind::kComparison);
  EXPECT_EQ(a.field, "a");
  EXPECT_EQ(a.op, FilterOp::kGe);
  EXPECT_TRUE(a.value->Equals(arrow::Int64Scalar(3)));
  const FilterExpr& any = all.children[1];
  EXPECT_EQ(any.kind, FilterExpr::Kind::kOr);
  EXPECT_FALSE(any.children[0].value->is_valid);
  EXPECT_EQ(any.children[1].op, FilterOp::kPrefix);
  const FilterExpr& negated = all.children[2];
  EXPECT_EQ(negated.kind, FilterExpr::Kind::kNot);
  EXPECT_EQ(negated.children[0].op, FilterOp::kNotIn);
  ASSERT_NE(negated.children[0].values.alike, nullptr);
  EXPECT_EQ(negated.children[0].values.alike->type_id(), arrow::Type::DOUBLE);
  // No filter at all: null, [] and an empty 'and' need no CachedFilter.
  for (const char* none : {"null", "[]", R"({"logic":"and","filters":[]})"}) {
    auto filter = ParseFilters(Json::parse(none));
    ASSERT_TRUE(filter.ok());
    EXPECT_EQ(*filter, nullptr) << none;
  }
}

// The type of the list `values` is kept as: one array of that type, or "mixed" literals.
std::string ListKind(const std::string& values) {
  auto parsed = ParseFilterExpr(Json::parse(R"({"field":"a","op":"in","value":)" + values + "}"));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  if (!parsed.ok()) return "";
  const FilterValueList& list = parsed->values;
  std::string kind = list.alike ? list.alike->type()->ToString() : std::string("mixed");
  kind += ':';
  kind += std::to_string(list.size());
  return kind;
}

TEST(FilterParserTest, ListsOfLikeValuesAreOneArray) {
  EXPECT_EQ(ListKind("[1, -2, 3]"), "int64:3");
  EXPECT_EQ(ListKind("[1, 18446744073709551615]"), "uint64:2");
  EXPECT_EQ(ListKind("[-1, 18446744073709551615]"), "mixed:2");  // fits neither
  EXPECT_EQ(ListKind("[0.5, 1e300]"), "double:2");
  EXPECT_EQ(ListKind(R"(["a", "b"])"), "string:2");
  EXPECT_EQ(ListKind(R"([1, "b", 2.5, true])"), "mixed:4");
  EXPECT_EQ(ListKind("[true, false]"), "mixed:2");
  EXPECT_EQ(ListKind("[]"), "mixed:0");
}

TEST(FilterParserTest, LiteralsKeepTheirJsonKind) {
  const auto kind = [](const char* json) {
    return ParseLiteral(Json::parse(json)).ValueOrDie()->type->ToString();
  };
  EXPECT_EQ(kind("7"), "int64");
  EXPECT_EQ(kind("-7"), "int64");
  EXPECT_EQ(kind("9223372036854775808"), "uint64");
  EXPECT_EQ(kind("7.0"), "double");
  EXPECT_EQ(kind(R"("7")"), "string");
  EXPECT_EQ(kind("true"), "bool");
  EXPECT_EQ(kind("null"), "null");
  EXPECT_TRUE(ParseLiteral(Json::parse("[7]")).status().IsInvalid());
}

// LiteralText prints literals as the JSON library does: the text of a number is what it is
// compared as with a string column. Integers, strings, booleans and null print identically.
// Non-integral numbers print with the shortest digits that read back as the same double
// (std::to_chars), placed like the JSON library places them (plain decimals within 15 digits of
// the point, else d.ddde+XX); the JSON library's Grisu2 digits are round-trip exact too but not
// always the shortest or closest (5.07175516003481e+17 here, 5.0717551600348096e+17 there), so
// those two texts may differ in their digits, never in the double they denote or their layout.
TEST(FilterParserTest, LiteralTextIsTheJsonText) {
  std::vector<Json> values = {0,
                              -0.0,
                              0.0,
                              1.5,
                              -1.5,
                              100.0,
                              1e15,
                              1e16,
                              1e-4,
                              1e-5,
                              0.1,
                              1e100,
                              -2e-300,
                              123456789.25,
                              5e-324,
                              1.7976931348623157e308,
                              18446744073709551615ull,
                              -9223372036854775807LL - 1,
                              "a\"b\\c\n",
                              "café",
                              true,
                              nullptr};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const int exponent = static_cast<int>(rng() % 80) - 40;
    const double mantissa = std::uniform_real_distribution<double>(-10, 10)(rng);
    values.push_back(mantissa * std::pow(10.0, exponent));
    values.push_back(
        std::ldexp(static_cast<double>(rng() % 100000), -static_cast<int>(rng() % 20)));
  }
  int ties = 0;
  for (const Json& value : values) {
    auto literal = ParseLiteral(value);
    ASSERT_TRUE(literal.ok());
    const std::string text = LiteralText(**literal);
    const std::string dumped = value.dump();
    if (text == dumped) continue;
    ASSERT_TRUE(value.is_number_float()) << text << " vs " << dumped;
    EXPECT_EQ(std::stod(text), value.get<double>()) << text << " vs " << dumped;
    EXPECT_LE(text.size(), dumped.size()) << text << " vs " << dumped;
    EXPECT_EQ(text.find('e') == std::string::npos, dumped.find('e') == std::string::npos)
        << text << " vs " << dumped;
    ++ties;
  }
  EXPECT_LT(ties, static_cast<int>(values.size()) / 10) << "digits differ too often";
}

TEST(FilterParserTest, Ids) {
  auto ids = ParseIds(Json::parse(R"([1, "a", 2.5, null])"), /*single=*/false, "ids");
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 4u);
  EXPECT_EQ((*ids)[1]->type->id(), arrow::Type::STRING);
  EXPECT_FALSE((*ids)[3]->is_valid);  // refused by the store, which names the id type
  auto nested = ParseIds(Json::parse(R"([1, [2]])"), /*single=*/false, "ids");
  ASSERT_TRUE(nested.status().IsInvalid());
  EXPECT_EQ(nested.status().message(),
            "'ids' entry 1 ([2]) is not an id: ids are numbers or strings");
  auto object = ParseIds(Json::parse(R"({"id":1})"), /*single=*/true, "id");
  ASSERT_TRUE(object.status().IsInvalid());
  EXPECT_NE(object.status().message().find("'id' ({\"id\":1}) is not an id"), std::string::npos);
}

}  // namespace
}  // namespace arbalest
