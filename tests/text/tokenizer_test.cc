#include "text/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace arbalest {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Tokens(std::string_view text, TokenizerOptions options = {}) {
  auto tokenizer = Tokenizer::Make(std::move(options));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer->Tokenize(text);
}

TEST(TokenizerTest, FoldsAsciiCase) {
  EXPECT_THAT(Tokens("The QUICK brown Fox"), ElementsAre("the", "quick", "brown", "fox"));
}

TEST(TokenizerTest, SplitsOnPunctuationKeepsDigits) {
  EXPECT_THAT(Tokens("Arrow-Flight v17.0: 42 rows/s (fast!)"),
              ElementsAre("arrow", "flight", "v17", "0", "42", "rows", "s", "fast"));
}

TEST(TokenizerTest, FoldsAccentedLatinAndKeepsAccents) {
  EXPECT_THAT(Tokens("Café CAFÉ café"), ElementsAre("café", "café", "café"));
  EXPECT_THAT(Tokens("cafe"), ElementsAre("cafe"));
  // Decomposed e + combining acute folds to the same term as the precomposed é.
  EXPECT_THAT(Tokens("Cafe\u0301"), ElementsAre("café"));
  EXPECT_THAT(Tokens("Straße ÉCOLE Ñandú"), ElementsAre("strasse", "école", "ñandú"));
}

TEST(TokenizerTest, FoldsGreekAndCyrillic) {
  EXPECT_THAT(Tokens("Москва ПРИВЕТ, мир"), ElementsAre("москва", "привет", "мир"));
  // Final sigma and capital sigma both fold to σ; the tonos accent is kept.
  EXPECT_THAT(Tokens("ΟΔΥΣΣΕΎΣ Οδυσσεύς"), ElementsAre("οδυσσεύσ", "οδυσσεύσ"));
}

TEST(TokenizerTest, FoldsCompatibilityForms) {
  EXPECT_THAT(Tokens("ﬁle ＡＢＣ"), ElementsAre("file", "abc"));
}

TEST(TokenizerTest, InvalidUtf8SeparatesAndNeverCrashes) {
  EXPECT_THAT(Tokens("good\xff"
                     "bad\xc3"),
              ElementsAre("good", "bad"));
  EXPECT_THAT(Tokens("\xed\xa0\x80surrogate \xf4\x90\x80\x80over \xc0\xafoverlong"),
              ElementsAre("surrogate", "over", "overlong"));
  // Every single byte value and a truncated multi-byte tail.
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::vector<std::string> tokens = Tokens(all_bytes + "\xe2\x82");
  EXPECT_FALSE(tokens.empty());
}

TEST(TokenizerTest, EmptyText) {
  EXPECT_THAT(Tokens(""), IsEmpty());
  EXPECT_THAT(Tokens("  \t\n...  "), IsEmpty());
}

TEST(TokenizerTest, DropsOverlongWords) {
  const std::string longest(kMaxTermBytes, 'x');
  EXPECT_THAT(Tokens("a " + std::string(kMaxTermBytes + 1, 'y') + " " + longest),
              ElementsAre("a", longest));
}

TEST(TokenizerTest, StopWordsOffByDefaultOnWhenGiven) {
  EXPECT_THAT(Tokens("The Who"), ElementsAre("the", "who"));
  TokenizerOptions options;
  options.stop_words.assign(EnglishStopWords().begin(), EnglishStopWords().end());
  EXPECT_THAT(Tokens("The cat is on THE mat", options), ElementsAre("cat", "mat"));
  EXPECT_THAT(Tokens("Café au lait", {.stop_words = {"CAFÉ"}}), ElementsAre("au", "lait"));
}

}  // namespace
}  // namespace arbalest
