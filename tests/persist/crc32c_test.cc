#include "persist/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace arbalest {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // Check values from RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(Crc32c(0, "123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);
  const std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(0, ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(0, "", 0), 0u);
}

TEST(Crc32cTest, ExtendsIncrementally) {
  const std::string text = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(Crc32c(Crc32c(0, text.data(), split), text.data() + split, text.size() - split),
              Crc32c(0, text.data(), text.size()));
  }
}

TEST(Crc32cTest, HardwareAndTableAgree) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text.push_back(static_cast<char>(i * 131 + 7));
  for (size_t size : {0, 1, 7, 8, 9, 63, 64, 1000}) {
    EXPECT_EQ(Crc32c(0, text.data(), size), Crc32cPortableForTest(0, text.data(), size)) << size;
    EXPECT_EQ(Crc32c(12345, text.data(), size), Crc32cPortableForTest(12345, text.data(), size));
  }
}

}  // namespace
}  // namespace arbalest
