#include "common/dataset_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace arbalest {
namespace {

TEST(DatasetNameTest, AcceptsProtocolCharacters) {
  EXPECT_TRUE(IsValidDatasetName("a"));
  EXPECT_TRUE(IsValidDatasetName("Embeddings_v2.0-final"));
  EXPECT_TRUE(IsValidDatasetName(std::string(128, 'x')));
}

TEST(DatasetNameTest, AcceptsANamespacePrefix) {
  EXPECT_TRUE(IsValidDatasetName("team-a/docs"));
  EXPECT_TRUE(IsValidDatasetName(std::string(128, 'n') + "/" + std::string(128, 'x')));
  EXPECT_EQ(NamespaceOf("team-a/docs"), "team-a");
  EXPECT_EQ(NamespaceOf("docs"), kDefaultNamespace);
}

TEST(DatasetNameTest, RejectsBadNamespacePrefixes) {
  for (std::string bad :
       std::vector<std::string>{"a/b/c", "/b", "a/", "a b/c", std::string(129, 'n') + "/x"}) {
    EXPECT_FALSE(IsValidDatasetName(bad)) << bad;
    EXPECT_TRUE(ValidateDatasetName(bad).IsInvalid()) << bad;
  }
  // The default namespace's datasets carry no prefix; the error says how to name it.
  auto status = ValidateDatasetName("default/docs");
  ASSERT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("named without it, 'docs'"), std::string::npos)
      << status.message();
}

TEST(DatasetNameTest, NamespaceNamesAreOnePart) {
  EXPECT_TRUE(ValidateNamespaceName("team-a").ok());
  for (std::string bad : std::vector<std::string>{"", "a/b", "a b", std::string(129, 'n')}) {
    auto status = ValidateNamespaceName(bad);
    EXPECT_TRUE(status.IsInvalid()) << bad;
    EXPECT_NE(status.message().find("invalid namespace name"), std::string::npos);
  }
}

TEST(DatasetNameTest, RejectsEverythingElse) {
  for (std::string bad : {std::string(), std::string(129, 'x'), std::string("a b"),
                          std::string("a//b"), std::string("ds\n"), std::string("é")}) {
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
