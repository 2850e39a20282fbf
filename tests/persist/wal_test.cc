// The WAL writer and reader on real files in a temporary directory.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "persist/io_errors.h"
#include "persist/wal_format.h"
#include "persist/wal_reader.h"
#include "persist/wal_segments.h"
#include "persist/wal_writer.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

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
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  setrlimit(RLIMIT_FSIZE, &small);
  auto failed = writer->Append(Payload(2, 10000));
  setrlimit(RLIMIT_FSIZE, &old_limit);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsIOError());
  EXPECT_NE(failed.status().message().find("write to"), std::string::npos);
  EXPECT_EQ(ClassifyIoFailure(failed.status()), IoFailure::kDiskFull);
  EXPECT_EQ(writer->failed_groups(), 1);
  EXPECT_FALSE(writer->failed());  // a full disk may pass: the log goes on
  // The failed record is not in the log, later records still land, and the failed record's
  // LSN is handed out again, so the log has no gap.
  auto next = writer->Append(Payload(3));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 2u);
  writer.reset();
  std::vector<uint64_t> lsns;
  auto read = ReadWal(dir_.string(), {}, [&](uint64_t lsn, auto) {
    lsns.push_back(lsn);
    return arrow::Status::OK();
  });
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(lsns, (std::vector<uint64_t>{1, 2}));
  auto payloads = ReadAll();
  ASSERT_TRUE(payloads.ok()) << payloads.status().ToString();
  ASSERT_EQ(payloads->size(), 2u);
  EXPECT_EQ((*payloads)[1], Text(Payload(3)));
}

TEST_F(WalTest, RecordsQueuedTogetherShareTheirGroupsFate) {
  auto writer = *WalWriter::Open(Options(), 1);
  std::vector<WalPayload> payloads;
  payloads.push_back(Payload(1));
  payloads.push_back(Payload(2, 10000));
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  getrlimit(RLIMIT_FSIZE, &old_limit);
  rlimit small = old_limit;
  small.rlim_cur = 4096;  // room for the first record, not for both
  setrlimit(RLIMIT_FSIZE, &small);
  auto tickets = writer->EnqueueAll(std::move(payloads));
  ASSERT_TRUE(tickets.ok());
  ASSERT_EQ(tickets->size(), 2u);
  EXPECT_EQ((*tickets)[0].lsn, 1u);
  EXPECT_EQ((*tickets)[1].lsn, 2u);
  const arrow::Status first = writer->Wait((*tickets)[0]);
  const arrow::Status second = writer->Wait((*tickets)[1]);
  setrlimit(RLIMIT_FSIZE, &old_limit);
  EXPECT_FALSE(first.ok());
  EXPECT_FALSE(second.ok());
  writer.reset();
  auto payloads_read = ReadAll();
  ASSERT_TRUE(payloads_read.ok()) << payloads_read.status().ToString();
  EXPECT_TRUE(payloads_read->empty());
}

}  // namespace
}  // namespace arbalest
