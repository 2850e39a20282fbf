// The corpus statistics that BM25 (text/bm25.h) scores a query with: live documents N, their
// total length (avgdl = total / N) and each query term's document frequency. One index reports
// its own for a query (TextIndex::QueryStats); a cluster-wide hybrid search sums those of every
// shard (Add) and has each shard score with the sum, so that the shards' BM25 scores equal
// those of one index holding all their rows (docs/cluster.md, "Hybrid search").
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace arbalest {

struct Bm25Stats {
  uint64_t docs = 0;          // live documents
  uint64_t total_length = 0;  // terms over live documents, repeats included
  // The query's distinct terms (as the tokenizer folds them), each with the live documents
  // holding it; a term no document holds is listed with 0.
  std::map<std::string, uint64_t> doc_freq;

  // Adds `other`'s counts to these (the statistics of the union of two disjoint corpora).
  void Add(const Bm25Stats& other);

  friend bool operator==(const Bm25Stats&, const Bm25Stats&) = default;
};

}  // namespace arbalest
