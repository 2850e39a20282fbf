// Splits UTF-8 text into words: maximal runs of Unicode letters, digits and combining marks.
//
// This is the word-boundary rule of the full-text index, kept apart from normalisation so that
// code which only needs to count or locate words (query classification for hybrid search) does
// not pay for case folding. Everything that is not a letter, digit or mark separates words:
// whitespace, punctuation, symbols, control characters and bytes that are not valid UTF-8 (an
// ill-formed sequence is skipped, never decoded into a character). Each ideograph (Han, and
// the ideographic characters of other scripts) is a word of its own, since those scripts do
// not separate words with spaces; that is the usual unigram approach without a dictionary.
#pragma once

#include <string_view>
#include <vector>

namespace arbalest {

// The words of `text` in order, as views into `text` (valid while `text` is). Every view is
// non-empty, well-formed UTF-8 and not yet case folded. Thread-safe; never fails.
std::vector<std::string_view> SplitWords(std::string_view text);

}  // namespace arbalest
