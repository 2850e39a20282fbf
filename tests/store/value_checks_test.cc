#include "store/value_checks.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/json/from_string.h>
#include <arrow/util/float16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "store/dataset_layout.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

// Strings appended as raw bytes (Arrow's builders do not check UTF-8, as a client's need not);
// nullopt is a null.
template <class Builder = arrow::StringBuilder>
std::shared_ptr<arrow::Array> Strings(const std::vector<std::optional<std::string>>& values) {
  Builder builder;
  for (const auto& value : values) {
    if (value) {
      EXPECT_TRUE(builder.Append(*value).ok());
    } else {
      EXPECT_TRUE(builder.AppendNull().ok());
    }
  }
  return builder.Finish().ValueOrDie();
}

void ExpectRefused(const arrow::Status& status, const std::string& text) {
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find(text), std::string::npos)
      << "'" << status.message() << "' lacks '" << text << "'";
}

const std::string kLatin1 = "caf\xE9";  // é in Latin-1: a lead byte with no continuation

std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type,
                                       std::string_view json) {
  return arrow::json::ArrayFromJSONString(type, json).ValueOrDie();
}

TEST(Utf8CheckTest, ValidTextPasses) {
  EXPECT_TRUE(CheckColumnValues(*Strings({"plain", "café", "東京", "", std::nullopt}), "t").ok());
  EXPECT_TRUE(CheckColumnValues(*Strings<arrow::LargeStringBuilder>({"ångström"}), "t").ok());
}

TEST(Utf8CheckTest, NamesTheColumnAndTheFirstBadRow) {
  const auto strings = Strings({"ok", "fine", std::nullopt, kLatin1, "\xFF"});
  ExpectRefused(CheckColumnValues(*strings, "text"), "column 'text' row 3: value is not valid");
  // Rows count from the array's own start when it is a slice.
  ExpectRefused(CheckColumnValues(*strings->Slice(2), "text"), "column 'text' row 1:");
  ExpectRefused(CheckColumnValues(*Strings<arrow::LargeStringBuilder>({"a", "\xC3\x28"}), "big"),
                "column 'big' row 1:");
}

TEST(Utf8CheckTest, EachValueIsCheckedAlone) {
  // "é" split over two values: the bytes together are valid UTF-8, neither value is.
  ExpectRefused(CheckColumnValues(*Strings({"\xC3", "\xA9"}), "text"), "row 0");
}

TEST(Utf8CheckTest, NullSlotsAreNotValues) {
  // A null slot may hold any bytes (Arrow's format leaves them unspecified).
  auto strings = Strings({"a", kLatin1, "b"});
  auto data = strings->data()->Copy();
  data->buffers[0] = arrow::AllocateEmptyBitmap(3).ValueOrDie();
  arrow::bit_util::SetBit(data->buffers[0]->mutable_data(), 0);
  arrow::bit_util::SetBit(data->buffers[0]->mutable_data(), 2);
  data->null_count = 1;
  EXPECT_TRUE(CheckColumnValues(*arrow::MakeArray(data), "text").ok());
}

TEST(Utf8CheckTest, DictionariesNameTheRowUsingTheBadEntry) {
  const auto dictionary = Strings({"good", kLatin1});
  auto indices = FromJson(arrow::int32(), "[0, 0, null, 1, 1]");
  const auto type = arrow::dictionary(arrow::int32(), arrow::utf8());
  auto used = arrow::DictionaryArray::FromArrays(type, indices, dictionary).ValueOrDie();
  ExpectRefused(CheckColumnValues(*used, "tag"), "column 'tag' row 3: value (dictionary entry 1)");
  auto unused =
      arrow::DictionaryArray::FromArrays(type, FromJson(arrow::int32(), "[0, 0]"), dictionary)
          .ValueOrDie();
  ExpectRefused(CheckColumnValues(*unused, "tag"), "dictionary entry 1 is not valid UTF-8");
}

TEST(Utf8CheckTest, NestedStringsAreCheckedByArrow) {
  auto offsets = FromJson(arrow::int32(), "[0, 1, 2]");
  auto lists = arrow::ListArray::FromArrays(*offsets, *Strings({"ok", kLatin1})).ValueOrDie();
  ExpectRefused(CheckColumnValues(*lists, "words"), "column 'words': ");
  ExpectRefused(CheckColumnValues(*lists, "words"), "UTF8");
}

TEST(Utf8CheckTest, BrokenOffsetsAreRefusedNotRead) {
  auto data = Strings({"aa", "bb", "cc"})->data()->Copy();
  auto offsets = arrow::AllocateBuffer(4 * sizeof(int32_t)).ValueOrDie();
  const int32_t broken[] = {0, 5, 1, 6};  // decreasing: value 1 would have a negative length
  std::memcpy(offsets->mutable_data(), broken, sizeof(broken));
  data->buffers[1] = std::move(offsets);
  ExpectRefused(CheckColumnValues(*arrow::MakeArray(data), "text"), "column 'text': ");
}

// `values` (row-major, `dim` per row) as a flat array of `type`.
std::shared_ptr<arrow::Array> Flat(const std::shared_ptr<arrow::DataType>& type,
                                   const std::vector<double>& values) {
  arrow::DoubleBuilder doubles;
  EXPECT_TRUE(doubles.AppendValues(values).ok());
  auto array = doubles.Finish().ValueOrDie();
  if (type->id() == arrow::Type::DOUBLE) return array;
  if (type->id() == arrow::Type::FLOAT) {
    return arrow::compute::Cast(*array, type, arrow::compute::CastOptions::Unsafe()).ValueOrDie();
  }
  arrow::HalfFloatBuilder halves;
  for (double value : values) {
    EXPECT_TRUE(halves.Append(arrow::util::Float16(static_cast<float>(value)).bits()).ok());
  }
  return halves.Finish().ValueOrDie();
}

TEST(FiniteCheckTest, NamesRowElementAndKind) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (const auto& type : {arrow::float32(), arrow::float16()}) {
    SCOPED_TRACE(type->ToString());
    EXPECT_TRUE(CheckFiniteVectors(*Flat(type, {0, 1, -2, 3.5, 0, -0.0}),
                                   *Flat(type, {0, 1, -2, 3.5, 0, -0.0}), 2, "vector")
                    .ok());
    const auto nan = Flat(type, {0, 1, 2, 3, 4, kNaN, 6, 7});
    ExpectRefused(CheckFiniteVectors(*nan, *nan, 2, "vector"),
                  "vector column 'vector' row 2: element 1 is NaN");
    const auto inf = Flat(type, {0, 1, -kInf, 3});
    ExpectRefused(CheckFiniteVectors(*inf, *inf, 4, "emb"),
                  "column 'emb' row 0: element 2 is -Inf");
  }
}

TEST(FiniteCheckTest, Float64IsCheckedAsStored) {
  const auto put = Flat(arrow::float64(), {1, 2, 3, 1e300});
  const auto stored = Flat(arrow::float32(), {1, 2, 3, 1e300});  // narrowed: +Inf
  ExpectRefused(CheckFiniteVectors(*stored, *put, 2, "vector"),
                "row 1: element 1 is 1e+300, beyond the "
                "float32 range");
}

TEST(FiniteCheckTest, FindsTheFirstBadElementPastTheFirstBlock) {
  std::vector<double> values(5000, 0.5);
  values[4321] = std::numeric_limits<double>::infinity();
  values[4999] = std::numeric_limits<double>::quiet_NaN();
  const auto flat = Flat(arrow::float32(), values);
  ExpectRefused(CheckFiniteVectors(*flat, *flat, 100, "vector"), "row 43: element 21 is +Inf");
}

TEST(FiniteCheckTest, IntegerVectorsPass) {
  const auto bytes = FromJson(arrow::int8(), "[127, -128, 0]");
  EXPECT_TRUE(CheckFiniteVectors(*bytes, *bytes, 3, "vector").ok());
}

// The checks run inside ConformBatch: a put with a bad value is refused whole.
TEST(ConformValueChecksTest, RefusesBadTextAndNonFiniteVectors) {
  auto batch = testing::MakeVectorBatch(0, 4, 2);
  const auto stored = StoredSchemaFor(*batch->schema()).ValueOrDie();
  const auto layout = InspectPutSchema(*batch->schema()).ValueOrDie();
  auto tags = Strings({"a", "b", kLatin1, "d"});
  ExpectRefused(ConformBatch(batch->SetColumn(2, batch->schema()->field(2), tags).ValueOrDie(),
                             stored, layout, 0, "ds")
                    .status(),
                "column 'tag' row 2: value is not valid UTF-8");
  auto values = Flat(arrow::float32(), {0, 1, 2, 3, 4, 5, 6, std::nan("")});
  auto vectors = arrow::FixedSizeListArray::FromArrays(values, 2).ValueOrDie();
  ExpectRefused(ConformBatch(batch->SetColumn(1, batch->schema()->field(1), vectors).ValueOrDie(),
                             stored, layout, 0, "ds")
                    .status(),
                "vector column 'vector' row 3: element 1 is NaN");
  auto renamed =
      arrow::schema({batch->schema()->field(0), batch->schema()->field(1),
                     batch->schema()->field(2), arrow::field("sc\xF6re", arrow::float64())});
  ExpectRefused(
      ConformBatch(arrow::RecordBatch::Make(renamed, 4, batch->columns()), stored, layout, 0, "ds")
          .status(),
      "the name of column 3 is not valid UTF-8");
}

}  // namespace
}  // namespace arbalest
