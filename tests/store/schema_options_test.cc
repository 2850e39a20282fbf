#include "store/schema_options.h"

#include <arrow/array.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/dataset_layout.h"

namespace arbalest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::shared_ptr<arrow::Schema> WithMetadata(std::vector<std::string> keys,
                                            std::vector<std::string> values) {
  return arrow::schema({arrow::field("vector", arrow::fixed_size_list(arrow::float32(), 4)),
                        arrow::field("emb", arrow::fixed_size_list(arrow::float32(), 8))},
                       arrow::key_value_metadata(std::move(keys), std::move(values)));
}

TEST(SchemaOptionsTest, ThreeSpellingsOneOption) {
  auto schema = WithMetadata({"metric", "arbalest.index.m", "longbow.text.columns", "pandas"},
                             {"cosine", "8", "", "{}"});
  auto options = ParseOptions(schema->metadata().get());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(*options, ElementsAre(Pair("index.m", "8"), Pair("metric", "cosine"),
                                    Pair("text.columns", "")));
  auto canonical = CanonicalOptions(*schema);
  ASSERT_TRUE(canonical.ok()) << canonical.status();
  EXPECT_EQ(CanonicalOption(**canonical, "metric"), "cosine");
  EXPECT_EQ(CanonicalOption(**canonical, "index.m"), "8");
  EXPECT_EQ((*canonical)->metadata()->FindKey("metric"), -1);
  EXPECT_GE((*canonical)->metadata()->FindKey("pandas"), 0);  // the user's own key is kept
}

TEST(SchemaOptionsTest, UnknownPrefixedKeysListTheKnownOnes) {
  for (const char* key : {"arbalest.metrik", "longbow.index.M", "longbow."}) {
    auto options = ParseOptions(WithMetadata({key}, {"x"})->metadata().get());
    ASSERT_FALSE(options.ok()) << key;
    EXPECT_TRUE(options.status().IsInvalid());
    EXPECT_THAT(options.status().message(), HasSubstr(std::string("'") + key + "'"));
    EXPECT_THAT(options.status().message(), HasSubstr(KnownOptionNames()));
  }
  // Bare keys that are no option are the user's.
  EXPECT_TRUE(ParseOptions(WithMetadata({"metrik", "m"}, {"x", "y"})->metadata().get()).ok());
}

TEST(SchemaOptionsTest, ConflictingSpellingsAreRefused) {
  auto options =
      ParseOptions(WithMetadata({"metric", "longbow.metric"}, {"cosine", "dot"})->metadata().get());
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(options.status().message(), HasSubstr("different values"));
  EXPECT_TRUE(
      ParseOptions(
          WithMetadata({"metric", "arbalest.metric"}, {"cosine", "cosine"})->metadata().get())
          .ok());
}

TEST(SchemaOptionsTest, LaterPutsMustAgree) {
  auto stored = *CanonicalOptions(*WithMetadata({"metric"}, {"cosine"}));
  EXPECT_TRUE(CheckOptionsAgree(*WithMetadata({}, {}), *stored, "ds").ok());
  EXPECT_TRUE(
      CheckOptionsAgree(*WithMetadata({"arbalest.metric"}, {"cosine"}), *stored, "ds").ok());
  auto other = CheckOptionsAgree(*WithMetadata({"metric"}, {"dot"}), *stored, "ds");
  EXPECT_THAT(other.message(), HasSubstr("option 'metric' to 'dot'"));
  EXPECT_THAT(other.message(), HasSubstr("created with 'cosine'"));
  auto unset = CheckOptionsAgree(*WithMetadata({"index.m"}, {"8"}), *stored, "ds");
  EXPECT_THAT(unset.message(), HasSubstr("its default"));
}

TEST(SchemaOptionsTest, VectorColumnOption) {
  auto canonical = *CanonicalOptions(*WithMetadata({"arbalest.vector_column"}, {"emb"}));
  auto layout = InspectPutSchema(*canonical);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->vector.column, "emb");
  EXPECT_EQ(layout->vector.dim, 8);
  auto missing =
      InspectPutSchema(*CanonicalOptions(*WithMetadata({"vector_column"}, {"nope"})).ValueOrDie());
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope'"));
  // An explicit column wins over the option and the default names.
  EXPECT_EQ(InspectPutSchema(*canonical, "vector")->vector.column, "vector");
}

}  // namespace
}  // namespace arbalest
