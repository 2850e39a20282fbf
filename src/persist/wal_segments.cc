#include "persist/wal_segments.h"

#include <arrow/status.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "persist/wal_format.h"

namespace arbalest {

arrow::Result<std::vector<WalSegment>> ListWalSegments(const std::string& dir) {
  std::vector<WalSegment> segments;
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) return segments;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(kWalSegmentSuffix)) continue;
    uint64_t lsn = 0;
    const char* end = name.data() + name.size() - kWalSegmentSuffix.size();
    auto [ptr, ec] = std::from_chars(name.data(), end, lsn);
    if (ec != std::errc() || ptr != end) continue;
    segments.push_back({lsn, entry.path().string()});
  }
  if (error) return arrow::Status::IOError("WAL: cannot list ", dir, ": ", error.message());
  std::sort(segments.begin(), segments.end(),
            [](const auto& a, const auto& b) { return a.first_lsn < b.first_lsn; });
  return segments;
}

}  // namespace arbalest
