#include "metrics/process_stats.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <thread>

namespace arbalest {
namespace {

// A line as proc(5) documents it, with a command name holding spaces and a ')'.
TEST(ProcessStatsTest, ParsesProcStatFields) {
  const std::string stat =
      "4242 (arb (serve) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 "
      "12345 987654321 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto stats = ParseProcStat(stat, /*boot_time_seconds=*/1000.0, /*ticks_per_second=*/100,
                             /*page_bytes=*/4096);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 3.0);  // (250 + 50) ticks
  EXPECT_EQ(stats->threads, 7);
  EXPECT_DOUBLE_EQ(stats->start_time_seconds, 1000.0 + 123.45);
  EXPECT_EQ(stats->virtual_bytes, 987654321);
  EXPECT_EQ(stats->resident_bytes, 1000 * 4096);
}

TEST(ProcessStatsTest, BadTextIsRefusedNamingTheField) {
  EXPECT_TRUE(ParseProcStat("4242 no parenthesis", 0, 100, 4096).status().IsInvalid());
  auto truncated = ParseProcStat("4242 (x) S 1 2 3", 0, 100, 4096);
  ASSERT_TRUE(truncated.status().IsInvalid());
  EXPECT_NE(truncated.status().message().find("field 14 is missing"), std::string::npos)
      << truncated.status().ToString();
  auto garbled =
      ParseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 2x5 50 0 0 20 0 7 0 1 1 1 0 0", 0, 100, 4096);
  ASSERT_TRUE(garbled.status().IsInvalid());
  EXPECT_NE(garbled.status().message().find("field 14 is not a number: '2x5'"), std::string::npos)
      << garbled.status().ToString();
}

// The real /proc: touching 64 MiB raises the RSS by about that much, a second thread shows.
TEST(ProcessStatsTest, ReadsThisProcess) {
  auto before = ReadProcessStats();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_GT(before->resident_bytes, 0);
  EXPECT_GE(before->virtual_bytes, before->resident_bytes);
  EXPECT_LE(before->start_time_seconds, static_cast<double>(std::time(nullptr)) + 1);
  EXPECT_GT(before->start_time_seconds, static_cast<double>(std::time(nullptr)) - 3600);

  constexpr size_t kBytes = 64 << 20;
  void* memory = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  std::memset(memory, 1, kBytes);
  std::thread second([] {
    auto during = ReadProcessStats();
    ASSERT_TRUE(during.ok());
    EXPECT_GE(during->threads, 2);
  });
  second.join();
  auto after = ReadProcessStats();
  munmap(memory, kBytes);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->resident_bytes - before->resident_bytes, static_cast<int64_t>(kBytes) * 9 / 10);
}

}  // namespace
}  // namespace arbalest
