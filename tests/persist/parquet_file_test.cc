// Record batches through Parquet files and back, with the exact Arrow types of the store.
#include "persist/parquet_file.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <fstream>

#include "testing/batches.h"
#include "testing/temp_dir.h"

namespace arbalest {
namespace {

using testing::ConstantVectors;
using testing::TempDir;

std::shared_ptr<arrow::Table> ReadAll(const std::string& path,
                                      const std::shared_ptr<arrow::Schema>& schema) {
  auto read = ReadParquetBatches(path, schema);
  EXPECT_TRUE(read.ok()) << read.status().ToString();
  return read->reader->ToTable().ValueOrDie();
}

TEST(ParquetFileTest, BatchesRoundTripWithExactTypes) {
  TempDir dir("arbalest_parquet");
  arrow::UInt64Builder ids;
  ASSERT_TRUE(ids.AppendValues({7, 8, 9}).ok());
  auto schema =
      arrow::schema({arrow::field("id", arrow::uint64(), /*nullable=*/false),
                     arrow::field("vector", ConstantVectors(arrow::float16(), 1, 4, 0)->type()),
                     arrow::field("codes", ConstantVectors(arrow::int8(), 1, 3, 0)->type()),
                     arrow::field("tag", arrow::utf8())},
                    arrow::key_value_metadata({"longbow.metric"}, {"cosine"}));
  arrow::StringBuilder tags;
  ASSERT_TRUE(tags.Append("a").ok());
  ASSERT_TRUE(tags.AppendNull().ok());
  ASSERT_TRUE(tags.Append("c").ok());
  std::shared_ptr<arrow::Array> tag_array = *tags.Finish();
  std::shared_ptr<arrow::Array> id_array = *ids.Finish();
  auto batch = arrow::RecordBatch::Make(schema, 3,
                                        {id_array, ConstantVectors(arrow::float16(), 3, 4, 1.5),
                                         ConstantVectors(arrow::int8(), 3, 3, -7), tag_array});
  const std::string path = dir / "rows.parquet";
  auto writer = ParquetBatchWriter::Open(path, schema, /*row_group_rows=*/2);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Write(*batch).ok());
  ASSERT_TRUE((*writer)->Write(*batch->Slice(1)).ok());
  ASSERT_TRUE((*writer)->Close().ok());

  auto read = ReadParquetBatches(path, schema);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->num_rows, 5);
  std::shared_ptr<arrow::RecordBatch> first;
  ASSERT_TRUE(read->reader->ReadNext(&first).ok());
  EXPECT_EQ(first->num_rows(), 2);  // one batch per row group
  EXPECT_TRUE(first->schema()->Equals(*schema, /*check_metadata=*/true));
  auto table = ReadAll(path, schema);
  auto expected = *arrow::Table::FromRecordBatches(
      schema, std::vector<std::shared_ptr<arrow::RecordBatch>>{batch, batch->Slice(1)});
  EXPECT_TRUE(table->Equals(*expected)) << table->ToString();
}

TEST(ParquetFileTest, AFileThatDoesNotFitIsRefusedNamingIt) {
  TempDir dir("arbalest_parquet");
  auto schema = arrow::schema({arrow::field("x", arrow::int32())});
  const std::string path = dir / "x.parquet";
  auto writer = *ParquetBatchWriter::Open(path, schema, 10);
  ASSERT_TRUE(writer->Close().ok());

  auto other = arrow::schema({arrow::field("y", arrow::int32())});
  auto renamed = ReadParquetBatches(path, other);
  EXPECT_TRUE(renamed.status().IsInvalid());
  EXPECT_NE(renamed.status().message().find(path), std::string::npos);
  EXPECT_NE(renamed.status().message().find("'y'"), std::string::npos);

  std::ofstream(dir / "junk.parquet") << "not parquet at all";
  auto junk = ReadParquetBatches(dir / "junk.parquet", schema);
  EXPECT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find(dir / "junk.parquet"), std::string::npos);

  auto missing = ReadParquetBatches(dir / "absent.parquet", schema);
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_NE(missing.status().message().find("absent.parquet"), std::string::npos);
}

}  // namespace
}  // namespace arbalest
