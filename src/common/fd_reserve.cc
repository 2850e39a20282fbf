#include "common/fd_reserve.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>

#include "common/fd_limits.h"

namespace arbalest {
namespace {

std::atomic<int64_t> reserve{0};
std::atomic<int> probe_listener{-1};
std::atomic<int64_t> refused{0};
std::atomic<int64_t> last_warning_ns{0};

// Whether a connection just accepted would leave fewer than the reserve free.
bool WithinReserve(int64_t wanted) {
  const int64_t open = CountOpenFds();  // counts the accepted connection
  const int64_t limit = CurrentOpenFileLimit();
  return open < 0 || limit - open < wanted;
}

void WarnRefused(int64_t wanted) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_warning_ns.load(std::memory_order_relaxed);
  if (now - last < std::chrono::nanoseconds(std::chrono::seconds(10)).count() && last != 0) return;
  if (!last_warning_ns.compare_exchange_strong(last, now)) return;
  spdlog::warn(
      "refusing new connections: {} of the {} file descriptors are open and --fd-reserve keeps "
      "{} free for the WAL and snapshots ({} connections refused so far; raise the open file "
      "limit (ulimit -n) or close idle clients)",
      CountOpenFds(), CurrentOpenFileLimit(), wanted, refused.load());
}

// accept4 as libc does it, then the reserve: refused connections are closed and the next one
// taken, so that a non-blocking listener drains its backlog and sees EAGAIN as usual.
int GatedAccept(int listener, sockaddr* address, socklen_t* length, int flags) {
  while (true) {
    const int fd = static_cast<int>(::syscall(SYS_accept4, listener, address, length, flags));
    int64_t wanted = reserve.load(std::memory_order_relaxed);
    if (listener == probe_listener.load(std::memory_order_relaxed)) wanted /= 2;
    if (fd < 0 || wanted == 0 || !WithinReserve(wanted)) return fd;
    ::close(fd);
    refused.fetch_add(1, std::memory_order_relaxed);
    WarnRefused(wanted);
  }
}

}  // namespace

void SetFdReserve(int64_t value) { reserve.store(value); }

int64_t FdReserve() { return reserve.load(); }

void LetProbesUseHalfTheReserve(int listener) { probe_listener.store(listener); }

int64_t RefusedConnections() { return refused.load(); }

}  // namespace arbalest

// The interposed libc entry points (see the header).
extern "C" int accept4(int listener, sockaddr* address, socklen_t* length, int flags) {
  return arbalest::GatedAccept(listener, address, length, flags);
}

extern "C" int accept(int listener, sockaddr* address, socklen_t* length) {
  return arbalest::GatedAccept(listener, address, length, 0);
}
