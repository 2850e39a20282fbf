// Direct-I/O appends: the file holds exactly the bytes appended, whatever their sizes and
// alignment; a failed append is cut back and the appends go on; the WAL's files are the same
// whether written directly or through the page cache.
#include "persist/direct_append.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "persist/io_errors.h"
#include "persist/wal_writer.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::FileSizeLimit;
using testing::ReadFileText;
using testing::TempDir;

std::string RandomText(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string text(size, '\0');
  for (auto& c : text) c = static_cast<char>('a' + random() % 26);
  return text;
}

arrow::Status AppendAll(DirectAppender& appender, const std::vector<std::string>& parts,
                        bool direct = true) {
  std::vector<iovec> iov;
  for (const auto& part : parts) iov.push_back({const_cast<char*>(part.data()), part.size()});
  return appender.Append(iov, direct);
}

std::unique_ptr<DirectAppender> CreateOrDie(const std::string& path) {
  auto appender = DirectAppender::Create(path);
  EXPECT_TRUE(appender.ok()) << appender.status().ToString();
  // The tests' temporary directories are on a file system that takes direct I/O (ext4 here).
  EXPECT_NE(*appender, nullptr) << path << " refused direct I/O";
  return std::move(*appender);
}

TEST(DirectAppenderTest, TheFileHoldsExactlyTheBytesAppended) {
  TempDir dir("arbalest_direct_append");
  const std::string path = dir / "log";
  auto appender = CreateOrDie(path);
  std::string expected;
  // Sizes around the alignment and the staging buffer, several parts per append, written
  // directly and through the page cache in turn.
  const std::vector<std::vector<size_t>> appends = {
      {1},   {4094}, {1, 4096}, {4097, 3}, {2 << 20}, {(5 << 20) + 5000, 17, 4096 * 3},
      {123}, {0},    {65536},   {1}};
  uint32_t seed = 1;
  for (const auto& sizes : appends) {
    std::vector<std::string> parts;
    for (size_t size : sizes) {
      parts.push_back(RandomText(size, seed++));
      expected += parts.back();
    }
    ASSERT_TRUE(AppendAll(*appender, parts, /*direct=*/seed % 3 != 0).ok());
    ASSERT_EQ(appender->size(), static_cast<int64_t>(expected.size()));
    ASSERT_EQ(static_cast<int64_t>(fs::file_size(path)), appender->size());
    ASSERT_TRUE(ReadFileText(path) == expected) << "after appending " << sizes.size() << " parts";
  }
}

TEST(DirectAppenderTest, AppendsGoOnAfterATruncation) {
  TempDir dir("arbalest_direct_append");
  const std::string path = dir / "log";
  auto appender = CreateOrDie(path);
  const std::string first = RandomText(10000, 1);
  ASSERT_TRUE(AppendAll(*appender, {first}, /*direct=*/false).ok());
  ASSERT_TRUE(AppendAll(*appender, {RandomText(5000, 2)}).ok());
  ASSERT_TRUE(appender->Truncate(static_cast<int64_t>(first.size())).ok());
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), 10000);
  const std::string next = RandomText(3000, 3);
  ASSERT_TRUE(AppendAll(*appender, {next}).ok());
  EXPECT_TRUE(ReadFileText(path) == first + next);
  EXPECT_TRUE(appender->Truncate(appender->size() + 1).IsInvalid());
}

// A real write failure without mocks: a file-size limit. The kernel refuses the direct write
// (it would have to cut it short) and the appender reports the cause, EFBIG, which the WAL
// treats as a full disk: the group is cut off and the log goes on.
TEST(DirectAppenderTest, AFileSizeLimitFailsTheAppendAsADiskFullAndTheFileIsCutBack) {
  TempDir dir("arbalest_direct_append");
  const std::string path = dir / "log";
  auto appender = CreateOrDie(path);
  const std::string first = RandomText(6000, 1);
  ASSERT_TRUE(AppendAll(*appender, {first}).ok());
  FileSizeLimit limit(9000);
  const arrow::Status failed = AppendAll(*appender, {RandomText(20000, 2)});
  limit.Lift();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(ClassifyIoFailure(failed), IoFailure::kDiskFull) << failed.ToString();
  EXPECT_NE(failed.message().find(path), std::string::npos) << failed.ToString();
  ASSERT_TRUE(appender->Truncate(static_cast<int64_t>(first.size())).ok());
  const std::string next = RandomText(7000, 3);
  ASSERT_TRUE(AppendAll(*appender, {next}).ok());
  EXPECT_TRUE(ReadFileText(path) == first + next);
}

// The log's format does not depend on how it is written: the same records written with direct
// I/O and through the page cache (--wal-direct-io false, and the fallback where a file system
// refuses O_DIRECT) leave byte-identical segments, sealed ones included.
TEST(DirectAppenderTest, DirectAndBufferedLogsAreByteIdentical) {
  TempDir dir("arbalest_direct_append");
  auto write_log = [&](const std::string& name, bool direct_io) {
    WalOptions options;
    options.dir = dir / name;
    options.fsync = FsyncPolicy::kInterval;
    options.segment_bytes = 4 << 20;  // a few segments, so that seals are written too
    options.direct_io = direct_io;
    auto writer = WalWriter::Open(options, 1);
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    for (int i = 0; i < 40; ++i) {
      // Groups of 1.5 MiB go out with direct I/O, smaller ones through the page cache.
      WalPayload payload;
      const size_t size = i % 7 == 3 ? (3 << 19) + i : 100 + i * 97;
      payload.parts.push_back(arrow::Buffer::FromString(RandomText(size, i)));
      EXPECT_TRUE((*writer)->Append(std::move(payload)).ok());
    }
  };
  write_log("direct", true);
  write_log("buffered", false);
  std::vector<fs::path> direct_files, buffered_files;
  for (const auto& entry : fs::directory_iterator(dir / "direct")) direct_files.push_back(entry);
  for (const auto& entry : fs::directory_iterator(dir / "buffered"))
    buffered_files.push_back(entry);
  std::sort(direct_files.begin(), direct_files.end());
  std::sort(buffered_files.begin(), buffered_files.end());
  ASSERT_EQ(direct_files.size(), buffered_files.size());
  ASSERT_GT(direct_files.size(), 3u);
  for (size_t i = 0; i < direct_files.size(); ++i) {
    EXPECT_EQ(direct_files[i].filename(), buffered_files[i].filename());
    EXPECT_TRUE(ReadFileText(direct_files[i]) == ReadFileText(buffered_files[i]))
        << direct_files[i];
  }
}

}  // namespace
}  // namespace arbalest
