#include "store/replay_progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace arbalest {

ReplayProgress::ReplayProgress(int64_t total_bytes, std::chrono::milliseconds interval,
                               Clock::time_point start)
    : total_bytes_(total_bytes), interval_(interval), start_(start), last_line_(start) {}

std::string ReplayProgress::Note(int64_t bytes, Clock::time_point now) {
  ++records_;
  bytes_ += bytes;
  if (now - last_line_ < interval_) return {};
  last_line_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(bytes_) / seconds : 0;
  // Framing makes the records' bytes a little less than the files': never past 100%.
  const int64_t total = std::max(total_bytes_, bytes_);
  const double left = rate > 0 ? static_cast<double>(total - bytes_) / rate : 0;
  return fmt::format(
      "recovery: replayed {} WAL records, {:.0f} of {:.0f} MiB ({:.0f}%) in {:.0f} s at {:.0f} "
      "MB/s, about {:.0f} s left",
      records_, static_cast<double>(bytes_) / (1 << 20), static_cast<double>(total) / (1 << 20),
      total > 0 ? 100.0 * static_cast<double>(bytes_) / static_cast<double>(total) : 100.0, seconds,
      rate / 1e6, left);
}

int64_t WalBytesOnDisk(const std::string& wal_dir) {
  std::error_code error;
  int64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(wal_dir, error)) {
    if (entry.is_regular_file(error)) bytes += static_cast<int64_t>(entry.file_size(error));
  }
  return bytes;
}

}  // namespace arbalest
