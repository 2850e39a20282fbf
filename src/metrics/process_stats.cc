#include "metrics/process_stats.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace arbalest {
namespace {

arrow::Result<std::string> ReadWholeFile(const char* path) {
  std::ifstream file(path);
  if (!file) return arrow::Status::IOError("cannot open ", path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

arrow::Result<int64_t> Field(const std::vector<std::string_view>& fields, size_t number) {
  // `number` counts from 1 as proc(5) does; fields[0] is field 3 (the state).
  if (number < 3 || number - 3 >= fields.size()) {
    return arrow::Status::Invalid("/proc/self/stat: field ", number, " is missing");
  }
  const std::string_view text = fields[number - 3];
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return arrow::Status::Invalid("/proc/self/stat: field ", number, " is not a number: '", text,
                                  "'");
  }
  return value;
}

}  // namespace

arrow::Result<ProcessStats> ParseProcStat(std::string_view stat, double boot_time_seconds,
                                          int64_t ticks_per_second, int64_t page_bytes) {
  // "pid (comm) state ...": comm may hold spaces and parentheses, so fields start after the
  // last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) {
    return arrow::Status::Invalid("/proc/self/stat: no ')' after the command name");
  }
  std::vector<std::string_view> fields;
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  ProcessStats stats;
  ARROW_ASSIGN_OR_RAISE(const int64_t utime, Field(fields, 14));
  ARROW_ASSIGN_OR_RAISE(const int64_t stime, Field(fields, 15));
  ARROW_ASSIGN_OR_RAISE(stats.threads, Field(fields, 20));
  ARROW_ASSIGN_OR_RAISE(const int64_t start_ticks, Field(fields, 22));
  ARROW_ASSIGN_OR_RAISE(stats.virtual_bytes, Field(fields, 23));
  ARROW_ASSIGN_OR_RAISE(const int64_t rss_pages, Field(fields, 24));
  const double ticks = static_cast<double>(ticks_per_second);
  stats.cpu_seconds = static_cast<double>(utime + stime) / ticks;
  stats.start_time_seconds = boot_time_seconds + static_cast<double>(start_ticks) / ticks;
  stats.resident_bytes = rss_pages * page_bytes;
  return stats;
}

arrow::Result<ProcessStats> ReadProcessStats() {
  ARROW_ASSIGN_OR_RAISE(const std::string stat, ReadWholeFile("/proc/self/stat"));
  ARROW_ASSIGN_OR_RAISE(const std::string system, ReadWholeFile("/proc/stat"));
  const size_t btime = system.find("\nbtime ");
  if (btime == std::string::npos) return arrow::Status::IOError("/proc/stat has no btime");
  int64_t boot_time = 0;
  const char* digits = system.data() + btime + 7;
  if (std::from_chars(digits, system.data() + system.size(), boot_time).ec != std::errc()) {
    return arrow::Status::IOError("/proc/stat: btime is not a number");
  }
  return ParseProcStat(stat, static_cast<double>(boot_time), sysconf(_SC_CLK_TCK),
                       sysconf(_SC_PAGESIZE));
}

}  // namespace arbalest
