#include "store/dataset_text.h"

#include <arrow/util/key_value_metadata.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "doc_batches.h"
#include "store/dataset.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::Doc;
using testing::DocBatch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TextColumnsMetadata;

std::shared_ptr<arrow::Schema> TextSchema(
    std::shared_ptr<const arrow::KeyValueMetadata> metadata = nullptr) {
  return arrow::schema({arrow::field("id", arrow::utf8()),
                        arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 2)),
                        arrow::field("title", arrow::utf8()), arrow::field("count", arrow::int32()),
                        arrow::field("body", arrow::large_utf8())},
                       std::move(metadata));
}

std::vector<uint64_t> Rows(const std::vector<ScoredRow>& hits) {
  std::vector<uint64_t> rows;
  for (const ScoredRow& hit : hits) rows.push_back(hit.row);
  return rows;
}

const RowFilter kAnyRow = RowFilter::FromPredicate([](uint64_t) { return true; });

TEST(TextColumnsTest, DefaultIsEveryUtf8ColumnButTheId) {
  EXPECT_THAT(*TextColumnsFor(*TextSchema()), ElementsAre(2, 4));
}

TEST(TextColumnsTest, MetadataChoosesColumns) {
  EXPECT_THAT(*TextColumnsFor(*TextSchema(TextColumnsMetadata("body"))), ElementsAre(4));
  EXPECT_THAT(*TextColumnsFor(*TextSchema(TextColumnsMetadata(" body , title "))),
              ElementsAre(2, 4));
  EXPECT_THAT(*TextColumnsFor(*TextSchema(TextColumnsMetadata("id"))), ElementsAre(0));
  EXPECT_THAT(*TextColumnsFor(*TextSchema(TextColumnsMetadata(""))), IsEmpty());
  EXPECT_EQ(*DatasetText::Make(*TextSchema(TextColumnsMetadata(""))), nullptr);
}

TEST(TextColumnsTest, BadMetadataNamesKeyAndColumn) {
  for (const auto& [value, mention] : std::vector<std::pair<std::string, std::string>>{
           {"title,missing", "'missing', which the schema does not have"},
           {"count", "'count' of type int32"},
           {"vector", "'vector' of type fixed_size_list"},
           {"title,title", "'title' twice"}}) {
    auto columns = TextColumnsFor(*TextSchema(TextColumnsMetadata(value)));
    ASSERT_FALSE(columns.ok()) << value;
    EXPECT_TRUE(columns.status().IsInvalid());
    EXPECT_THAT(columns.status().message(), HasSubstr("'longbow.text.columns'"));
    EXPECT_THAT(columns.status().message(), HasSubstr(mention));
  }
}

TEST(DatasetTextTest, IndexesBatchesAtTheirRowNumbers) {
  auto text = *DatasetText::Make(*DocBatch(0, {{"x", {0}}})->schema());
  ASSERT_NE(text, nullptr);
  EXPECT_THAT(text->columns(), ElementsAre("body"));
  ASSERT_TRUE(text->Add(*DocBatch(0, {{"red apple", {0}}, {std::nullopt, {0}}}), 0).ok());
  ASSERT_TRUE(text->Add(*DocBatch(2, {{"green apple pie", {0}}, {"red car", {0}}}), 2).ok());
  EXPECT_THAT(Rows(text->Search("apple", 10, kAnyRow)), ElementsAre(0, 2));
  EXPECT_THAT(Rows(text->Search("RED", 10, kAnyRow)), ElementsAre(0, 3));
  // The null body is a document of length 0: it counts in N but matches nothing.
  EXPECT_EQ(text->Stats().live_rows, 4u);
  const RowFilter odd = RowFilter::FromPredicate([](uint64_t row) { return row % 2 == 1; });
  EXPECT_THAT(Rows(text->Search("red apple", 10, odd)), ElementsAre(3));
}

TEST(DatasetTextTest, ColumnsOfARowAreOneDocument) {
  auto schema = TextSchema();
  arrow::StringBuilder ids, titles;
  arrow::LargeStringBuilder bodies;
  ASSERT_TRUE(ids.AppendValues({"a", "b"}).ok());
  ASSERT_TRUE(titles.AppendValues({"moon landing", "sea"}).ok());
  ASSERT_TRUE(bodies.AppendValues({"apollo", "moon tides"}).ok());
  auto batch = arrow::RecordBatch::Make(
      schema, 2,
      {*ids.Finish(), testing::ConstantVectors(arrow::float32(), 2, 2, 0.0), *titles.Finish(),
       *arrow::MakeArrayOfNull(arrow::int32(), 2), *bodies.Finish()});
  ASSERT_TRUE(batch->ValidateFull().ok());
  auto text = *DatasetText::Make(*schema);
  ASSERT_TRUE(text->Add(*batch, 0).ok());
  EXPECT_THAT(Rows(text->Search("apollo moon", 10, kAnyRow)), ElementsAre(0, 1));
  EXPECT_THAT(Rows(text->Search("tides", 10, kAnyRow)), ElementsAre(1));
  EXPECT_THAT(Rows(text->Search("a", 10, kAnyRow)), IsEmpty());  // ids are not text
}

TEST(DatasetTextTest, RemovedRowsLeaveResults) {
  auto text = *DatasetText::Make(*DocBatch(0, {{"x", {0}}})->schema());
  ASSERT_TRUE(text->Add(*DocBatch(0, {{"red apple", {0}}, {"red car", {0}}}), 0).ok());
  EXPECT_TRUE(text->Remove(0));
  EXPECT_FALSE(text->Remove(0));
  EXPECT_THAT(Rows(text->Search("red apple", 10, kAnyRow)), ElementsAre(1));
}

// A compaction renumbers the index (Compacted) while its gone keys are few; once they are at
// least the threshold and the rows left, it asks for a rebuild (null) instead, so that the
// numbering does not keep a key for every row ever dropped.
TEST(DatasetTextTest, ManyGoneKeysAskForARebuild) {
  auto text = *DatasetText::Make(*DocBatch(0, {{"x", {0}}})->schema());
  ASSERT_TRUE(
      text->Add(*DocBatch(0,
                          {{"a", {0}}, {"b", {0}}, {"c", {0}}, {"d", {0}}, {"e", {0}}, {"f", {0}}}),
                0)
          .ok());
  for (uint64_t row : {0, 1, 2}) ASSERT_TRUE(text->Remove(row));
  const Roaring dropped = Roaring::bitmapOf(2, 0, 1);  // 2 gone, 4 rows left: renumbered
  std::shared_ptr<DatasetText> compacted = text->Compacted(dropped, 4, /*renumber_gone_keys=*/2);
  ASSERT_NE(compacted, nullptr);
  EXPECT_THAT(Rows(compacted->Search("e", 10, kAnyRow)), ElementsAre(2));  // row 4 is now 2
  // One more dropped (3 gone) with 3 rows left: a rebuild.
  EXPECT_EQ(compacted->Compacted(Roaring::bitmapOf(1, 0), 3, /*renumber_gone_keys=*/2), nullptr);
  // Under the default threshold (2^20 gone keys) it renumbers.
  EXPECT_NE(compacted->Compacted(Roaring::bitmapOf(1, 0), 3), nullptr);
}

TEST(DatasetTextTest, DatasetFeedsItsTextIndexOnPublish) {
  MemoryBudget budget(0);
  auto first = DocBatch(0, {{"alpha beta", {0, 0}}, {"gamma", {1, 1}}});
  auto dataset = *Dataset::Create("ds", *first->schema(), &budget);
  ASSERT_NE(dataset->text(), nullptr);
  ASSERT_TRUE(dataset->Append(first).ok());
  ASSERT_TRUE(dataset->Append(DocBatch(2, {{"beta gamma", {2, 2}}})).ok());
  EXPECT_THAT(Rows(dataset->text()->Search("beta", 10, kAnyRow)), ElementsAre(0, 2));
  EXPECT_THAT(Rows(dataset->text()->Search("gamma", 10, kAnyRow)), ElementsAre(1, 2));
}

TEST(DatasetTextTest, RecoveredBatchesAreIndexed) {
  MemoryBudget budget(0);
  auto batch = DocBatch(0, {{"alpha", {0, 0}}, {"beta", {1, 1}}});
  auto dataset = *Dataset::Create("ds", *batch->schema(), &budget);
  ASSERT_TRUE(dataset->AppendRecovered(batch, /*lsn=*/2).ok());
  ASSERT_TRUE(dataset->AppendRecovered(DocBatch(2, {{"beta", {2, 2}}}), /*lsn=*/3).ok());
  EXPECT_THAT(Rows(dataset->text()->Search("beta", 10, kAnyRow)), ElementsAre(1, 2));
}

TEST(DatasetTextTest, DatasetWithoutTextColumnsHasNoTextIndex) {
  MemoryBudget budget(0);
  auto batch = DocBatch(0, {{"alpha", {0, 0}}}, TextColumnsMetadata(""));
  auto dataset = *Dataset::Create("ds", *batch->schema(), &budget);
  EXPECT_EQ(dataset->text(), nullptr);
  EXPECT_TRUE(dataset->Append(batch).ok());

  auto bad = Dataset::Create(
      "ds", *DocBatch(0, {{"a", {0}}}, TextColumnsMetadata("nope"))->schema(), &budget);
  EXPECT_TRUE(bad.status().IsInvalid());
  EXPECT_THAT(bad.status().message(), HasSubstr("'nope'"));
}

}  // namespace
}  // namespace arbalest
