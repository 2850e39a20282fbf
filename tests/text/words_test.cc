#include "text/words.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace arbalest {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SplitWordsTest, PunctuationAndWhitespaceSeparate) {
  EXPECT_THAT(SplitWords("Hello, world! It's 3.14 -- e-mail_me\tnow\n"),
              ElementsAre("Hello", "world", "It", "s", "3", "14", "e", "mail", "me", "now"));
}

TEST(SplitWordsTest, LettersDigitsAndMarksStayTogether) {
  EXPECT_THAT(SplitWords("abc123 Cafe\u0301 naïve"), ElementsAre("abc123", "Cafe\u0301", "naïve"));
}

TEST(SplitWordsTest, EachIdeographIsAWord) {
  EXPECT_THAT(SplitWords("東京タワー in 東京"),
              ElementsAre("東", "京", "タワー", "in", "東", "京"));
}

TEST(SplitWordsTest, EmptyAndSeparatorOnly) {
  EXPECT_THAT(SplitWords(""), IsEmpty());
  EXPECT_THAT(SplitWords(" ,.;!?\u00a0\u2014 "), IsEmpty());
}

}  // namespace
}  // namespace arbalest
