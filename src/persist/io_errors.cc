#include "persist/io_errors.h"

#include <cerrno>
#include <memory>
#include <string_view>

namespace arbalest {
namespace {

// Marks the statuses of a failed write-ahead log.
class LogFailedDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "arbalest::LogFailed";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "the write-ahead log failed"; }
};

}  // namespace

IoFailure ClassifyIoFailure(const arrow::Status& status) {
  if (status.ok()) return IoFailure::kNone;
  if (status.detail() && std::string_view(status.detail()->type_id()) == LogFailedDetail::kTypeId) {
    return IoFailure::kLogFailed;
  }
  switch (arrow::internal::ErrnoFromStatus(status)) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return IoFailure::kDiskFull;
    case EMFILE:
    case ENFILE:
      return IoFailure::kTooManyFiles;
    default:
      return IoFailure::kNone;
  }
}

const char* IoFailureName(IoFailure failure) {
  switch (failure) {
    case IoFailure::kNone:
      return "";
    case IoFailure::kDiskFull:
      return "disk full";
    case IoFailure::kTooManyFiles:
      return "too many open files";
    case IoFailure::kLogFailed:
      return "write-ahead log failed";
  }
  return "";
}

arrow::Status LogFailedError(const arrow::Status& cause) {
  return arrow::Status(arrow::StatusCode::IOError,
                       "the write-ahead log failed and takes no more writes until the server is "
                       "restarted (" +
                           cause.message() + ")",
                       std::make_shared<LogFailedDetail>());
}

}  // namespace arbalest
