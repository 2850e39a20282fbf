#include "persist/wal_format.h"

#include <arrow/util/align_util.h>
#include <gtest/gtest.h>

#include "damaged_bitmaps.h"
#include "testing/batches.h"
#include "testing/legacy_wal.h"

namespace arbalest {
namespace {

TEST(WalFormatTest, RecordsRoundTrip) {
  auto batch = testing::MakeVectorBatch(7, 20, 16);
  auto append = DecodePayload(3, *EncodeAppend("ds", *batch, 40)->Contiguous());
  ASSERT_TRUE(append.ok()) << append.status().ToString();
  EXPECT_EQ(append->lsn, 3u);
  EXPECT_EQ(append->type, WalRecordType::kAppend);
  EXPECT_EQ(append->dataset, "ds");
  EXPECT_TRUE(append->batch->Equals(*batch));
  EXPECT_EQ(append->logged_rows, 40);

  auto create = DecodePayload(4, *EncodeCreateDataset("other.name", batch->schema())->Contiguous());
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(create->type, WalRecordType::kCreateDataset);
  EXPECT_TRUE(create->schema->Equals(*batch->schema()));

  auto drop = DecodePayload(5, *EncodeDropDataset("ds")->Contiguous());
  ASSERT_TRUE(drop.ok());
  EXPECT_EQ(drop->type, WalRecordType::kDropDataset);
  EXPECT_EQ(drop->dataset, "ds");
  EXPECT_FALSE(drop->logged_rows);

  Roaring rows;
  rows.addRange(100, 5000);
  rows.add(7);
  auto deleted = DecodePayload(6, *EncodeDelete("ds", rows, 6000)->Contiguous());
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->type, WalRecordType::kDelete);
  EXPECT_EQ(deleted->dataset, "ds");
  EXPECT_TRUE(deleted->rows == rows);
  EXPECT_EQ(deleted->logged_rows, 6000);

  auto compacted = DecodePayload(7, *EncodeCompact("ds", rows, 6001)->Contiguous());
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->type, WalRecordType::kCompact);
  EXPECT_EQ(compacted->dataset, "ds");
  EXPECT_TRUE(compacted->rows == rows);
  EXPECT_EQ(compacted->logged_rows, 6001);

  auto counted = DecodePayload(8, *EncodeRowCount("ds", 77)->Contiguous());
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  EXPECT_EQ(counted->type, WalRecordType::kRowCount);
  EXPECT_EQ(counted->dataset, "ds");
  EXPECT_EQ(counted->logged_rows, 77);
}

// An upsert carries its batch and the rows it replaces in one record; a truncated one is
// refused, naming what is missing.
TEST(WalFormatTest, UpsertRoundTrips) {
  auto batch = testing::MakeVectorBatch(7, 20, 16);
  Roaring replaced;
  replaced.addRange(3, 9);
  replaced.add(45);  // a row of the batch itself (a repeated id)
  auto payload = EncodeUpsert("ds", *batch, replaced, 40);
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  auto upsert = DecodePayload(5, *payload->Contiguous());
  ASSERT_TRUE(upsert.ok()) << upsert.status().ToString();
  EXPECT_EQ(upsert->type, WalRecordType::kUpsert);
  EXPECT_EQ(upsert->dataset, "ds");
  EXPECT_EQ(upsert->logged_rows, 40);
  EXPECT_TRUE(upsert->rows == replaced);
  EXPECT_TRUE(upsert->batch->Equals(*batch));
  const auto whole = *payload->Contiguous();
  auto truncated = DecodePayload(5, arrow::SliceBuffer(whole, 0, 3 + 2 + 8 + 4));
  ASSERT_TRUE(truncated.status().IsInvalid());
  EXPECT_NE(truncated.status().message().find("past its end"), std::string::npos)
      << truncated.status().message();
}

// Records of version 2 name rows by key: an append and an upsert their first key, a delete and
// an upsert's replaced rows keys; none carries a row count. Truncated or negative first keys
// are refused.
TEST(WalFormatTest, KeyedRecordsRoundTrip) {
  auto batch = testing::MakeVectorBatch(7, 20, 16);
  auto append = DecodePayload(3, *EncodeKeyedAppend("ds", *batch, 4000000000)->Contiguous());
  ASSERT_TRUE(append.ok()) << append.status().ToString();
  EXPECT_EQ(append->type, WalRecordType::kAppend);
  EXPECT_TRUE(append->keyed);
  EXPECT_EQ(append->first_key, 4000000000u);
  EXPECT_FALSE(append->logged_rows);
  EXPECT_TRUE(append->batch->Equals(*batch));

  Roaring keys;
  keys.addRange(100, 5000);
  keys.add(4000000001u);
  auto deleted = DecodePayload(4, *EncodeKeyedDelete("ds", keys)->Contiguous());
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->type, WalRecordType::kDelete);
  EXPECT_TRUE(deleted->keyed);
  EXPECT_TRUE(deleted->rows == keys);
  EXPECT_FALSE(deleted->logged_rows);

  auto payload = EncodeKeyedUpsert("ds", *batch, keys, 6000);
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  auto upsert = DecodePayload(5, *payload->Contiguous());
  ASSERT_TRUE(upsert.ok()) << upsert.status().ToString();
  EXPECT_EQ(upsert->type, WalRecordType::kUpsert);
  EXPECT_TRUE(upsert->keyed);
  EXPECT_EQ(upsert->first_key, 6000u);
  EXPECT_TRUE(upsert->rows == keys);
  EXPECT_TRUE(upsert->batch->Equals(*batch));

  auto rekey = DecodePayload(6, *EncodeRekey("ds", keys, 4000000002u)->Contiguous());
  ASSERT_TRUE(rekey.ok()) << rekey.status().ToString();
  EXPECT_EQ(rekey->type, WalRecordType::kRekey);
  EXPECT_TRUE(rekey->keyed);
  EXPECT_EQ(rekey->first_key, 4000000002u);  // the next key
  EXPECT_TRUE(rekey->rows == keys);
  EXPECT_FALSE(rekey->batch);
  const std::string rekey_prefix = {15, 2, 0, 'd', 's'};
  auto short_rekey =
      DecodePayload(7, arrow::Buffer::FromString(rekey_prefix + std::string(8, '\0') + "xy"));
  ASSERT_TRUE(short_rekey.status().IsInvalid());  // a bitmap of two bytes
  EXPECT_NE(short_rekey.status().message().find("WAL record 7 is malformed"), std::string::npos)
      << short_rekey.status().message();

  // Version-1 records are not keyed.
  EXPECT_FALSE(DecodePayload(6, *EncodeDelete("ds", keys, 9)->Contiguous())->keyed);
  EXPECT_FALSE(DecodePayload(6, *EncodeAppend("ds", *batch, 9)->Contiguous())->keyed);

  const std::string prefix = {12, 2, 0, 'd', 's'};  // an append v2 of dataset "ds"
  auto cut = DecodePayload(7, arrow::Buffer::FromString(prefix + std::string(5, '\0')));
  ASSERT_TRUE(cut.status().IsInvalid());
  EXPECT_NE(cut.status().message().find("first key past its end"), std::string::npos)
      << cut.status().message();
  auto negative =
      DecodePayload(7, arrow::Buffer::FromString(prefix + std::string(7, '\0') + "\xff"));
  ASSERT_TRUE(negative.status().IsInvalid());
  EXPECT_NE(negative.status().message().find("negative first key"), std::string::npos)
      << negative.status().message();
}

// The upgrade path: records logged before row counts decode, without one.
TEST(WalFormatTest, RecordsWithoutRowCountsStillDecode) {
  auto batch = testing::MakeVectorBatch(7, 20, 16);
  auto append =
      DecodePayload(3, *testing::LegacyPayload(*EncodeAppend("ds", *batch, 40)).Contiguous());
  ASSERT_TRUE(append.ok()) << append.status().ToString();
  EXPECT_EQ(append->type, WalRecordType::kAppend);
  EXPECT_TRUE(append->batch->Equals(*batch));
  EXPECT_FALSE(append->logged_rows);
  Roaring rows;
  rows.addRange(3, 9);
  for (const auto& [encoded, type] :
       {std::pair{*EncodeDelete("ds", rows, 20), WalRecordType::kDelete},
        std::pair{*EncodeCompact("ds", rows, 20), WalRecordType::kCompact}}) {
    auto decoded = DecodePayload(4, *testing::LegacyPayload(encoded).Contiguous());
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->type, type);
    EXPECT_EQ(decoded->dataset, "ds");
    EXPECT_TRUE(decoded->rows == rows);
    EXPECT_FALSE(decoded->logged_rows);
  }
}

TEST(WalFormatTest, SealsAreNotReplayedRecords) {
  auto seal = *EncodeSeal(42).Contiguous();
  auto next = DecodeSeal(42, *seal);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 42u);
  EXPECT_TRUE(DecodePayload(42, seal).status().IsInvalid());
  // A seal continues at its own LSN, the next segment's first.
  EXPECT_TRUE(DecodeSeal(41, *seal).status().IsInvalid());
  auto append = *EncodeAppend("ds", *testing::MakeVectorBatch(0, 5, 4), 0)->Contiguous();
  auto not_a_seal = DecodeSeal(42, *append);
  ASSERT_TRUE(not_a_seal.ok());
  EXPECT_FALSE(*not_a_seal);
}

TEST(WalFormatTest, MalformedDeletesAreRefused) {
  Roaring rows;
  for (uint32_t row = 0; row < 1000; row += 7) rows.add(row);
  auto payload = *EncodeDelete("ds", rows, 1000)->Contiguous();
  for (int64_t cut : {int64_t{5}, int64_t{9}, payload->size() / 2, payload->size() - 1}) {
    auto decoded = DecodePayload(1, arrow::SliceBuffer(payload, 0, cut));
    EXPECT_TRUE(decoded.status().IsInvalid()) << cut;
  }
  auto longer = arrow::ConcatenateBuffers({payload, arrow::Buffer::FromString("xx")}).ValueOrDie();
  auto decoded = DecodePayload(9, longer);
  ASSERT_TRUE(decoded.status().IsInvalid());
  EXPECT_NE(decoded.status().message().find("WAL record 9"), std::string::npos);
  // Found by fuzz_wal: rows out of order in the bitmap were accepted.
  const std::string prefix = {4, 2, 0, 'd', 's'};  // a delete of dataset "ds"
  auto unsorted =
      DecodePayload(4, arrow::Buffer::FromString(prefix + testing::ArrayBitmap({9, 2})));
  ASSERT_TRUE(unsorted.status().IsInvalid()) << unsorted.status().ToString();
  EXPECT_NE(unsorted.status().message().find("containers disagree"), std::string::npos)
      << unsorted.status().ToString();
}

TEST(WalFormatTest, MalformedPayloadsAreRefused) {
  auto payload = *EncodeAppend("ds", *testing::MakeVectorBatch(0, 5, 4), 0)->Contiguous();
  auto cut = arrow::SliceBuffer(payload, 0, payload->size() / 2);
  EXPECT_TRUE(DecodePayload(1, cut).status().IsInvalid());
  EXPECT_TRUE(DecodePayload(1, arrow::Buffer::FromString("\x09")).status().IsInvalid());
  EXPECT_TRUE(DecodePayload(1, arrow::Buffer::FromString(std::string("\x02\xff\x00", 3)))
                  .status()
                  .IsInvalid());
  // A row count past the end, and a negative one.
  EXPECT_TRUE(DecodePayload(1, arrow::Buffer::FromString(std::string("\x0a\x00\x00\x01", 4)))
                  .status()
                  .IsInvalid());
  EXPECT_TRUE(DecodePayload(1, *EncodeRowCount("ds", -1)->Contiguous()).status().IsInvalid());
}

// Found by fuzz_wal: the IPC stream of an append starts after the prefix and name in the
// payload, and replayed batches kept buffers that far off alignment (an int64 id column read
// at an odd address: undefined behaviour, caught by UBSan).
TEST(WalFormatTest, ReplayedBatchesAreAligned) {
  for (std::string name : {"ds", "odd", "name_of_9"}) {
    auto payload = *EncodeAppend(name, *testing::MakeVectorBatch(0, 10, 4), 0)->Contiguous();
    auto append = DecodePayload(1, payload);
    ASSERT_TRUE(append.ok()) << append.status().ToString();
    for (const auto& column : append->batch->columns()) {
      EXPECT_TRUE(arrow::util::CheckAlignment(*column, arrow::util::kValueAlignment))
          << name << ": " << column->type()->ToString();
    }
  }
}

// Found by fuzz_wal: an append whose string offsets run backwards was replayed as it was, and
// reading its values went outside their buffer.
TEST(WalFormatTest, MalformedAppendIsRefused) {
  auto text = arrow::MakeArray(
      arrow::ArrayData::Make(arrow::utf8(), 3,
                             {nullptr, arrow::Buffer::FromVector(std::vector<int32_t>{0, 5, 2, 5}),
                              arrow::Buffer::FromString("hello")}));
  auto batch =
      arrow::RecordBatch::Make(arrow::schema({arrow::field("text", arrow::utf8())}), 3, {text});
  auto decoded = DecodePayload(8, *EncodeAppend("ds", *batch, 0)->Contiguous());
  ASSERT_TRUE(decoded.status().IsInvalid()) << decoded.status().ToString();
  EXPECT_NE(decoded.status().message().find("WAL record 8 is malformed"), std::string::npos)
      << decoded.status().ToString();
}

TEST(WalFormatTest, AppendPayloadRefersToTheBatchBuffersWithoutCopying) {
  auto batch = testing::MakeVectorBatch(0, 1000, 64);
  auto payload = *EncodeAppend("ds", *batch, 0);
  const uint8_t* vector_data = batch->column(1)->data()->child_data[0]->buffers[1]->data();
  bool found = false;
  for (const auto& part : payload.parts) found = found || part->data() == vector_data;
  EXPECT_TRUE(found);
  EXPECT_EQ(payload.Contiguous().ValueOrDie()->size(), payload.size());
}

TEST(WalFormatTest, HeaderChecksumCatchesAnyFlippedBit) {
  auto header = EncodeHeader(42, 1000, 0xdeadbeef);
  auto decoded = DecodeHeader(header.data());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->lsn, 42u);
  EXPECT_EQ(decoded->payload_length, 1000u);
  EXPECT_EQ(decoded->payload_crc, 0xdeadbeefu);
  for (size_t bit = 0; bit < header.size() * 8; ++bit) {
    auto flipped = header;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(DecodeHeader(flipped.data()).ok()) << bit;
  }
}

TEST(WalFormatTest, SegmentNamesSortByLsn) {
  EXPECT_EQ(WalSegmentName(1), "00000000000000000001.wal");
  EXPECT_LT(WalSegmentName(99), WalSegmentName(100));
}

}  // namespace
}  // namespace arbalest
