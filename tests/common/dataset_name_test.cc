#include "common/dataset_name.h"

#include <gtest/gtest.h>

#include <string>

namespace arbalest {
namespace {

TEST(DatasetNameTest, AcceptsProtocolCharacters) {
  EXPECT_TRUE(IsValidDatasetName("a"));
  EXPECT_TRUE(IsValidDatasetName("Embeddings_v2.0-final"));
  EXPECT_TRUE(IsValidDatasetName(std::string(128, 'x')));
}

TEST(DatasetNameTest, RejectsEverythingElse) {
  for (std::string bad : {std::string(), std::string(129, 'x'), std::string("a b"),
                          std::string("a/b"), std::string("ds\n"), std::string("é")}) {
    EXPECT_FALSE(IsValidDatasetName(bad)) << bad;
    auto status = ValidateDatasetName(bad);
    EXPECT_TRUE(status.IsInvalid());
    EXPECT_NE(status.message().find("[A-Za-z0-9_.-]"), std::string::npos);
  }
}

TEST(DatasetNameTest, ErrorQuotesOnlyAPrintablePrefix) {
  std::string huge(10000, '\x01');
  auto status = ValidateDatasetName(huge);
  EXPECT_LT(status.message().size(), 200u);
  EXPECT_EQ(status.message().find('\x01'), std::string::npos);
}

}  // namespace
}  // namespace arbalest
