#include "index/mapped_file.h"

#include <arrow/status.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace arbalest {

arrow::Result<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path,
                                                            int64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return arrow::Status::IOError("cannot open ", path, ": ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return arrow::Status::IOError("cannot read ", path, ": ", std::strerror(error));
  }
  const int64_t size = bytes < 0 ? static_cast<int64_t>(st.st_size) : bytes;
  if (size == 0 || size > st.st_size) {
    ::close(fd);
    return arrow::Status::Invalid(
        path, " has ", st.st_size, " bytes, ", size == 0 ? "nothing to map" : "fewer than the ",
        size == 0 ? "" : std::to_string(size) + " expected", " (truncated?)");
  }
  void* data =
      ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int error = errno;
  ::close(fd);
  if (data == MAP_FAILED) {
    return arrow::Status::IOError("cannot map ", path, ": ", std::strerror(error));
  }
  return std::make_shared<MappedFile>(static_cast<uint8_t*>(data), static_cast<size_t>(size));
}

MappedFile::~MappedFile() { ::munmap(data_, size_); }

}  // namespace arbalest
