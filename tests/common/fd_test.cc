#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd_limits.h"
#include "common/fd_reserve.h"

namespace arbalest {
namespace {

TEST(FdLimitsTest, CountsOpenDescriptors) {
  const int64_t before = CountOpenFds();
  ASSERT_GT(before, 2);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(CountOpenFds(), before + 1);
  ::close(fd);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(FdLimitsTest, RaisesTheSoftLimitToTheHardLimit) {
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  const rlim_t lowered = std::min<rlim_t>(original.rlim_max, 200);
  rlimit low = {lowered, original.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  ASSERT_EQ(CurrentOpenFileLimit(), static_cast<int64_t>(lowered));
  auto raised = RaiseOpenFileLimit();
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  EXPECT_EQ(raised->before, static_cast<int64_t>(lowered));
  EXPECT_EQ(raised->now, static_cast<int64_t>(original.rlim_max));
  EXPECT_EQ(CurrentOpenFileLimit(), static_cast<int64_t>(original.rlim_max));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
}

// A non-blocking listener on a free port of 127.0.0.1, and connections to it.
class FdReserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::listen(listener_, 16), 0);
    socklen_t length = sizeof(address_);
    ASSERT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address_), &length), 0);
  }
  void TearDown() override {
    SetFdReserve(0);
    LetProbesUseHalfTheReserve(-1);
    ::close(listener_);
  }

  int Connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address_), sizeof(address_)), 0);
    return fd;
  }

  // Closed by the server: the client reads end of file.
  static bool ClosedByPeer(int client) {
    char byte;
    return ::recv(client, &byte, 1, 0) == 0;
  }

  // A reserve that the descriptors open now already reach, minus `slack`.
  static int64_t ReserveReachedBy(int64_t slack) {
    return CurrentOpenFileLimit() - CountOpenFds() + slack;
  }

  int listener_ = -1;
  sockaddr_in address_{};
};

TEST_F(FdReserveTest, AcceptsAsUsualWithoutAReserve) {
  const int client = Connect();
  const int accepted = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(accepted, 0);
  ::close(accepted);
  ::close(client);
}

TEST_F(FdReserveTest, ClosesConnectionsThatWouldEatIntoTheReserve) {
  const int first = Connect();
  const int second = Connect();
  const int64_t refused = RefusedConnections();
  SetFdReserve(ReserveReachedBy(8));
  // Both pending connections are taken and closed; the listener then reports no more.
  EXPECT_EQ(::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(RefusedConnections(), refused + 2);
  EXPECT_TRUE(ClosedByPeer(first));
  EXPECT_TRUE(ClosedByPeer(second));
  ::close(first);
  ::close(second);
}

TEST_F(FdReserveTest, TheProbeListenerMayUseHalfTheReserve) {
  const int client = Connect();
  // Half the reserve is 4 fewer than the descriptors free now: the connection fits.
  SetFdReserve(ReserveReachedBy(0) * 2 - 8);
  LetProbesUseHalfTheReserve(listener_);
  const int accepted = ::accept(listener_, nullptr, nullptr);
  EXPECT_GE(accepted, 0);
  ::close(accepted);
  ::close(client);
}

}  // namespace
}  // namespace arbalest
