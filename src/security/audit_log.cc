#include "security/audit_log.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

namespace arbalest {

arrow::Result<std::shared_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return arrow::Status::IOError("cannot open the audit log ", path, ": ", std::strerror(errno));
  }
  FILE* file = fdopen(fd, "a");
  if (!file) {
    close(fd);
    return arrow::Status::IOError("cannot open the audit log ", path, ": ", std::strerror(errno));
  }
  return std::shared_ptr<AuditLog>(new AuditLog(file));
}

AuditLog::~AuditLog() { std::fclose(file_); }

std::string AuditLog::Line(const AuditEvent& event) {
  const auto now = std::chrono::system_clock::now();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::string time =
      fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                  fmt::gmtime(std::chrono::system_clock::to_time_t(now)), millis);
  nlohmann::ordered_json line{{"time", time},
                              {"token", event.token_id},
                              {"peer", event.peer},
                              {"method", event.method},
                              {"action", event.action},
                              {"dataset", event.dataset},
                              {"allowed", event.allowed},
                              {"reason", event.reason}};
  // Client-chosen strings may be invalid UTF-8: replaced, never thrown on.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AuditLog::Write(const AuditEvent& event) {
  const std::string line = Line(event) + "\n";
  MutexLock lock(&mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    spdlog::error("cannot write the audit log: {}", std::strerror(errno));
  }
}

}  // namespace arbalest
