#include "store/dataset_layout.h"

#include <gtest/gtest.h>

#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::ConstantVectors;
using testing::MakeVectorBatch;

std::shared_ptr<arrow::Schema> Schema(arrow::FieldVector fields) {
  return arrow::schema(std::move(fields));
}

void ExpectInvalidMentioning(const arrow::Status& status, const std::string& text) {
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find(text), std::string::npos)
      << "'" << status.message() << "' lacks '" << text << "'";
}

TEST(DatasetLayoutTest, FindsVectorAndIdColumns) {
  auto layout = InspectPutSchema(*MakeVectorBatch(0, 1, 8)->schema());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->vector.column, "vector");
  EXPECT_EQ(layout->vector.dim, 8);
  EXPECT_TRUE(layout->vector.value_type->Equals(arrow::float32()));
  EXPECT_EQ(layout->id_kind, IdKind::kInt64);

  auto embedding =
      InspectPutSchema(*Schema({arrow::field("embedding", arrow::fixed_size_list(arrow::int8(), 4)),
                                arrow::field("id", arrow::utf8())}));
  ASSERT_TRUE(embedding.ok());
  EXPECT_EQ(embedding->vector.column, "embedding");
  EXPECT_EQ(embedding->id_kind, IdKind::kUtf8);
}

TEST(DatasetLayoutTest, RejectsBadSchemasNamingTheColumn) {
  ExpectInvalidMentioning(InspectPutSchema(*Schema({arrow::field("x", arrow::int64())})).status(),
                          "'vector' or 'embedding'");
  ExpectInvalidMentioning(
      InspectPutSchema(*Schema({arrow::field("vector", arrow::list(arrow::float32()))})).status(),
      "vector column 'vector'");
  ExpectInvalidMentioning(
      InspectPutSchema(*Schema({arrow::field("vector", arrow::fixed_size_list(arrow::int32(), 4))}))
          .status(),
      "int32");
  ExpectInvalidMentioning(
      InspectPutSchema(*Schema({arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 4)),
                                arrow::field("id", arrow::int32())}))
          .status(),
      "id column 'id' must be int64, uint64 or utf8, got int32");
  ExpectInvalidMentioning(
      InspectPutSchema(
          *Schema({arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 4)),
                   arrow::field("a", arrow::int32()), arrow::field("a", arrow::utf8())}))
          .status(),
      "duplicate column 'a'");
  // Wider than any dataset may be (a logged schema too: replay never applies --max-dimension).
  ExpectInvalidMentioning(
      InspectPutSchema(
          *Schema({arrow::field(
              "vector", arrow::fixed_size_list(arrow::float32(), kMaxVectorDimension + 1))}))
          .status(),
      "16777217 dimensions, more than the 16777216");
  EXPECT_TRUE(InspectPutSchema(
                  *Schema({arrow::field(
                      "vector", arrow::fixed_size_list(arrow::float32(), kMaxVectorDimension))}))
                  .ok());
}

TEST(DatasetLayoutTest, StoredSchemaAssignsIdsAndNarrowsFloat64) {
  auto stored =
      StoredSchemaFor(*Schema({arrow::field("vector", arrow::fixed_size_list(arrow::float64(), 3)),
                               arrow::field("tag", arrow::utf8())}));
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ((*stored)->num_fields(), 3);
  EXPECT_EQ((*stored)->field(0)->name(), "id");
  EXPECT_TRUE((*stored)->field(0)->type()->Equals(arrow::uint64()));
  EXPECT_TRUE((*stored)->field(1)->type()->Equals(arrow::fixed_size_list(arrow::float32(), 3)));
}

class ConformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto first = MakeVectorBatch(0, 4, 8);
    stored_ = *StoredSchemaFor(*first->schema());
    layout_ = *InspectPutSchema(*first->schema());
  }
  arrow::Result<ConformedBatch> Conform(const std::shared_ptr<arrow::RecordBatch>& batch) {
    return ConformBatch(batch, stored_, layout_, 0, "ds");
  }
  std::shared_ptr<arrow::Schema> stored_;
  DatasetLayout layout_;
};

TEST_F(ConformTest, AcceptsMatchingBatchZeroCopy) {
  auto batch = MakeVectorBatch(10, 5, 8);
  auto conformed = Conform(batch);
  ASSERT_TRUE(conformed.ok()) << conformed.status().ToString();
  EXPECT_EQ(conformed->evolved_schema, nullptr);
  EXPECT_TRUE(conformed->batch->Equals(*batch));
  EXPECT_EQ(conformed->batch->column(1)->data()->child_data[0]->buffers[1]->data(),
            batch->column(1)->data()->child_data[0]->buffers[1]->data());
}

TEST_F(ConformTest, ReordersColumnsToStoredOrder) {
  auto batch = MakeVectorBatch(0, 3, 8);
  auto reversed = arrow::RecordBatch::Make(
      Schema({batch->schema()->field(3), batch->schema()->field(2), batch->schema()->field(1),
              batch->schema()->field(0)}),
      3, {batch->column(3), batch->column(2), batch->column(1), batch->column(0)});
  auto conformed = Conform(reversed);
  ASSERT_TRUE(conformed.ok()) << conformed.status().ToString();
  EXPECT_TRUE(conformed->batch->Equals(*batch));
}

TEST_F(ConformTest, RejectsMismatchesNamingThem) {
  ExpectInvalidMentioning(Conform(MakeVectorBatch(0, 2, 16)).status(),
                          "the dataset has width 8, this batch has width 16");
  ExpectInvalidMentioning(Conform(MakeVectorBatch(0, 0, 8)).status(), "0 rows");
  auto batch = MakeVectorBatch(0, 2, 8);
  ExpectInvalidMentioning(
      Conform(*batch->SetColumn(1, arrow::field("vector", arrow::fixed_size_list(arrow::int8(), 8)),
                                ConstantVectors(arrow::int8(), 2, 8, 1)))
          .status(),
      "dataset stores float32 vectors, this batch has int8");
  ExpectInvalidMentioning(Conform(*batch->RemoveColumn(2)).status(), "missing column 'tag'");
  ExpectInvalidMentioning(Conform(*batch->SetColumn(3, arrow::field("score", arrow::utf8()),
                                                    *arrow::MakeArrayOfNull(arrow::utf8(), 2)))
                              .status(),
                          "column 'score' has type string in this batch but double");
  ExpectInvalidMentioning(Conform(testing::WithoutIds(batch)).status(), "missing column 'id'");
}

TEST_F(ConformTest, WidensCompatibleColumns) {
  auto batch = MakeVectorBatch(0, 2, 8);
  auto conformed = Conform(*batch->SetColumn(3, arrow::field("score", arrow::float32()),
                                             *arrow::MakeArrayOfNull(arrow::float32(), 2)));
  ASSERT_TRUE(conformed.ok()) << conformed.status();
  EXPECT_TRUE(conformed->batch->column(3)->type()->Equals(*arrow::float64()));
  EXPECT_TRUE(conformed->batch->schema()->Equals(*stored_));
}

TEST_F(ConformTest, RejectsNullVectorsAndIds) {
  auto batch = MakeVectorBatch(0, 2, 8);
  auto vectors = batch->column(1)->data()->Copy();
  vectors->buffers[0] = *arrow::AllocateEmptyBitmap(2);  // both rows null
  vectors->null_count = 2;
  ExpectInvalidMentioning(
      Conform(*batch->SetColumn(1, batch->schema()->field(1), arrow::MakeArray(vectors))).status(),
      "null vectors");
  auto ids = batch->column(0)->data()->Copy();
  ids->buffers[0] = *arrow::AllocateEmptyBitmap(2);
  ids->null_count = 2;
  ExpectInvalidMentioning(
      Conform(*batch->SetColumn(0, batch->schema()->field(0), arrow::MakeArray(ids))).status(),
      "id column 'id' has 2 nulls");
}

TEST_F(ConformTest, AppendsNullableColumnsOnly) {
  auto batch = MakeVectorBatch(0, 2, 8);
  auto extra = *arrow::MakeArrayOfNull(arrow::int32(), 2);
  auto evolved = Conform(*batch->AddColumn(4, arrow::field("new", arrow::int32()), extra));
  ASSERT_TRUE(evolved.ok()) << evolved.status().ToString();
  ASSERT_NE(evolved->evolved_schema, nullptr);
  EXPECT_EQ(evolved->evolved_schema->num_fields(), 5);
  EXPECT_EQ(evolved->evolved_schema->field(4)->name(), "new");
  ExpectInvalidMentioning(
      Conform(*batch->AddColumn(4, arrow::field("strict", arrow::int32(), false), extra)).status(),
      "new column 'strict' must be nullable");
}

TEST(ConformAssignedIdsTest, NumbersRowsAndConvertsFloat64) {
  auto put_schema = Schema({arrow::field("vector", arrow::fixed_size_list(arrow::float64(), 2))});
  auto stored = *StoredSchemaFor(*put_schema);
  auto layout = *InspectPutSchema(*put_schema);
  auto batch =
      arrow::RecordBatch::Make(put_schema, 3, {ConstantVectors(arrow::float64(), 3, 2, 0.25)});
  auto conformed = ConformBatch(batch, stored, layout, 100, "ds");
  ASSERT_TRUE(conformed.ok()) << conformed.status().ToString();
  const auto& ids = static_cast<const arrow::UInt64Array&>(*conformed->batch->column(0));
  EXPECT_EQ(ids.Value(0), 100u);
  EXPECT_EQ(ids.Value(2), 102u);
  EXPECT_TRUE(conformed->batch->column(1)->Equals(ConstantVectors(arrow::float32(), 3, 2, 0.25)));
  ExpectInvalidMentioning(ConformBatch(MakeVectorBatch(0, 1, 2), stored, layout, 0, "ds").status(),
                          "remove the 'id' column");
}

}  // namespace
}  // namespace arbalest
