#include "persist/append_file.h"

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace arbalest {

arrow::Result<std::unique_ptr<ChunkAppender>> ChunkAppender::Open(const std::string& path,
                                                                  int64_t valid_bytes) {
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  const auto size = exists ? static_cast<int64_t>(std::filesystem::file_size(path, error)) : 0;
  if (error) return arrow::Status::IOError("cannot read ", path, ": ", error.message());
  if (size < valid_bytes) {
    return arrow::Status::Invalid("vectors file ", path, " has ", size,
                                  " bytes, its manifest says ", valid_bytes, " (truncated?)");
  }
  std::FILE* file = std::fopen(path.c_str(), exists ? "r+b" : "wb");
  if (file == nullptr) {
    return arrow::Status::IOError("cannot open ", path, ": ", std::strerror(errno));
  }
  if (::ftruncate(::fileno(file), static_cast<off_t>(valid_bytes)) != 0 ||
      std::fseek(file, static_cast<long>(valid_bytes), SEEK_SET) != 0) {
    const int why = errno;
    std::fclose(file);
    return arrow::Status::IOError("cannot append to ", path, ": ", std::strerror(why));
  }
  return std::unique_ptr<ChunkAppender>(new ChunkAppender(path, file));
}

ChunkAppender::ChunkAppender(std::string path, std::FILE* file)
    : path_(std::move(path)), file_(file), state_(XXH3_createState()) {
  XXH3_64bits_reset(state_);
}

ChunkAppender::~ChunkAppender() {
  if (file_ != nullptr) std::fclose(file_);
  XXH3_freeState(state_);
}

arrow::Status ChunkAppender::Append(std::span<const uint8_t> bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return arrow::Status::IOError("cannot write ", path_, ": ", std::strerror(errno));
  }
  XXH3_64bits_update(state_, bytes.data(), bytes.size());
  bytes_ += static_cast<int64_t>(bytes.size());
  return arrow::Status::OK();
}

arrow::Result<FileDigest> ChunkAppender::Finish() {
  std::FILE* file = file_;
  file_ = nullptr;
  const bool flushed = std::fflush(file) == 0;
  const int why = errno;
  if (std::fclose(file) != 0 || !flushed) {
    return arrow::Status::IOError("cannot write ", path_, ": ", std::strerror(why));
  }
  return FileDigest{bytes_, XXH3_64bits_digest(state_)};
}

arrow::Status VerifyChunks(const std::string& path, const uint8_t* data, int64_t size,
                           std::span<const FileDigest> chunks) {
  int64_t offset = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const FileDigest& chunk = chunks[i];
    if (chunk.bytes < 0 || chunk.bytes > size - offset) {
      return arrow::Status::Invalid("vectors file ", path, " is shorter than its chunks");
    }
    if (XXH3_64bits(data + offset, static_cast<size_t>(chunk.bytes)) != chunk.xxh3) {
      return arrow::Status::Invalid("vectors file ", path, " is corrupt: the checksum of chunk ", i,
                                    " (bytes ", offset, " to ", offset + chunk.bytes,
                                    ") does not match the manifest");
    }
    offset += chunk.bytes;
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
