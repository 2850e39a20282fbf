#include "flight/rpc_guard.h"

#include <arrow/flight/types.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace arbalest {
namespace {

TEST(RpcGuardTest, AnExceptionBecomesAnInternalErrorNamingTheRpc) {
  bool described = false;
  const arrow::Status status = GuardRpc(
      "DoAction",
      [&] {
        described = true;
        return std::string("action stats");
      },
      []() -> arrow::Status { throw std::runtime_error("[json.exception.type_error.316] bad"); });
  ASSERT_FALSE(status.ok());
  const auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
  ASSERT_NE(detail, nullptr) << status.ToString();
  EXPECT_EQ(detail->code(), arrow::flight::FlightStatusCode::Internal);
  EXPECT_NE(status.message().find("internal error in DoAction: [json.exception.type_error.316]"),
            std::string::npos)
      << status.message();
  EXPECT_TRUE(described);  // the request went to the log
}

TEST(RpcGuardTest, StatusesPassUnchangedAndRequestsAreNotDescribed) {
  bool described = false;
  const auto describe = [&] {
    described = true;
    return std::string();
  };
  EXPECT_TRUE(GuardRpc("DoGet", describe, [] { return arrow::Status::OK(); }).ok());
  const arrow::Status invalid =
      GuardRpc("DoGet", describe, [] { return arrow::Status::Invalid("bad ticket"); });
  EXPECT_TRUE(invalid.IsInvalid());
  EXPECT_EQ(invalid.message(), "bad ticket");
  EXPECT_FALSE(described);
}

TEST(RpcGuardTest, ExcerptsArePrintableAndShort) {
  EXPECT_EQ(PrintableExcerpt("ok {\"a\":1}"), "ok {\"a\":1}");
  EXPECT_EQ(PrintableExcerpt(std::string("caf\xE9\n\\", 6)), "caf\\xe9\\x0a\\x5c");
  EXPECT_EQ(PrintableExcerpt("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace arbalest
