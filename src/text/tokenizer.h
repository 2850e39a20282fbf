// Turns text into index terms: words (see text/words.h) normalised with Unicode NFKC case
// folding, optionally without stop words.
//
// Folding makes "Café", "CAFÉ" and "cafe\u0301" (decomposed) the same term "café", maps
// compatibility forms to their plain letters ("ﬁ" → "fi", full-width "Ａ" → "a"), and folds
// case across scripts (Greek final sigma "ς" → "σ", German "ß" → "ss", Cyrillic "Ж" → "ж").
// Pure-ASCII words, the common case, take a fast path that only lower-cases bytes. Accents are
// kept: "café" and "cafe" are different terms.
#pragma once

#include <arrow/result.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/string_hash.h"

namespace arbalest {

// Words longer than this many bytes (after folding) are dropped rather than indexed: they are
// almost always encoded blobs or URLs that no one searches for, and they would bloat the
// dictionary. Lucene's standard analyzer uses the same cut-off (255 characters).
inline constexpr size_t kMaxTermBytes = 255;

struct TokenizerOptions {
  // Terms to leave out of documents and queries, folded like any other text. Empty (the
  // default) keeps every word: BM25's idf already gives frequent words little weight, and
  // dropping them breaks phrase-like queries such as "the who".
  std::vector<std::string> stop_words;
};

// Lucene's classic English stop-word list (33 words), for TokenizerOptions::stop_words.
std::span<const std::string_view> EnglishStopWords();

// Immutable once made: every method is const and safe to call from many threads at once.
class Tokenizer {
 public:
  // Fails only when the ICU normalisation data cannot be loaded (a broken ICU install).
  static arrow::Result<Tokenizer> Make(TokenizerOptions options = {});

  // The terms of `text` in order, repeats included. Never fails: invalid UTF-8 separates words.
  std::vector<std::string> Tokenize(std::string_view text) const;

  // Tokenize, appending the terms to `terms` (saves a vector per call when feeding many rows).
  void TokenizeInto(std::string_view text, std::vector<std::string>* terms) const;

 private:
  explicit Tokenizer(StringSet stop_words);

  StringSet stop_words_;
};

}  // namespace arbalest
