// The append-only vectors file: appends after the recorded length, cutting off bytes a
// snapshot that never finished left there, and chunk checksums that find damage.
#include "persist/append_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testing/files.h"
#include "testing/temp_dir.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::ReadFileText;
using testing::TempDir;

std::span<const uint8_t> Bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

FileDigest AppendChunk(const std::string& path, int64_t valid_bytes, const std::string& text) {
  auto appender = ChunkAppender::Open(path, valid_bytes);
  EXPECT_TRUE(appender.ok()) << appender.status().ToString();
  EXPECT_TRUE((*appender)->Append(Bytes(text)).ok());
  auto chunk = (*appender)->Finish();
  EXPECT_TRUE(chunk.ok()) << chunk.status().ToString();
  return *chunk;
}

TEST(ChunkAppenderTest, AppendsAfterTheValidLengthAndCutsOffTheRest) {
  TempDir dir("arbalest_append_file");
  const std::string path = dir / "vectors.bin";
  const FileDigest first = AppendChunk(path, 0, "aaaa");
  EXPECT_EQ(first.bytes, 4);
  // A snapshot that never finished appended "junk" after the recorded 4 bytes.
  AppendChunk(path, 4, "junk");
  EXPECT_EQ(ReadFileText(path), "aaaajunk");
  const FileDigest second = AppendChunk(path, 4, "bb");
  EXPECT_EQ(ReadFileText(path), "aaaabb");
  const std::string text = ReadFileText(path);
  const std::vector<FileDigest> chunks{first, second};
  EXPECT_TRUE(VerifyChunks(path, Bytes(text).data(), 6, chunks).ok());
  // The same bytes appended elsewhere have the same checksum: a chunk's is its own bytes'.
  EXPECT_EQ(AppendChunk(dir / "other.bin", 0, "bb").xxh3, second.xxh3);
}

TEST(ChunkAppenderTest, AFileShorterThanItsRecordedLengthIsNamed) {
  TempDir dir("arbalest_append_file");
  const std::string path = dir / "vectors.bin";
  AppendChunk(path, 0, "aaaa");
  fs::resize_file(path, 2);
  auto appender = ChunkAppender::Open(path, 4);
  EXPECT_TRUE(appender.status().IsInvalid());
  EXPECT_NE(appender.status().message().find(path), std::string::npos);
  EXPECT_NE(appender.status().message().find("truncated"), std::string::npos);
}

TEST(ChunkAppenderTest, ACorruptChunkIsNamed) {
  TempDir dir("arbalest_append_file");
  const std::string path = dir / "vectors.bin";
  const FileDigest first = AppendChunk(path, 0, "aaaa");
  const FileDigest second = AppendChunk(path, 4, "bbbb");
  const std::string damaged = "aaaabxbb";
  const std::vector<FileDigest> chunks{first, second};
  const arrow::Status status = VerifyChunks(path, Bytes(damaged).data(), 8, chunks);
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find(path), std::string::npos);
  EXPECT_NE(status.message().find("chunk 1 (bytes 4 to 8)"), std::string::npos) << status.message();
  EXPECT_TRUE(VerifyChunks(path, Bytes(damaged).data(), 6, chunks).IsInvalid());  // too short
}

}  // namespace
}  // namespace arbalest
