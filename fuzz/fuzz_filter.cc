// The filter parser and compiler (flight/filter_parser.h, store/filter.h): an input is a JSON
// filter list or node, parsed into a typed filter and compiled against a schema with a column of
// every type a filter can meet, then applied to a batch of that schema with nulls, extremes and
// empty strings in it. Every input must end in a filtered batch or an error Status, never a crash.
#include <arrow/api.h>
#include <arrow/json/from_string.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "flight/filter_parser.h"
#include "fuzz_util.h"
#include "store/filter.h"

namespace arbalest::fuzz {
namespace {

struct Column {
  const char* name;
  std::shared_ptr<arrow::DataType> type;
  const char* values;  // JSON, 4 rows
};

std::shared_ptr<arrow::RecordBatch> MakeFilterBatch() {
  const Column columns[] = {
      {"i8", arrow::int8(), "[-128, 0, 127, null]"},
      {"i16", arrow::int16(), "[-32768, 1, 32767, null]"},
      {"i32", arrow::int32(), "[-2147483648, 2, 2147483647, null]"},
      {"i64", arrow::int64(), "[-9223372036854775808, 3, 9223372036854775807, null]"},
      {"u8", arrow::uint8(), "[0, 1, 255, null]"},
      {"u16", arrow::uint16(), "[0, 1, 65535, null]"},
      {"u32", arrow::uint32(), "[0, 1, 4294967295, null]"},
      {"u64", arrow::uint64(), "[0, 1, 18446744073709551615, null]"},
      {"f16", arrow::float16(), "[-1.5, 0, 65504, null]"},
      {"f32", arrow::float32(), "[-1.5, 0, 3.4e38, null]"},
      {"f64", arrow::float64(), "[-1e308, 0.1, 1e308, null]"},
      {"flag", arrow::boolean(), "[true, false, true, null]"},
      {"text", arrow::utf8(), R"(["", "news", "naïve café 東京", null])"},
      {"large", arrow::large_utf8(), R"(["a", "", "zzz", null])"},
      {"raw", arrow::binary(), R"(["", "abc", "\u0000", null])"},
      {"ts", arrow::timestamp(arrow::TimeUnit::MILLI), "[0, 1700000000000, -1, null]"},
      {"ts_utc", arrow::timestamp(arrow::TimeUnit::NANO, "UTC"), "[0, 1, -1, null]"},
      {"day", arrow::date32(), "[0, 19000, -1, null]"},
      {"time", arrow::time64(arrow::TimeUnit::MICRO), "[0, 1, 86399999999, null]"},
      {"amount", arrow::decimal128(9, 2), R"(["0.00", "-1.25", "9999999.99", null])"},
      {"tags", arrow::list(arrow::utf8()), R"([[], ["a"], null, ["b", null]])"},
      {"vector", arrow::fixed_size_list(arrow::float32(), 2), "[[1, 2], [3, 4], null, [0, 0]]"},
      {"with space", arrow::int32(), "[1, 2, 3, 4]"},
  };
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& column : columns) {
    auto array = arrow::json::ArrayFromJSONString(column.type, column.values);
    if (!array.ok()) {
      std::fprintf(stderr, "filter batch: %s: %s\n", column.name,
                   array.status().ToString().c_str());
      std::abort();
    }
    fields.push_back(arrow::field(column.name, column.type));
    arrays.push_back(*array);
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), 4, arrays);
}

arrow::Status CompileAndApply(const std::shared_ptr<arrow::RecordBatch>& batch,
                              std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(Json filters, ParseJson(text, "filters"));
  ARROW_ASSIGN_OR_RAISE(FilterExpr filter, ParseFilterExpr(filters));
  ARROW_ASSIGN_OR_RAISE(auto expression, CompileFilter(filter, *batch->schema()));
  return ApplyFilter(expression, batch).status();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto batch = arbalest::fuzz::MakeFilterBatch();
  (void)arbalest::fuzz::CompileAndApply(batch, arbalest::fuzz::AsText(data, size));
  return 0;
}
