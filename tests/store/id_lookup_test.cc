#include "store/id_lookup.h"

#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "testing/batches.h"
#include "testing/filters.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type,
                                       std::string_view json) {
  return arrow::json::ArrayFromJSONString(type, json).ValueOrDie();
}

std::shared_ptr<arrow::RecordBatch> WithIdColumn(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                 std::shared_ptr<arrow::Array> ids) {
  return batch->SetColumn(0, arrow::field("id", ids->type()), std::move(ids)).ValueOrDie();
}

std::shared_ptr<Dataset> MakeDataset(
    MemoryBudget* budget, const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  auto dataset = Dataset::Create("ds", *batches.front()->schema(), budget).ValueOrDie();
  for (const auto& batch : batches) EXPECT_TRUE(dataset->Append(batch).ok());
  return dataset;
}

// The ids of `json` (one id or a JSON array) as parsed from a request and converted for `dataset`.
arrow::Result<std::shared_ptr<arrow::Array>> IdsFromJson(std::string_view json,
                                                         const Dataset& dataset,
                                                         std::string_view key) {
  const Json ids = Json::parse(json);
  ARROW_ASSIGN_OR_RAISE(auto literals, ParseIds(ids, !ids.is_array(), key));
  return IdsToArray(literals, !ids.is_array(), dataset, key);
}

std::vector<uint32_t> Rows(const Roaring& rows) {
  std::vector<uint32_t> values(rows.cardinality());
  rows.toUint32Array(values.data());
  return values;
}

TEST(IdLookupTest, Int64IdsFromNumbersAndStrings) {
  MemoryBudget budget(0);
  auto dataset = MakeDataset(&budget, {MakeVectorBatch(0, 10, 4)});
  auto ids = IdsFromJson((R"([3, "4", 5.0, -7])"), *dataset, "ids");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_EQ((*ids)->length(), 4);
  EXPECT_EQ((*ids)->type()->id(), arrow::Type::INT64);
  EXPECT_EQ((*ids)->ToString(), FromJson(arrow::int64(), "[3, 4, 5, -7]")->ToString());
  auto one = IdsFromJson("9", *dataset, "id");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)->length(), 1);
  for (const char* bad :
       {R"(["abc"])", R"([1.5])", R"([null])", R"([true])", R"(["9223372036854775808"])"}) {
    auto refused = IdsFromJson((bad), *dataset, "ids");
    ASSERT_TRUE(refused.status().IsInvalid()) << bad;
    EXPECT_NE(refused.status().message().find("'ids' entry 0"), std::string::npos) << bad;
    EXPECT_NE(refused.status().message().find("int64"), std::string::npos) << bad;
  }
  // Arrays and objects are refused by the parser, before any dataset is looked at.
  for (const char* bad : {R"([[1]])", R"([{"id": 1}])"}) {
    auto refused = IdsFromJson((bad), *dataset, "ids");
    ASSERT_TRUE(refused.status().IsInvalid()) << bad;
    EXPECT_NE(refused.status().message().find("'ids' entry 0"), std::string::npos) << bad;
    EXPECT_NE(refused.status().message().find("ids are numbers or strings"), std::string::npos)
        << bad;
  }
  auto single = IdsFromJson(R"("x")", *dataset, "id");
  ASSERT_TRUE(single.status().IsInvalid());
  EXPECT_NE(single.status().message().find("'id' (\"x\") is not an id of dataset 'ds'"),
            std::string::npos)
      << single.status().message();
}

TEST(IdLookupTest, UInt64AndAssignedIds) {
  MemoryBudget budget(0);
  auto batch = MakeVectorBatch(0, 4, 4);
  auto uint_ids = FromJson(arrow::uint64(), "[0, 18446744073709551615, 7, 7]");
  auto dataset = MakeDataset(&budget, {WithIdColumn(batch, uint_ids)});
  auto ids = IdsFromJson((R"(["18446744073709551615", 7])"), *dataset, "ids");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  auto rows = LiveRowsWithIds(dataset->Snapshot(), **ids);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(Rows(*rows), (std::vector<uint32_t>{1, 2, 3}));  // duplicate ids: both rows
  EXPECT_TRUE(IdsFromJson(("[-1]"), *dataset, "ids").status().IsInvalid());

  auto assigned = Dataset::Create("auto", *testing::WithoutIds(batch)->schema(), &budget);
  ASSERT_TRUE(assigned.ok());
  ASSERT_TRUE((*assigned)->Append(testing::WithoutIds(batch)).ok());
  auto assigned_ids = IdsFromJson(("[2]"), **assigned, "ids");
  ASSERT_TRUE(assigned_ids.ok());
  EXPECT_EQ((*assigned_ids)->type()->id(), arrow::Type::UINT64);
  EXPECT_EQ(Rows(*LiveRowsWithIds((*assigned)->Snapshot(), **assigned_ids)),
            (std::vector<uint32_t>{2}));
  auto negative = IdsFromJson(("[-2]"), **assigned, "ids");
  EXPECT_NE(negative.status().message().find("uint64"), std::string::npos);
}

TEST(IdLookupTest, Utf8IdsAcrossBatchesLeaveDeletedRowsOut) {
  MemoryBudget budget(0);
  auto first =
      WithIdColumn(MakeVectorBatch(0, 3, 4), FromJson(arrow::utf8(), R"(["a", "b", "12"])"));
  auto second =
      WithIdColumn(MakeVectorBatch(3, 3, 4), FromJson(arrow::utf8(), R"(["c", "a", "d"])"));
  auto dataset = MakeDataset(&budget, {first, second});
  auto ids = IdsFromJson((R"(["a", 12, "zz"])"), *dataset, "ids");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(Rows(*LiveRowsWithIds(dataset->Snapshot(), **ids)), (std::vector<uint32_t>{0, 2, 4}));
  Roaring deleted;
  deleted.add(4);
  ASSERT_TRUE(dataset->DeleteRecovered(deleted, /*lsn=*/0).ok());
  EXPECT_EQ(Rows(*LiveRowsWithIds(dataset->Snapshot(), **ids)), (std::vector<uint32_t>{0, 2}));
}

}  // namespace
}  // namespace arbalest
