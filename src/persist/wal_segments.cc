#include "persist/wal_segments.h"

#include <arrow/status.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "persist/file_sync.h"
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

arrow::Result<std::optional<uint64_t>> ReadWalLogStart(const std::string& dir) {
  const std::filesystem::path path = std::filesystem::path(dir) / kWalLogStartFile;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::error_code error;
    if (!std::filesystem::exists(path, error) && !error) return std::nullopt;
    return arrow::Status::IOError("WAL: cannot read ", path.string());
  }
  std::stringstream text;
  text << file.rdbuf();
  std::string content = text.str();
  if (content.ends_with('\n')) content.pop_back();
  uint64_t lsn = 0;
  auto [ptr, ec] = std::from_chars(content.data(), content.data() + content.size(), lsn);
  if (content.empty() || ec != std::errc() || ptr != content.data() + content.size() || lsn == 0) {
    return arrow::Status::IOError("WAL: ", path.string(),
                                  " does not hold an LSN (it says where the log starts: restore "
                                  "it, or delete it to start without that check)");
  }
  return lsn;
}

arrow::Status WriteWalLogStart(const std::string& dir, uint64_t lsn) {
  const std::filesystem::path path = std::filesystem::path(dir) / kWalLogStartFile;
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << lsn << '\n';
    file.close();
    if (!file) return arrow::Status::IOError("WAL: cannot write ", temporary.string());
  }
  ARROW_RETURN_NOT_OK(SyncFile(temporary.string()));
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return arrow::Status::IOError("WAL: cannot rename ", temporary.string(), " to ", path.string(),
                                  ": ", error.message());
  }
  return SyncDirectory(dir);
}

}  // namespace arbalest
