#include "fuzz_store.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace arbalest::fuzz {
namespace {

void Check(const arrow::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "fuzz store: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

template <typename T>
T Check(arrow::Result<T> result, const char* what) {
  Check(result.status(), what);
  return std::move(*result);
}

// One column from the JSON text of its values.
struct Column {
  std::shared_ptr<arrow::Field> field;
  std::string values;
};

std::shared_ptr<arrow::RecordBatch> MakeBatch(const std::vector<Column>& columns,
                                              std::shared_ptr<const arrow::KeyValueMetadata> meta) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& column : columns) {
    fields.push_back(column.field);
    arrays.push_back(Check(arrow::json::ArrayFromJSONString(column.field->type(), column.values),
                           column.field->name().c_str()));
  }
  const int64_t rows = arrays.front()->length();
  return arrow::RecordBatch::Make(arrow::schema(fields, std::move(meta)), rows, arrays);
}

// A JSON array of `rows` values, value(i) for row first + i.
template <typename Value>
std::string JsonValues(int64_t first, int64_t rows, Value value) {
  std::string text = "[";
  for (int64_t i = first; i < first + rows; ++i) {
    text += (i == first ? "" : ",") + value(i);
  }
  return text + "]";
}

std::shared_ptr<arrow::RecordBatch> DocsBatch(int64_t first, int64_t rows) {
  static const char* kWords[] = {"solar", "eclipse", "moon", "rain", "Öl", "naïve café", "東京"};
  const auto field = [](const char* name, std::shared_ptr<arrow::DataType> type) {
    return arrow::field(name, std::move(type));
  };
  const auto num = [](auto f) { return [f](int64_t i) { return std::to_string(f(i)); }; };
  const auto str = [](auto f) { return [f](int64_t i) { return "\"" + f(i) + "\""; }; };
  std::vector<Column> columns = {
      {field("id", arrow::int64()), JsonValues(first, rows, num([](int64_t i) { return i; }))},
      {field("vector", arrow::fixed_size_list(arrow::float32(), 4)),
       JsonValues(first, rows,
                  [](int64_t i) {
                    return "[" + std::to_string(i % 5) + "," + std::to_string(i / 5) + ",0.5," +
                           std::to_string(-i) + "]";
                  })},
      {field("category", arrow::utf8()), JsonValues(first, rows,
                                                    [](int64_t i) {
                                                      return i % 4 == 0 ? std::string("null")
                                                             : i % 2    ? "\"news\""
                                                                        : "\"paper\"";
                                                    })},
      {field("body", arrow::utf8()), JsonValues(first, rows, str([](int64_t i) {
                                                  return std::string(kWords[i % 7]) + " " +
                                                         kWords[(i * 3 + 1) % 7];
                                                }))},
      {field("price", arrow::float64()),
       JsonValues(first, rows, num([](int64_t i) { return static_cast<double>(i) / 4 - 2; }))},
      {field("count", arrow::int32()),
       JsonValues(first, rows, num([](int64_t i) { return i * 7 - 50; }))},
      {field("small", arrow::uint8()),
       JsonValues(first, rows, num([](int64_t i) { return i * 11 % 256; }))},
      {field("big", arrow::uint64()),
       JsonValues(first, rows,
                  [](int64_t i) { return std::to_string(18446744073709551615ULL - i); })},
      {field("flag", arrow::boolean()),
       JsonValues(first, rows, [](int64_t i) { return i % 3 ? std::string("true") : "false"; })},
      {field("ts", arrow::timestamp(arrow::TimeUnit::MILLI)),
       JsonValues(first, rows, num([](int64_t i) { return 1700000000000 + i * 3600000; }))},
      {field("day", arrow::date32()),
       JsonValues(first, rows, num([](int64_t i) { return 19000 + i; }))},
      {field("amount", arrow::decimal128(9, 2)),
       JsonValues(first, rows, str([](int64_t i) { return std::to_string(i * 3) + ".25"; }))},
      {field("raw", arrow::binary()),
       JsonValues(first, rows,
                  str([](int64_t i) { return std::string(static_cast<size_t>(i % 3), 'x'); }))},
      {field("tags", arrow::list(arrow::utf8())),
       JsonValues(first, rows,
                  [](int64_t i) { return i % 2 ? std::string("[\"a\",\"b\"]") : "[]"; })},
  };
  return MakeBatch(columns, arrow::key_value_metadata({"longbow.text.columns"}, {"body"}));
}

std::shared_ptr<arrow::RecordBatch> CodesBatch() {
  return MakeBatch({{arrow::field("id", arrow::utf8()), R"(["a", "b", "c", "ö", "", "z z"])"},
                    {arrow::field("vector", arrow::fixed_size_list(arrow::float16(), 3)),
                     "[[1,0,0],[0,1,0],[0,0,1],[1,1,0],[0.5,0.5,0.5],[-1,2,-3]]"},
                    {arrow::field("note", arrow::utf8()),
                     R"(["first note", null, "a third one", "fourth", "fifth", "last"])"}},
                   arrow::key_value_metadata({"longbow.metric"}, {"cosine"}));
}

std::shared_ptr<arrow::RecordBatch> AutoBatch() {
  return MakeBatch({{arrow::field("vector", arrow::fixed_size_list(arrow::int8(), 2)),
                     "[[1,2],[-3,4],[127,-128],[0,0],[5,5]]"},
                    {arrow::field("label", arrow::large_utf8()), R"(["p", "q", "r", "s", "t"])"}},
                   arrow::key_value_metadata({"longbow.metric"}, {"dot_product"}));
}

std::shared_ptr<Dataset> Put(VectorStore& store, const char* name,
                             const std::shared_ptr<arrow::RecordBatch>& batch) {
  std::shared_ptr<Dataset> dataset;
  Check(store.Put(name, batch, &dataset).status(), name);
  return dataset;
}

void Index(Dataset& dataset, int64_t rows) {
  Check(dataset.CatchUpIndex(rows, /*threads=*/1, [] { return false; }).status(), "index");
}

}  // namespace

std::unique_ptr<VectorStore> MakeFuzzStore(bool fully_indexed) {
  auto store = std::make_unique<VectorStore>(/*max_memory_bytes=*/int64_t{256} << 20);
  auto docs = Put(*store, "docs", DocsBatch(0, 8));
  for (int64_t first : {8, 16}) Check(store->Append(*docs, DocsBatch(first, 8)).status(), "docs");
  Index(*docs, fully_indexed ? 24 : 16);
  auto deleted = Check(arrow::json::ArrayFromJSONString(arrow::int64(), "[3, 7]"), "ids");
  Check(store->Delete(*docs, *deleted).status(), "delete");

  auto codes = Put(*store, "codes", CodesBatch());
  Index(*codes, 6);
  auto assigned = Put(*store, "auto", AutoBatch());
  if (fully_indexed) Index(*assigned, 5);
  return store;
}

}  // namespace arbalest::fuzz
