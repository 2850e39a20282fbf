// Shared check for the parsers of human-written flag values (byte sizes, durations).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace arbalest::testing {

// Expects `parse` to refuse every text of `bad` with Invalid, quoting the text in the message.
template <class Parse>
void ExpectRefusedQuotingText(Parse parse, std::initializer_list<const char*> bad) {
  for (const char* text : bad) {
    auto result = parse(text);
    ASSERT_FALSE(result.ok()) << text;
    EXPECT_TRUE(result.status().IsInvalid());
    EXPECT_NE(result.status().message().find(std::string("'") + text + "'"), std::string::npos)
        << result.status().message();
  }
}

}  // namespace arbalest::testing
