// What kind of I/O failure a status reports, so that callers can tell a failure that may pass
// (the disk or the file table is full: retry later) from one that needs the server restarted
// (the write-ahead log failed). The statuses carry the errno as Arrow's errno detail, or the
// log-failed detail below; flight/ingest_stream.h turns the kind into the client's status code.
#pragma once

#include <arrow/status.h>
#include <arrow/util/io_util.h>

#include <utility>

namespace arbalest {

enum class IoFailure {
  kNone,          // not an I/O failure of these kinds
  kDiskFull,      // ENOSPC, EDQUOT, EFBIG: no space (or quota, or file-size limit) left
  kTooManyFiles,  // EMFILE, ENFILE: the process's or the system's file table is full
  kLogFailed,     // the write-ahead log failed and takes no more writes (see WalWriter)
};

IoFailure ClassifyIoFailure(const arrow::Status& status);

// A short phrase naming the failure, e.g. "disk full"; empty for kNone.
const char* IoFailureName(IoFailure failure);

// IOError with `errnum` as its errno detail, the message ending in strerror(errnum).
template <typename... Args>
arrow::Status IoErrorFromErrno(int errnum, Args&&... args) {
  return arrow::internal::IOErrorFromErrno(errnum, std::forward<Args>(args)..., ": ",
                                           arrow::internal::ErrnoMessage(errnum));
}

// IOError saying that the write-ahead log failed because of `cause` (kLogFailed).
arrow::Status LogFailedError(const arrow::Status& cause);

}  // namespace arbalest
