#include "store/column_casts.h"

#include <arrow/array.h>
#include <arrow/json/from_string.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace arbalest {
namespace {

using ::testing::HasSubstr;

TEST(ColumnCastsTest, SafeWideningsAreAccepted) {
  const std::pair<std::shared_ptr<arrow::DataType>, std::shared_ptr<arrow::DataType>> ok[] = {
      {arrow::utf8(), arrow::large_utf8()},
      {arrow::large_utf8(), arrow::utf8()},
      {arrow::binary(), arrow::large_binary()},
      {arrow::int32(), arrow::int64()},
      {arrow::int64(), arrow::int32()},
      {arrow::uint32(), arrow::int64()},
      {arrow::float32(), arrow::float64()},
      {arrow::float16(), arrow::float32()},
      {arrow::int16(), arrow::float32()},
      {arrow::int32(), arrow::float64()},
      {arrow::dictionary(arrow::int8(), arrow::utf8()), arrow::large_utf8()},
  };
  for (const auto& [put, stored] : ok) {
    EXPECT_TRUE(CheckConvertible("c", *put, *stored, "ds").ok())
        << put->ToString() << " -> " << stored->ToString();
  }
}

TEST(ColumnCastsTest, LossyConversionsAreRefusedNamingBothTypes) {
  const std::pair<std::shared_ptr<arrow::DataType>, std::shared_ptr<arrow::DataType>> bad[] = {
      {arrow::float64(), arrow::float32()}, {arrow::int64(), arrow::float64()},
      {arrow::float64(), arrow::int64()},   {arrow::utf8(), arrow::int64()},
      {arrow::int64(), arrow::utf8()},      {arrow::utf8(), arrow::binary()},
  };
  for (const auto& [put, stored] : bad) {
    const arrow::Status status = CheckConvertible("price", *put, *stored, "ds");
    ASSERT_TRUE(status.IsInvalid()) << put->ToString() << " -> " << stored->ToString();
    EXPECT_THAT(status.message(), HasSubstr("column 'price' has type " + put->ToString()));
    EXPECT_THAT(status.message(), HasSubstr(stored->ToString() + " in dataset 'ds'"));
  }
}

TEST(ColumnCastsTest, ValuesThatDoNotFitAreRefused) {
  auto fits = *arrow::json::ArrayFromJSONString(arrow::int64(), "[1, null, 3]");
  auto converted = ConvertColumn(fits, "n", arrow::int32(), "ds");
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_TRUE(
      (*converted)
          ->Equals(*arrow::json::ArrayFromJSONString(arrow::int32(), "[1, null, 3]").ValueOrDie()));
  auto too_big = *arrow::json::ArrayFromJSONString(arrow::int64(), "[1, 10000000000]");
  auto refused = ConvertColumn(too_big, "n", arrow::int32(), "ds");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("column 'n' has type int64"));
  EXPECT_THAT(refused.status().message(), HasSubstr("does not convert safely"));
}

TEST(ColumnCastsTest, VariableSizeVectorsToFixedSize) {
  auto lists = *arrow::json::ArrayFromJSONString(arrow::list(arrow::float32()), "[[1, 2], [3, 4]]");
  auto fixed = VectorsToFixedSize(lists, "vector", 2);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ((*fixed)->type_id(), arrow::Type::FIXED_SIZE_LIST);
  auto ragged = *arrow::json::ArrayFromJSONString(arrow::list(arrow::float32()), "[[1, 2], [3]]");
  auto refused = VectorsToFixedSize(ragged, "vector", 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("the dataset's width 2"));
}

}  // namespace
}  // namespace arbalest
