// The process's own resource use, read from /proc/self (Linux): what Prometheus' other client
// libraries export as process_* metrics, so dashboards and alert rules written for them work.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string_view>

namespace arbalest {

struct ProcessStats {
  int64_t resident_bytes = 0;     // RSS
  int64_t virtual_bytes = 0;      // VSZ
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // Unix time the process started
  int64_t threads = 0;
};

// Parses the text of /proc/<pid>/stat, given the system's boot time (btime of /proc/stat), the
// clock ticks per second and the page size. Fails, naming the problem, on text it cannot read.
arrow::Result<ProcessStats> ParseProcStat(std::string_view stat, double boot_time_seconds,
                                          int64_t ticks_per_second, int64_t page_bytes);

// This process's stats now.
arrow::Result<ProcessStats> ReadProcessStats();

}  // namespace arbalest
