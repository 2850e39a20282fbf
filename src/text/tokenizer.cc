#include "text/tokenizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <array>

#include "text/words.h"

namespace arbalest {
namespace {

// Longer words are dropped before folding, which bounds its cost; folding never shrinks a word
// by this much except in contrived text (runs of ignorable variation selectors).
constexpr size_t kMaxWordBytes = 16 * kMaxTermBytes;

// ICU keeps one process-wide instance, loaded once; later calls return it at once.
const icu::Normalizer2* NfkcCasefold(UErrorCode* status) {
  return icu::Normalizer2::getNFKCCasefoldInstance(*status);
}

bool IsAscii(std::string_view word) {
  for (char c : word) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// `word` folded into a term; empty when folding leaves nothing (a word of ignorable marks).
std::string Fold(std::string_view word) {
  std::string term;
  if (IsAscii(word)) {
    term.assign(word);
    for (char& c : term) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return term;
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = NfkcCasefold(&status);
  icu::StringByteSink<std::string> sink(&term, static_cast<int32_t>(word.size()));
  // `word` is well-formed UTF-8 (SplitWords guarantees it), so this cannot fail once the
  // normaliser exists, which Tokenizer::Make checked.
  normalizer->normalizeUTF8(0, icu::StringPiece(word.data(), static_cast<int32_t>(word.size())),
                            sink, nullptr, status);
  if (U_FAILURE(status)) term.clear();
  return term;
}

}  // namespace

std::span<const std::string_view> EnglishStopWords() {
  static constexpr std::array<std::string_view, 33> kWords = {
      "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
      "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
      "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};
  return kWords;
}

arrow::Result<Tokenizer> Tokenizer::Make(TokenizerOptions options) {
  UErrorCode status = U_ZERO_ERROR;
  NfkcCasefold(&status);
  if (U_FAILURE(status)) {
    return arrow::Status::IOError("ICU NFKC case-folding data unavailable: ", u_errorName(status));
  }
  StringSet stop_words;
  for (const std::string& text : options.stop_words) {
    for (std::string_view word : SplitWords(text)) stop_words.insert(Fold(word));
  }
  return Tokenizer(std::move(stop_words));
}

Tokenizer::Tokenizer(StringSet stop_words) : stop_words_(std::move(stop_words)) {}

std::vector<std::string> Tokenizer::Tokenize(std::string_view text) const {
  std::vector<std::string> terms;
  TokenizeInto(text, &terms);
  return terms;
}

void Tokenizer::TokenizeInto(std::string_view text, std::vector<std::string>* terms) const {
  for (std::string_view word : SplitWords(text)) {
    if (word.size() > kMaxWordBytes) continue;
    std::string term = Fold(word);
    if (term.empty() || term.size() > kMaxTermBytes || stop_words_.contains(term)) continue;
    terms->push_back(std::move(term));
  }
}

}  // namespace arbalest
