#include "flight/ingest_stream.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace arbalest
