#include "persist/file_digest.h"

#include <arrow/status.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace arbalest {

arrow::Result<FileDigest> DigestFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return arrow::Status::IOError("cannot open ", path, ": ", std::strerror(errno));
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::vector<uint8_t> chunk(size_t{4} << 20);
  FileDigest digest;
  while (true) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return arrow::Status::IOError("cannot read ", path, ": ", std::strerror(error));
    }
    if (n == 0) break;
    XXH3_64bits_update(state.get(), chunk.data(), static_cast<size_t>(n));
    digest.bytes += n;
  }
  ::close(fd);
  digest.xxh3 = XXH3_64bits_digest(state.get());
  return digest;
}

}  // namespace arbalest
