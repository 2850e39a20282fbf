#include "flight/ingest_stream.h"

#include <arrow/api.h>
#include <arrow/util/align_util.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include <cstring>

#include "testing/batches.h"

namespace arbalest {
namespace {

// `batch` plus a utf8 column `text` whose second value's offsets run past its data buffer: a
// batch that Arrow's IPC reader hands over as it came off the wire.
std::shared_ptr<arrow::RecordBatch> WithTextPastItsBuffer(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  std::vector<int32_t> offsets(static_cast<size_t>(batch->num_rows()) + 1, 5);
  offsets[0] = 0;
  offsets[2] = 1 << 20;  // value 1 ends a megabyte past the 5 bytes of data
  for (size_t i = 3; i < offsets.size(); ++i) offsets[i] = offsets[2];
  auto text = arrow::MakeArray(arrow::ArrayData::Make(
      arrow::utf8(), batch->num_rows(),
      {nullptr, arrow::Buffer::FromVector(offsets), arrow::Buffer::FromString("hello")}));
  return batch->AddColumn(batch->num_columns(), "text", text).ValueOrDie();
}

// Found by fuzz_ingest: such a batch was stored, and tokenizing its text read outside the
// buffer (a heap overflow under ASan).
TEST(IngestStreamTest, MalformedBatchIsRefusedBeforeAnythingReadsIt) {
  VectorStore store(0);
  IngestStream stream(store, "docs", /*null_sink=*/false);
  auto ack = stream.Append(WithTextPastItsBuffer(testing::MakeVectorBatch(0, 4, 2)));
  ASSERT_TRUE(ack.status().IsInvalid()) << ack.status().ToString();
  EXPECT_NE(ack.status().message().find("batch 0 rejected: malformed batch"), std::string::npos)
      << ack.status().ToString();
  EXPECT_TRUE(store.Get("docs").status().IsKeyError());

  auto good = stream.Append(testing::MakeVectorBatch(0, 4, 2));
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)["rows"], 4);
}

// `array` with its values buffer moved one byte off its type's alignment, as a message can
// leave it (pyarrow's 10k-row puts arrived at odd addresses about one time in three).
std::shared_ptr<arrow::Array> Misaligned(const std::shared_ptr<arrow::Array>& array) {
  auto data = array->data()->Copy();
  const auto& values = data->buffers[1];
  auto shifted = arrow::AllocateBuffer(values->size() + 1).ValueOrDie();
  std::memcpy(shifted->mutable_data() + 1, values->data(), static_cast<size_t>(values->size()));
  data->buffers[1] = arrow::SliceBuffer(std::shared_ptr<arrow::Buffer>(std::move(shifted)), 1);
  return arrow::MakeArray(data);
}

// Found by fuzz_ingest (UBSan): float64 vectors were read at an odd address while checked and
// cast. Misaligned buffers are copied to aligned memory before anything reads them.
TEST(IngestStreamTest, MisalignedBuffersAreStoredAligned) {
  auto batch = testing::MakeVectorBatch(0, 8, 4);
  ASSERT_EQ(batch->schema()->field(0)->name(), "id");
  auto ids = Misaligned(batch->column(0));
  ASSERT_FALSE(arrow::util::CheckAlignment(*ids->data(), arrow::util::kValueAlignment));
  auto misaligned = batch->SetColumn(0, batch->schema()->field(0), ids).ValueOrDie();

  VectorStore store(0);
  IngestStream stream(store, "ds", /*null_sink=*/false);
  auto ack = stream.Append(misaligned);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  auto snapshot = (*store.Get("ds"))->Snapshot();
  ASSERT_EQ(snapshot.batches.size(), 1u);
  const auto& stored = snapshot.batches[0]->column(0);
  EXPECT_TRUE(arrow::util::CheckAlignment(*stored->data(), arrow::util::kValueAlignment));
  EXPECT_TRUE(stored->Equals(*batch->column(0)));  // the same values
}

// The aligned copy exists beside the received message until the put returns: it is charged to
// --max-memory while it does, so a put that fits once but not twice is refused before the copy
// is made, and the charge is given back afterwards.
TEST(IngestStreamTest, AligningCopyIsChargedWhileItLives) {
  auto batch = testing::MakeVectorBatch(0, 64, 16);
  auto misaligned =
      batch->SetColumn(0, batch->schema()->field(0), Misaligned(batch->column(0))).ValueOrDie();
  const int64_t copy_bytes = arrow::util::TotalBufferSize(*misaligned->column(0));

  VectorStore measure(0);
  ASSERT_TRUE(IngestStream(measure, "ds", false).Append(batch).ok());
  const int64_t stored = measure.memory().used();  // dataset, rows and their index

  VectorStore store(stored + copy_bytes / 2);
  IngestStream stream(store, "ds", /*null_sink=*/false);
  auto refused = stream.Append(misaligned);
  ASSERT_TRUE(refused.status().IsCapacityError()) << refused.status().ToString();
  ASSERT_TRUE(stream.Append(batch).ok());  // aligned, the same rows fit
  EXPECT_EQ(store.memory().used(), stored);

  auto copy_refused = stream.Append(misaligned);  // not even room for the copy now
  ASSERT_TRUE(copy_refused.status().IsCapacityError()) << copy_refused.status().ToString();
  EXPECT_NE(copy_refused.status().message().find("aligning this batch"), std::string::npos)
      << copy_refused.status().ToString();
  EXPECT_EQ(store.memory().used(), stored);

  VectorStore roomy(stored + copy_bytes + 4096);
  IngestStream roomy_stream(roomy, "ds", /*null_sink=*/false);
  ASSERT_TRUE(roomy_stream.Append(misaligned).ok());
  EXPECT_EQ(roomy.memory().used(), stored);  // the copy's charge given back
}

}  // namespace
}  // namespace arbalest
