// ForClient: the refusals a client may retry become UNAVAILABLE naming their cause; the rest
// pass unchanged.
#include <arrow/flight/types.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>

#include "flight/ingest_stream.h"
#include "flight/rpc_metrics.h"
#include "persist/io_errors.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// The Flight code the transport will send for `status` (none: the Arrow code decides).
std::optional<fl::FlightStatusCode> FlightCode(const arrow::Status& status) {
  auto detail = fl::FlightStatusDetail::UnwrapStatus(status);
  if (!detail) return std::nullopt;
  return detail->code();
}

TEST(ClientStatusTest, RetryableRefusalsAreUnavailableAndNameTheirCause) {
  const struct {
    arrow::Status status;
    std::string prefix;
  } cases[] = {
      {arrow::Status::CapacityError("memory limit"), "resource exhausted: memory limit"},
      {IoErrorFromErrno(ENOSPC, "WAL: write"), "resource exhausted: disk full: WAL: write"},
      {IoErrorFromErrno(EMFILE, "WAL: open"), "resource exhausted: too many open files: WAL"},
      {LogFailedError(IoErrorFromErrno(EIO, "WAL: fdatasync")),
       "unavailable: the write-ahead log failed"},
  };
  for (const auto& [status, prefix] : cases) {
    const arrow::Status sent = ForClient(status);
    EXPECT_EQ(FlightCode(sent), fl::FlightStatusCode::Unavailable) << sent.ToString();
    EXPECT_EQ(sent.message().rfind(prefix, 0), 0u) << sent.message();
    EXPECT_EQ(sent.code(), status.code());  // the Arrow code travels in the trailers
  }
}

TEST(ClientStatusTest, OtherStatusesPassUnchanged) {
  for (const arrow::Status& status :
       {IoErrorFromErrno(EIO, "cannot write /x"), arrow::Status::Invalid("bad batch"),
        arrow::Status::KeyError("dataset 'x' not found"), arrow::Status::OK()}) {
    const arrow::Status sent = ForClient(status);
    EXPECT_EQ(sent.code(), status.code());
    EXPECT_EQ(sent.message(), status.message());
    EXPECT_FALSE(FlightCode(sent).has_value());
  }
}

// The metrics' grpc_code label is the code the client receives: Arrow codes as Flight's
// transport maps them, Flight codes (ForClient's UNAVAILABLE) before the Arrow code.
TEST(ClientStatusTest, GrpcCodeNamesFollowTheTransport) {
  EXPECT_EQ(GrpcCodeName(arrow::Status::OK()), "OK");
  EXPECT_EQ(GrpcCodeName(arrow::Status::Invalid("bad")), "InvalidArgument");
  EXPECT_EQ(GrpcCodeName(arrow::Status::KeyError("no such dataset")), "NotFound");
  EXPECT_EQ(GrpcCodeName(arrow::Status::NotImplemented("no")), "Unimplemented");
  EXPECT_EQ(GrpcCodeName(arrow::Status::AlreadyExists("there")), "AlreadyExists");
  EXPECT_EQ(GrpcCodeName(arrow::Status::Cancelled("gone")), "Canceled");
  EXPECT_EQ(GrpcCodeName(arrow::Status::IOError("disk")), "Unknown");
  EXPECT_EQ(GrpcCodeName(ForClient(arrow::Status::CapacityError("memory limit"))), "Unavailable");
  EXPECT_EQ(GrpcCodeName(fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated, "who")),
            "Unauthenticated");
  EXPECT_EQ(GrpcCodeName(fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, "no")),
            "PermissionDenied");
}

}  // namespace
}  // namespace arbalest
