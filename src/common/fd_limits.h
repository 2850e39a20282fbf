// The process's file descriptors: how many are open and the limit (RLIMIT_NOFILE), raised at
// startup as far as the hard limit allows, since every client connection holds one and the WAL
// and snapshots need theirs too.
#pragma once

#include <arrow/result.h>

#include <cstdint>

namespace arbalest {

struct OpenFileLimit {
  int64_t before = 0;  // the soft limit the process was started with
  int64_t now = 0;     // the soft limit in force (the hard limit when raising succeeded)
};

// Raises the soft RLIMIT_NOFILE to the hard limit. IOError when setrlimit refuses.
arrow::Result<OpenFileLimit> RaiseOpenFileLimit();

// The soft RLIMIT_NOFILE in force.
int64_t CurrentOpenFileLimit();

// Open file descriptors of this process (from /proc/self/fd); -1 when they cannot be listed
// (which happens when none is free to list them with).
int64_t CountOpenFds();

}  // namespace arbalest
