#include "store/vector_sharing.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <vector>

#include "store/dataset.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

constexpr int32_t kDim = 4;

// The graph's vector store holding the rows of `batches` (float32 vectors in column 1).
std::unique_ptr<IndexRows> RowsOf(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                                  Metric metric = Metric::kL2) {
  auto rows = std::make_unique<IndexRows>(DistanceSpace(metric, simd::ElementType::kFloat32, kDim));
  for (const auto& batch : batches) {
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      EXPECT_TRUE(rows->Append(reinterpret_cast<const float*>(VectorBytes(*batch, 1, r))).ok());
    }
  }
  return rows;
}

std::vector<std::shared_ptr<arrow::RecordBatch>> BatchesOf(int64_t first_id, int count,
                                                           int64_t rows_each) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int i = 0; i < count; ++i)
    batches.push_back(MakeVectorBatch(first_id + i * rows_each, rows_each, kDim));
  return batches;
}

std::shared_ptr<arrow::Table> TableOf(const std::vector<std::shared_ptr<arrow::RecordBatch>>& b) {
  return arrow::Table::FromRecordBatches(b).ValueOrDie()->CombineChunks().ValueOrDie();
}

// Whether any buffer of `batch`'s top-level columns lies within a buffer of `other`'s.
bool SharesMemory(const arrow::RecordBatch& batch, const arrow::RecordBatch& other) {
  for (const auto& column : batch.columns()) {
    for (const auto& buffer : column->data()->buffers) {
      if (!buffer) continue;
      for (const auto& theirs : other.columns()) {
        for (const auto& b : theirs->data()->buffers) {
          if (b && buffer->data() >= b->data() && buffer->data() < b->data() + b->size()) {
            return true;
          }
        }
      }
    }
  }
  return false;
}

TEST(VectorSharingTest, BatchesPointAtTheGraphsVectorsAndCopyTheRest) {
  const auto batches = BatchesOf(0, 5, 1000);
  const auto rows = RowsOf(batches);
  ASSERT_EQ(rows->rows_per_chunk(), 4096u);
  auto shared = ShareVectors(batches, 0, 1, *rows);
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  ASSERT_TRUE(shared->has_value());
  const auto& out = (*shared)->batches;
  // Cut where the graph's first chunk ends, joined otherwise.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->num_rows(), 4096);
  EXPECT_EQ(out[1]->num_rows(), 904);
  EXPECT_TRUE(TableOf(out)->Equals(*TableOf(batches)));
  const auto& values = static_cast<const arrow::FixedSizeListArray&>(*out[1]->column(1)).values();
  EXPECT_EQ(values->data()->buffers[1]->data(), rows->Row(4096));
  EXPECT_EQ((*shared)->lent_allocated_bytes, 5000 * kDim * 4);
  for (const auto& batch : out) {
    for (const auto& original : batches) EXPECT_FALSE(SharesMemory(*batch, *original));
  }
}

TEST(VectorSharingTest, StartsAtAnyRowAndSplitsAtSchemaChanges) {
  auto batches = BatchesOf(0, 5, 1000);
  const auto rows = RowsOf(batches);
  // A later batch with an extra (nullable) column cannot join the earlier ones.
  batches[4] = *batches[4]->AddColumn(4, "extra", *arrow::MakeArrayOfNull(arrow::int32(), 1000));
  const std::vector<std::shared_ptr<arrow::RecordBatch>> tail(batches.begin() + 3, batches.end());
  auto shared = ShareVectors(tail, 3000, 1, *rows);
  ASSERT_TRUE(shared.ok() && shared->has_value());
  const auto& out = (*shared)->batches;
  ASSERT_EQ(out.size(), 3u);  // [3000, 4000), then [4000, 4096) and [4096, 5000) of the new schema
  EXPECT_EQ(out[0]->num_rows(), 1000);
  EXPECT_EQ(out[1]->num_rows(), 96);
  EXPECT_EQ(out[2]->num_rows(), 904);
  EXPECT_EQ(out[2]->num_columns(), 5);
  EXPECT_TRUE(TableOf({out[1], out[2]})->Equals(*TableOf({batches[4]})));
}

TEST(VectorSharingTest, ANormalizedGraphCopyIsNotShared) {
  const auto batches = BatchesOf(0, 2, 100);
  const auto rows = RowsOf(batches, Metric::kCosine);
  auto shared = ShareVectors(batches, 0, 1, *rows);
  ASSERT_TRUE(shared.ok());
  EXPECT_FALSE(shared->has_value());
}

class DatasetSharingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dataset_ = *Dataset::Create("ds", *MakeVectorBatch(0, 1, kDim)->schema(), &budget_);
    for (const auto& batch : BatchesOf(0, 5, 1000)) ASSERT_TRUE(dataset_->Append(batch).ok());
    expected_ = TableOf(dataset_->Snapshot().batches);
  }

  int64_t Index(int64_t rows) {
    return *dataset_->CatchUpIndex(rows, /*threads=*/1, [] { return false; });
  }

  MemoryBudget budget_{0};
  std::shared_ptr<Dataset> dataset_;
  std::shared_ptr<arrow::Table> expected_;
};

TEST_F(DatasetSharingTest, IndexedChunksShareTheirVectorsAndTheReceivedCopyGoes) {
  std::weak_ptr<arrow::RecordBatch> received = dataset_->Snapshot().batches[0];
  std::weak_ptr<arrow::RecordBatch> cut = dataset_->Snapshot().batches[4];  // rows 4000..4999
  ASSERT_EQ(Index(2500), 2500);
  // Less than a chunk of the graph (4096 rows) indexed: nothing is shared yet.
  EXPECT_EQ(dataset_->shared_vector_rows(), 0);
  ASSERT_EQ(Index(10000), 2500);
  EXPECT_EQ(dataset_->shared_vector_rows(), 4096);
  DatasetSnapshot after = dataset_->Snapshot();
  ASSERT_EQ(after.batches.size(), 2u);  // the chunk, then the rest of the batch it cut
  EXPECT_EQ(after.batches[0]->num_rows(), 4096);
  EXPECT_TRUE(TableOf(after.batches)->Equals(*expected_));
  EXPECT_TRUE(received.expired());
  EXPECT_TRUE(cut.expired());  // its rows past the chunk were copied out of it
  // The shared vectors are charged once: with the batches, not again with the graph.
  const MemoryUsage graph = after.segments.front().graph->memory();
  const int64_t text_bytes = after.text ? static_cast<int64_t>(after.text->Stats().total_bytes) : 0;
  const HnswIndex::MemoryModel model = after.segments.front().graph->memory_model();
  const int64_t graph_bytes =
      std::max(static_cast<int64_t>(graph.vector_bytes + graph.graph_bytes) + model.fixed_bytes,
               model.BytesFor(after.num_rows));  // charged ahead, whole chunks
  EXPECT_EQ(dataset_->index_memory(), Dataset::kFixedBytes + graph_bytes +
                                          static_cast<int64_t>(graph.scratch_bytes) + text_bytes -
                                          4096 * kDim * 4);
  // The budget's data: the replaced batches' memory, held for reuse, is charged apart.
  EXPECT_EQ(budget_.data_bytes(), after.num_bytes + dataset_->index_memory());
  EXPECT_EQ(after.num_bytes, BatchBytes(after.batches));
  // The next chunk is shared once it is full, taking the rest of the cut batch along.
  ASSERT_TRUE(dataset_->Append(MakeVectorBatch(5000, 3200, kDim)).ok());
  ASSERT_EQ(Index(10000), 3200);
  EXPECT_EQ(dataset_->shared_vector_rows(), 8192);
  after = dataset_->Snapshot();
  ASSERT_EQ(after.batches.size(), 3u);
  EXPECT_EQ(after.batches[1]->num_rows(), 4096);
  EXPECT_EQ(after.batches[2]->num_rows(), 8);
  const auto& values = static_cast<const arrow::FixedSizeListArray&>(*after.batches[1]->column(1));
  EXPECT_EQ(values.values()->data()->buffers[1]->data(),
            after.segments.front().graph->rows().Row(4096));
  auto all = arrow::ConcatenateTables({expected_, TableOf({MakeVectorBatch(5000, 3200, kDim)})});
  EXPECT_TRUE(TableOf(after.batches)->Equals(*(*all)->CombineChunks().ValueOrDie()));
  // The budget's data: the replaced batches' memory, held for reuse, is charged apart.
  EXPECT_EQ(budget_.data_bytes(), after.num_bytes + dataset_->index_memory());
}

TEST_F(DatasetSharingTest, CosineDatasetsKeepTheirOwnCopy) {
  const auto metadata = arrow::key_value_metadata({"longbow.metric"}, {"cosine"});
  const std::vector<std::shared_ptr<arrow::RecordBatch>> batches = {
      MakeVectorBatch(0, 100, kDim)->ReplaceSchemaMetadata(metadata),
      MakeVectorBatch(100, 4000, kDim)->ReplaceSchemaMetadata(metadata)};
  auto dataset = *Dataset::Create("cos", *batches[0]->schema(), &budget_);
  for (const auto& batch : batches) ASSERT_TRUE(dataset->Append(batch).ok());
  ASSERT_EQ(*dataset->CatchUpIndex(10000, 1, [] { return false; }), 4100);
  EXPECT_EQ(dataset->shared_vector_rows(), 0);
  // The graph normalized its copy; the rows keep the vectors as they were put.
  EXPECT_TRUE(TableOf(dataset->Snapshot().batches)->Equals(*TableOf(batches)));
}

}  // namespace
}  // namespace arbalest
