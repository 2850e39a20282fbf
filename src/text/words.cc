#include "text/words.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <cstdint>

namespace arbalest {
namespace {

enum class CharClass { kSeparator, kWord, kIdeograph };

CharClass Classify(UChar32 c) {
  if (c < 0) return CharClass::kSeparator;  // ill-formed UTF-8
  if (c < 0x80) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum ? CharClass::kWord : CharClass::kSeparator;
  }
  if (u_hasBinaryProperty(c, UCHAR_IDEOGRAPHIC)) return CharClass::kIdeograph;
  constexpr uint32_t kWordCategories = U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK;
  return (U_GET_GC_MASK(c) & kWordCategories) != 0 ? CharClass::kWord : CharClass::kSeparator;
}

}  // namespace

std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const size_t length = text.size();
  constexpr size_t kBetweenWords = std::string_view::npos;
  size_t word_start = kBetweenWords;  // where the word being read starts
  size_t i = 0;
  const auto end_word = [&](size_t end) {
    if (word_start != kBetweenWords) words.push_back(text.substr(word_start, end - word_start));
    word_start = kBetweenWords;
  };
  while (i < length) {
    const size_t char_start = i;
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    switch (Classify(c)) {
      case CharClass::kWord:
        if (word_start == kBetweenWords) word_start = char_start;
        break;
      case CharClass::kIdeograph:
        end_word(char_start);
        words.push_back(text.substr(char_start, i - char_start));
        break;
      case CharClass::kSeparator:
        end_word(char_start);
        break;
    }
  }
  end_word(length);
  return words;
}

}  // namespace arbalest
