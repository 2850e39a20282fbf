#include "text/bm25_stats.h"

namespace arbalest {

void Bm25Stats::Add(const Bm25Stats& other) {
  docs += other.docs;
  total_length += other.total_length;
  for (const auto& [term, freq] : other.doc_freq) doc_freq[term] += freq;
}

}  // namespace arbalest
