#include "common/fd_limits.h"

#include <arrow/status.h>
#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace arbalest {

arrow::Result<OpenFileLimit> RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return arrow::Status::IOError("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno));
  }
  OpenFileLimit result{static_cast<int64_t>(limit.rlim_cur), static_cast<int64_t>(limit.rlim_cur)};
  if (limit.rlim_cur == limit.rlim_max) return result;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return arrow::Status::IOError("setrlimit(RLIMIT_NOFILE, ", limit.rlim_max,
                                  "): ", std::strerror(errno));
  }
  result.now = static_cast<int64_t>(limit.rlim_max);
  return result;
}

int64_t CurrentOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  return static_cast<int64_t>(limit.rlim_cur);
}

int64_t CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor
}

}  // namespace arbalest
