#include "persist/file_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace arbalest {
namespace {

arrow::Status Sync(const std::string& path, int flags, const char* what) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0)
    return arrow::Status::IOError("cannot open ", what, " ", path, ": ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0)
    return arrow::Status::IOError("cannot fsync ", what, " ", path, ": ", std::strerror(error));
  return arrow::Status::OK();
}

}  // namespace

arrow::Status SyncFile(const std::string& path) { return Sync(path, O_RDONLY, "file"); }

arrow::Status SyncDirectory(const std::string& dir) {
  return Sync(dir, O_RDONLY | O_DIRECTORY, "directory");
}

}  // namespace arbalest
