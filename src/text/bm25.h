// Okapi BM25 with Lucene's parameters and idf, in one place so that the index and anything
// that explains a score agree.
//
//   score(d, q) = sum over distinct query terms t present in d of
//                 idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)      = ln(1 + (N - n + 0.5) / (n + 0.5))
//
// N: live documents; n: live documents containing t; tf: occurrences of t in d; |d|: terms in
// d; avgdl: mean |d| over live documents. Lucene's idf is never negative, unlike Robertson's
// original, so a term in more than half of the documents still counts a little.
#pragma once

#include <cmath>
#include <cstdint>

namespace arbalest {

inline constexpr double kBm25K1 = 1.2;  // term-frequency saturation
inline constexpr double kBm25B = 0.75;  // document-length normalisation

inline double Bm25Idf(uint64_t num_docs, uint64_t doc_freq) {
  const double n = static_cast<double>(doc_freq);
  return std::log(1.0 + (static_cast<double>(num_docs) - n + 0.5) / (n + 0.5));
}

inline double Bm25TermScore(double idf, uint32_t term_freq, uint32_t doc_length,
                            double avg_doc_length) {
  const double tf = term_freq;
  const double norm = 1.0 - kBm25B + kBm25B * static_cast<double>(doc_length) / avg_doc_length;
  return idf * tf * (kBm25K1 + 1.0) / (tf + kBm25K1 * norm);
}

}  // namespace arbalest
