// The WAL writer and reader on real files in a temporary directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "persist/crc32c.h"
#include "persist/io_errors.h"
#include "persist/wal_format.h"
#include "persist/wal_reader.h"
#include "persist/wal_segments.h"
#include "persist/wal_writer.h"
#include "testing/files.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::FileSizeLimit;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("arbalest_wal_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  WalOptions Options(FsyncPolicy fsync = FsyncPolicy::kAlways) {
    WalOptions options;
    options.dir = dir_.string();
    options.fsync = fsync;
    return options;
  }

  // A payload in two parts, as appends are logged.
  static WalPayload Payload(uint64_t i, size_t size = 100) {
    std::string text(size, static_cast<char>('a' + i % 26));
    text.replace(0, std::to_string(i).size(), std::to_string(i));
    const size_t half = size / 2;
    return WalPayload{{arrow::Buffer::FromString(text.substr(0, half)),
                       arrow::Buffer::FromString(text.substr(half))}};
  }
  static std::string Text(const WalPayload& payload) {
    return payload.Contiguous().ValueOrDie()->ToString();
  }

  // Reads the log, returning the payloads in order.
  arrow::Result<std::vector<std::string>> ReadAll(WalReadResult* result = nullptr,
                                                  WalReadOptions options = {}) {
    std::vector<std::string> payloads;
    ARROW_ASSIGN_OR_RAISE(auto read, ReadWal(dir_.string(), options, [&](uint64_t, auto payload) {
                            payloads.push_back(payload->ToString());
                            return arrow::Status::OK();
                          }));
    if (result) *result = read;
    return payloads;
  }

  std::string LastSegment() { return ListWalSegments(dir_.string())->back().path; }

  // Writes records 1..count of Payload(i, size) in segments of about `segment_bytes`; returns
  // the segments.
  std::vector<WalSegment> WriteLog(uint64_t count, size_t size = 300,
                                   int64_t segment_bytes = 1000) {
    auto options = Options();
    options.segment_bytes = segment_bytes;
    auto writer = *WalWriter::Open(options, 1);
    for (uint64_t i = 1; i <= count; ++i) EXPECT_EQ(*writer->Append(Payload(i, size)), i);
    return *ListWalSegments(dir_.string());
  }

  // A segment as logs before seals and LOG_START have it: records with `lsns`, no seal.
  void WriteUnsealedSegment(uint64_t first_lsn, const std::vector<uint64_t>& lsns) {
    fs::create_directories(dir_);
    std::ofstream file(dir_ / WalSegmentName(first_lsn), std::ios::binary);
    for (uint64_t lsn : lsns) {
      const std::string payload = Text(Payload(lsn));
      const auto header =
          EncodeHeader(lsn, static_cast<uint32_t>(payload.size()),
                       Crc32c(0, reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
      file.write(reinterpret_cast<const char*>(header.data()), header.size());
      file << payload;
    }
  }

  // Overwrites `bytes` at `offset` of `path`.
  static void Overwrite(const std::string& path, int64_t offset, const std::string& bytes) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(offset);
    file << bytes;
  }

  // The message of the error reading the log fails with (the test fails if it does not).
  std::string ReadError() {
    auto read = ReadAll();
    EXPECT_FALSE(read.ok());
    EXPECT_TRUE(read.status().IsIOError()) << read.status().ToString();
    return read.status().message();
  }

  fs::path dir_;
};

TEST_F(WalTest, AppendsReadBackInOrderUnderEveryPolicy) {
  for (auto policy : {FsyncPolicy::kAlways, FsyncPolicy::kInterval, FsyncPolicy::kNone}) {
    fs::remove_all(dir_);
    {
      auto writer = *WalWriter::Open(Options(policy), 1);
      for (uint64_t i = 1; i <= 50; ++i) EXPECT_EQ(*writer->Append(Payload(i)), i);
    }
    WalReadResult result;
    auto payloads = ReadAll(&result);
    ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
    ASSERT_EQ(payloads->size(), 50u);
    for (uint64_t i = 1; i <= 50; ++i) EXPECT_EQ((*payloads)[i - 1], Text(Payload(i)));
    EXPECT_EQ(result.last_lsn, 50u);
    EXPECT_EQ(result.truncated_bytes, 0);
  }
}

TEST_F(WalTest, RotatesSegmentsAndDropsOldOnes) {
  auto options = Options();
  options.segment_bytes = 1000;
  {
    auto writer = *WalWriter::Open(options, 1);
    for (uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(writer->Append(Payload(i, 300)).ok());
    auto segments = *ListWalSegments(dir_.string());
    EXPECT_GT(segments.size(), 5u);
    ASSERT_TRUE(writer->DropSegmentsBefore(30).ok());
    auto remaining = *ListWalSegments(dir_.string());
    EXPECT_LT(remaining.size(), segments.size());
    EXPECT_LE(remaining.front().first_lsn, 30u);
  }
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok());
  EXPECT_EQ(result.last_lsn, 40u);
  EXPECT_EQ(payloads->back(), Text(Payload(40, 300)));
  EXPECT_LE(40 - payloads->size() + 1, 30u);  // every record from LSN 30 on is still there
}

TEST_F(WalTest, ContinuesAfterReopen) {
  { ASSERT_TRUE((*WalWriter::Open(Options(), 1))->Append(Payload(1)).ok()); }
  { ASSERT_TRUE((*WalWriter::Open(Options(), 2))->Append(Payload(2)).ok()); }
  auto payloads = ReadAll();
  ASSERT_TRUE(payloads.ok());
  EXPECT_EQ(payloads->size(), 2u);
}

TEST_F(WalTest, ConcurrentAppendersGetUniqueLsnsAndAllRecordsLand) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::vector<std::vector<uint64_t>> lsns(kThreads);
  {
    auto writer = *WalWriter::Open(Options(FsyncPolicy::kAlways), 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) lsns[t].push_back(*writer->Append(Payload(i)));
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::set<uint64_t> all;
  for (const auto& list : lsns) {
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
    all.insert(list.begin(), list.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  WalReadResult result;
  ASSERT_TRUE(ReadAll(&result).ok());
  EXPECT_EQ(result.records, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(WalTest, TornTailIsTruncatedAndTheLogStaysAppendable) {
  {
    auto writer = *WalWriter::Open(Options(), 1);
    for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(writer->Append(Payload(i)).ok());
  }
  const std::string segment = LastSegment();
  const auto good_size = fs::file_size(segment);
  for (int cut : {1, 10, 30, 100}) {
    // A sixth record whose write was cut short after `cut` bytes.
    auto header = EncodeHeader(6, 100, 0);
    std::string torn(reinterpret_cast<const char*>(header.data()), header.size());
    torn += std::string(100, 'x');
    std::ofstream(segment, std::ios::app | std::ios::binary) << torn.substr(0, cut);
    WalReadResult result;
    auto payloads = ReadAll(&result);
    ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
    EXPECT_EQ(payloads->size(), 5u);
    EXPECT_EQ(result.truncated_bytes, cut);
    EXPECT_EQ(fs::file_size(segment), good_size);
  }
  // Zeros past the end (a crash after the file grew but before data reached it).
  std::ofstream(segment, std::ios::app | std::ios::binary) << std::string(4096, '\0');
  auto payloads = ReadAll();
  ASSERT_TRUE(payloads.ok());
  EXPECT_EQ(fs::file_size(segment), good_size);
  { ASSERT_TRUE((*WalWriter::Open(Options(), 6))->Append(Payload(6)).ok()); }
  EXPECT_EQ(ReadAll()->size(), 6u);
}

TEST_F(WalTest, CorruptionMidLogNamesFileAndOffsetUnlessSkipped) {
  {
    auto writer = *WalWriter::Open(Options(), 1);
    for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(writer->Append(Payload(i)).ok());
  }
  const std::string segment = LastSegment();
  const auto record_size = kWalHeaderSize + 100;
  {
    // Flip a payload byte of record 2.
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(record_size + kWalHeaderSize + 50);
    file.put('!');
  }
  auto failed = ReadAll();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsIOError());
  EXPECT_NE(failed.status().message().find(segment), std::string::npos);
  EXPECT_NE(failed.status().message().find("offset " + std::to_string(record_size)),
            std::string::npos)
      << failed.status().message();
  EXPECT_NE(failed.status().message().find("--wal-skip-corrupt"), std::string::npos);

  WalReadResult result;
  auto skipped = ReadAll(&result, WalReadOptions{.skip_corrupt = true});
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->size(), 4u);
  EXPECT_EQ(result.skipped_corrupt, 1u);
  EXPECT_EQ(result.last_lsn, 5u);
}

TEST_F(WalTest, CorruptHeaderMidLogFails) {
  {
    auto writer = *WalWriter::Open(Options(), 1);
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(writer->Append(Payload(i)).ok());
  }
  {
    std::fstream file(LastSegment(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(kWalHeaderSize + 100 + 6);  // the length field of record 2
    file.put('\x7f');
  }
  auto failed = ReadAll();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("header checksum mismatch"), std::string::npos);
  WalReadResult result;
  auto skipped = ReadAll(&result, WalReadOptions{.skip_corrupt = true});
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->size(), 1u);  // nothing after a bad header can be trusted
}

TEST_F(WalTest, WriteFailureFailsTheGroupAndLeavesALogOfWholeRecords) {
  auto writer = *WalWriter::Open(Options(), 1);
  ASSERT_TRUE(writer->Append(Payload(1)).ok());
  // A real write error without mocks: a file-size limit makes write() fail with EFBIG.
  FileSizeLimit limit(4096);
  bool taken_back = false;
  auto ticket = writer->Enqueue(Payload(2, 10000), [&] { taken_back = true; });
  ASSERT_TRUE(ticket.ok());
  EXPECT_EQ(ticket->lsn, 2u);
  arrow::Status failed = writer->Wait(*ticket);
  limit.Lift();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.IsIOError());
  EXPECT_NE(failed.message().find("write to"), std::string::npos);
  EXPECT_EQ(ClassifyIoFailure(failed), IoFailure::kDiskFull);
  EXPECT_TRUE(taken_back);  // before Wait returned
  EXPECT_EQ(writer->failed_groups(), 1);
  EXPECT_FALSE(writer->failed());  // a full disk may pass: the log goes on
  // The failed record is not in the log, later records still land, and the failed record's
  // LSN is handed out again, so the log has no gap.
  EXPECT_EQ(*writer->Append(Payload(3)), 2u);
  writer.reset();
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  ASSERT_EQ(payloads->size(), 2u);
  EXPECT_EQ((*payloads)[1], Text(Payload(3)));
  EXPECT_EQ(result.last_lsn, 2u);
}

// A checkpoint computes where the log must be kept from out of next_lsn(); a failed write can
// give LSNs below that again meanwhile, and the records that take them are kept.
TEST_F(WalTest, SegmentsDroppedAfterAFailedWriteKeepTheLsnsGivenAgain) {
  auto options = Options();
  options.segment_bytes = 1000;
  auto writer = *WalWriter::Open(options, 1);
  for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(writer->Append(Payload(i, 300)).ok());
  FileSizeLimit limit(1);
  auto ticket = writer->Enqueue(Payload(11, 2000));
  ASSERT_TRUE(ticket.ok());
  const uint64_t keep_from = ticket->lsn + 1;  // what a checkpoint reading next_lsn() now sees
  EXPECT_FALSE(writer->Wait(*ticket).ok());
  limit.Lift();
  // LSN 11 again, filling its segment, then 12 in the next one.
  EXPECT_EQ(*writer->Append(Payload(11, 2000)), 11u);
  EXPECT_EQ(*writer->Append(Payload(12, 300)), 12u);
  ASSERT_TRUE(writer->DropSegmentsBefore(keep_from).ok());
  writer.reset();
  auto payloads = ReadAll();
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  ASSERT_GE(payloads->size(), 2u);
  EXPECT_EQ((*payloads)[payloads->size() - 2], Text(Payload(11, 2000)));
}

TEST_F(WalTest, OpenFailsCleanlyWhenItCannotCreateItsSegment) {
  fs::create_directories(dir_ / WalSegmentName(7));  // where the segment would go
  auto failed = WalWriter::Open(Options(), 7);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsIOError());
  EXPECT_NE(failed.status().message().find(WalSegmentName(7)), std::string::npos);
}

TEST_F(WalTest, EverySegmentButTheLastIsSealed) {
  auto segments = WriteLog(40);
  ASSERT_GT(segments.size(), 5u);
  for (size_t i = 0; i < segments.size(); ++i) {
    EXPECT_EQ(*WalSegmentIsSealed(segments[i].path), i + 1 < segments.size()) << i;
  }
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  EXPECT_EQ(payloads->size(), 40u);  // the seals are not records
  EXPECT_EQ(result.next_lsn, 41u);
  // A restart continues in a new segment and seals the one before.
  { ASSERT_TRUE((*WalWriter::Open(Options(), 41))->Append(Payload(41)).ok()); }
  EXPECT_TRUE(*WalSegmentIsSealed(segments.back().path));
  EXPECT_EQ(ReadAll()->size(), 41u);
}

TEST_F(WalTest, MissingMiddleSegmentStopsTheReadNamingTheLsns) {
  auto segments = WriteLog(40);
  const WalSegment& lost = segments[2];
  fs::remove(lost.path);
  const std::string message = ReadError();
  EXPECT_NE(message.find("LSNs " + std::to_string(lost.first_lsn) + ".." +
                         std::to_string(segments[3].first_lsn - 1) + " are missing"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(segments[1].path), std::string::npos) << message;
  EXPECT_NE(message.find(segments[3].path), std::string::npos) << message;
  EXPECT_NE(message.find("--wal-skip-corrupt"), std::string::npos) << message;

  WalReadResult result;
  auto payloads = ReadAll(&result, WalReadOptions{.skip_corrupt = true});
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  EXPECT_EQ(payloads->size(), 40 - (segments[3].first_lsn - lost.first_lsn));
  EXPECT_EQ(result.gaps, 1u);
  EXPECT_EQ(result.last_lsn, 40u);
}

TEST_F(WalTest, MissingLastSegmentStopsTheRead) {
  auto segments = WriteLog(40);
  fs::remove(segments.back().path);
  const std::string message = ReadError();
  EXPECT_NE(message.find("LSN " + std::to_string(segments.back().first_lsn) + " on are missing"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(segments[segments.size() - 2].path + " ends with a seal"),
            std::string::npos)
      << message;

  WalReadResult result;
  ASSERT_TRUE(ReadAll(&result, WalReadOptions{.skip_corrupt = true}).ok());
  EXPECT_EQ(result.gaps, 1u);
  EXPECT_EQ(result.next_lsn, segments.back().first_lsn);  // where the sealed segment points
}

TEST_F(WalTest, MissingFirstSegmentStopsTheRead) {
  auto segments = WriteLog(40);
  fs::remove(segments[0].path);
  std::string message = ReadError();
  EXPECT_NE(message.find("LSNs 1.." + std::to_string(segments[1].first_lsn - 1) + " are missing"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(std::string(kWalLogStartFile)), std::string::npos) << message;

  // After a checkpoint the log starts later: fine until its new first segment goes.
  fs::remove_all(dir_);
  segments = WriteLog(40);
  {
    auto writer = *WalWriter::Open(Options(), 41);
    ASSERT_TRUE(writer->DropSegmentsBefore(20).ok());
  }
  segments = *ListWalSegments(dir_.string());
  EXPECT_EQ(*ReadWalLogStart(dir_.string()), segments[0].first_lsn);
  ASSERT_TRUE(ReadAll().ok());
  fs::remove(segments[0].path);
  message = ReadError();
  EXPECT_NE(message.find("LSNs " + std::to_string(segments[0].first_lsn) + ".." +
                         std::to_string(segments[1].first_lsn - 1) + " are missing"),
            std::string::npos)
      << message;
}

// A crash while the writer sealed a full segment, after it created the next one.
TEST_F(WalTest, ATornSealBeforeAnEmptySegmentIsATornTail) {
  auto segments = WriteLog(10);
  const std::string& full = segments[segments.size() - 2].path;
  fs::resize_file(segments.back().path, 0);
  fs::resize_file(full, fs::file_size(full) - 5);
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  EXPECT_EQ(payloads->size(), segments.back().first_lsn - 1);
  EXPECT_EQ(result.truncated_bytes, static_cast<int64_t>(kWalHeaderSize) + 11 - 5);
  EXPECT_FALSE(*WalSegmentIsSealed(full));
  // The writer continues in the empty segment and seals the full one again.
  { ASSERT_TRUE((*WalWriter::Open(Options(), result.next_lsn))->Append(Payload(99)).ok()); }
  EXPECT_TRUE(*WalSegmentIsSealed(full));
  EXPECT_EQ(ReadAll()->size(), segments.back().first_lsn);
}

// The upgrade path: a log written before seals and LOG_START reads as before.
TEST_F(WalTest, LogsWithoutSealsOrLogStartStillRead) {
  WriteUnsealedSegment(1, {1, 2, 3});
  WriteUnsealedSegment(4, {4, 5});
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  EXPECT_EQ(payloads->size(), 5u);
  // A writer continuing it seals its last segment and writes LOG_START.
  { ASSERT_TRUE((*WalWriter::Open(Options(), 6))->Append(Payload(6)).ok()); }
  EXPECT_TRUE(*WalSegmentIsSealed((dir_ / WalSegmentName(4)).string()));
  EXPECT_EQ(*ReadWalLogStart(dir_.string()), 1u);
  EXPECT_EQ(ReadAll()->size(), 6u);
}

TEST_F(WalTest, GapInsideASegmentStopsTheRead) {
  WriteUnsealedSegment(1, {1, 2, 4, 5});
  const std::string message = ReadError();
  EXPECT_NE(message.find("LSN 3 are missing"), std::string::npos) << message;
  WalReadResult result;
  auto payloads = ReadAll(&result, WalReadOptions{.skip_corrupt = true});
  ASSERT_TRUE(payloads.ok());
  EXPECT_EQ(payloads->size(), 4u);
  EXPECT_EQ(result.gaps, 1u);
}

// A bit flip in the last record is damage to data that was written, not a torn write.
TEST_F(WalTest, BitFlipInTheLastRecordStopsTheReadUnlessSkipped) {
  WriteLog(5, 3000, int64_t{1} << 20);
  const std::string segment = LastSegment();
  const int64_t record_size = kWalHeaderSize + 3000;
  const int64_t last = 4 * record_size;
  Overwrite(segment, last + kWalHeaderSize + 1500, "!");
  const std::string message = ReadError();
  EXPECT_NE(message.find(segment + " at offset " + std::to_string(last)), std::string::npos)
      << message;
  EXPECT_NE(message.find("LSN 5"), std::string::npos) << message;
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(segment)), 5 * record_size);  // nothing cut

  WalReadResult result;
  auto payloads = ReadAll(&result, WalReadOptions{.skip_corrupt = true});
  ASSERT_TRUE(payloads.ok());
  EXPECT_EQ(payloads->size(), 4u);
  EXPECT_EQ(result.skipped_corrupt, 1u);
  EXPECT_EQ(result.next_lsn, 6u);  // the damaged record's LSN stays taken
}

// Blocks of a write that did not reach the disk read back as zeros: a torn write.
TEST_F(WalTest, LastRecordWithABlockOfZerosIsATornWrite) {
  WriteLog(5, 3000, int64_t{1} << 20);
  const std::string segment = LastSegment();
  const int64_t record_size = kWalHeaderSize + 3000;
  const int64_t last = 4 * record_size;
  const int64_t block = (last + kWalHeaderSize + 1000) / 512 * 512;
  Overwrite(segment, block, std::string(512, '\0'));
  WalReadResult result;
  auto payloads = ReadAll(&result);
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  EXPECT_EQ(payloads->size(), 4u);
  EXPECT_EQ(result.truncated_bytes, record_size);
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(segment)), last);
}

TEST_F(WalTest, RecordsQueuedTogetherShareTheirGroupsFate) {
  auto writer = *WalWriter::Open(Options(), 1);
  std::vector<WalPayload> payloads;
  payloads.push_back(Payload(1));
  payloads.push_back(Payload(2, 10000));
  FileSizeLimit limit(4096);  // room for the first record, not for both
  auto tickets = writer->EnqueueAll(std::move(payloads));
  ASSERT_TRUE(tickets.ok());
  ASSERT_EQ(tickets->size(), 2u);
  EXPECT_EQ((*tickets)[0].lsn, 1u);
  EXPECT_EQ((*tickets)[1].lsn, 2u);
  const arrow::Status first = writer->Wait((*tickets)[0]);
  const arrow::Status second = writer->Wait((*tickets)[1]);
  limit.Lift();
  EXPECT_FALSE(first.ok());
  EXPECT_FALSE(second.ok());
  writer.reset();
  auto payloads_read = ReadAll();
  ASSERT_TRUE(payloads_read.ok()) << payloads_read.status().ToString();
  EXPECT_TRUE(payloads_read->empty());
}

}  // namespace
}  // namespace arbalest
