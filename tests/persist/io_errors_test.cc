// Which I/O failures may pass (disk full, too many open files) and which mean the log failed.
#include "persist/io_errors.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace arbalest {
namespace {

TEST(IoErrorsTest, ClassifiesByErrno) {
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(ENOSPC, "write")), IoFailure::kDiskFull);
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(EDQUOT, "write")), IoFailure::kDiskFull);
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(EFBIG, "write")), IoFailure::kDiskFull);
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(EMFILE, "open")), IoFailure::kTooManyFiles);
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(ENFILE, "open")), IoFailure::kTooManyFiles);
  EXPECT_EQ(ClassifyIoFailure(IoErrorFromErrno(EIO, "write")), IoFailure::kNone);
  EXPECT_EQ(ClassifyIoFailure(arrow::Status::IOError("no errno")), IoFailure::kNone);
  EXPECT_EQ(ClassifyIoFailure(arrow::Status::OK()), IoFailure::kNone);
}

TEST(IoErrorsTest, TheMessageEndsWithTheErrnoText) {
  const arrow::Status status = IoErrorFromErrno(ENOSPC, "WAL: write to ", "/x/1.wal");
  EXPECT_TRUE(status.IsIOError());
  EXPECT_EQ(status.message(), "WAL: write to /x/1.wal: No space left on device");
}

TEST(IoErrorsTest, ALogFailureIsTheLogsWhateverItsCause) {
  const arrow::Status failed = LogFailedError(IoErrorFromErrno(ENOSPC, "fdatasync of /x/1.wal"));
  EXPECT_EQ(ClassifyIoFailure(failed), IoFailure::kLogFailed);
  EXPECT_TRUE(failed.IsIOError());
  EXPECT_NE(failed.message().find("the write-ahead log failed"), std::string::npos);
  EXPECT_NE(failed.message().find("fdatasync of /x/1.wal: No space left on device"),
            std::string::npos);
  // Context added on the way to the client keeps the kind.
  EXPECT_EQ(ClassifyIoFailure(failed.WithMessage("batch 0 rejected: ", failed.message())),
            IoFailure::kLogFailed);
}

}  // namespace
}  // namespace arbalest
