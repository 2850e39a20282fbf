// The full-text half of hybrid search for one dataset: an in-memory inverted index over the
// text of rows, ranked with BM25 (text/bm25.h).
//
// Rows are the dataset's uint64 row numbers; the caller maps user ids to them. A row's text is
// one document: all the fields given to one Add are indexed together as a single bag of words
// (as if concatenated, though no term spans two fields), so a query matches a row when any of
// its fields has the term, and the length used for BM25 is the sum over fields.
//
// Thread-safety: every method may be called from any number of threads at once. Writers (Add,
// Remove) tokenize outside the lock, then take a std::shared_mutex exclusively for the short
// in-memory update; Search and Stats take it shared. A search therefore sees each row either
// entirely as it was before an Add or Remove or entirely after, never half-indexed.
#pragma once

#include <arrow/status.h>

#include <cstdint>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/bm25_stats.h"
#include "text/row_filter.h"
#include "text/scored_row.h"
#include "text/string_hash.h"
#include "text/tokenizer.h"

namespace arbalest {

struct TextIndexStats {
  uint64_t live_rows = 0;      // rows a search can return
  uint64_t removed_rows = 0;   // removed or replaced rows whose postings await compaction
  uint64_t terms = 0;          // distinct terms in the dictionary
  uint64_t postings = 0;       // (term, row) entries, removed rows' included
  uint64_t posting_bytes = 0;  // heap bytes reserved by the posting lists
  uint64_t total_bytes = 0;    // estimate: postings, dictionary and per-row tables
  double avg_doc_length = 0;   // mean terms per live row: BM25's avgdl
};

class TextIndex {
 public:
  explicit TextIndex(Tokenizer tokenizer);

  TextIndex(const TextIndex&) = delete;
  TextIndex& operator=(const TextIndex&) = delete;

  // Indexes `fields` as the text of `row`, replacing whatever the row had (an upsert). A row
  // whose fields hold no terms is still a document, of length 0, and counts in BM25's N.
  // Errors: CapacityError past 2^32 - 1 documents (uint32 posting ids) or terms in one row;
  // the index is unchanged then.
  arrow::Status Add(uint64_t row, std::span<const std::string_view> fields);
  arrow::Status Add(uint64_t row, std::string_view text);

  // Consecutive rows' text, tokenized: the costly half of adding rows, which needs no lock and
  // no row numbers, so that a writer can do it early (a put tokenizes while its batch is being
  // logged). Made by Tokenize, consumed by Add.
  class TokenizedRows {
   public:
    size_t size() const { return ends_.size(); }

   private:
    friend class TextIndex;
    // The distinct terms of these rows, so that the index's dictionary is probed once per
    // distinct term under the write lock rather than once per occurrence.
    std::vector<std::string> vocabulary_;
    std::vector<uint32_t> terms_;  // row i's, as vocabulary_ positions: [ends_[i - 1], ends_[i])
    std::vector<size_t> ends_;
  };

  // Tokenizes `rows` rows whose fields are `fields`, row-major, the same number for each row
  // (fields.size() / rows). Thread-safe and lock-free. CapacityError when a row has more than
  // 2^32 - 1 terms.
  arrow::Result<TokenizedRows> Tokenize(std::span<const std::string_view> fields,
                                        size_t rows) const;

  // Adds the rows of `text` as rows first_row, first_row + 1, ..., each as Add(row, fields)
  // does, under one write lock. CapacityError past 2^32 - 1 documents; no row is added then.
  arrow::Status Add(uint64_t first_row, TokenizedRows text);

  // Removes `row` from results at once; returns false when it was not indexed. Statistics
  // (N, document frequencies, avgdl) drop the row at once too, so scores equal those of an
  // index built without it. Its postings are purged later, when removed rows outnumber live
  // ones, by a compaction that runs inside the call that crossed that line.
  bool Remove(uint64_t row);

  // The `k` best rows for `query` by BM25, best first, ties by ascending row. A row matches
  // when it has at least one query term; repeated query terms count once. When `filter` is
  // given, only rows it allows are scored and kept, so the result has min(k, matching allowed
  // rows) hits. The filter is borrowed for the call. Never fails; an empty or all-punctuation
  // query returns no rows.
  //
  // `global` (a cluster-wide search's, Bm25Stats::Add over every shard): score with its N,
  // avgdl and document frequencies instead of this index's own, so that the scores equal those
  // of one index holding every shard's rows. A term it lacks, or counts in fewer documents than
  // this index does (rows added since it was gathered), is scored with this index's count; N
  // is raised to at least each term's count, so idf stays positive.
  std::vector<ScoredRow> Search(std::string_view query, size_t k, const RowFilter* filter = nullptr,
                                const Bm25Stats* global = nullptr) const;

  // This index's statistics for `query`: N, the total length and the document frequency of
  // each distinct query term (0 for terms it does not hold), what Search scores with.
  Bm25Stats QueryStats(std::string_view query) const;

  // Counts and memory use. Walks the dictionary: for monitoring, not for every query.
  TextIndexStats Stats() const;

 private:
  struct Posting {
    uint32_t slot;  // index into docs_; lists are sorted by it since slots only grow
    uint32_t term_freq;
  };
  struct Term {
    std::vector<Posting> postings;  // removed rows' postings included until compaction
    uint32_t doc_freq = 0;          // live rows with the term
  };
  struct Document {
    uint64_t row;
    uint32_t length;  // terms, repeats included
    bool live;
    // The document's distinct terms, so Remove can update their doc_freq; empty once removed.
    // Pointers into terms_ stay valid: unordered_map nodes never move.
    std::vector<Term*> terms;
  };

  // All three require mutex_ held exclusively.
  // Adds `row` as the next slot, replacing any old version. Its terms are `term_of[id]` for
  // each id of `ids` (repeats included), sorted so that repeats are adjacent.
  void Insert(uint64_t row, std::span<uint32_t> ids, const std::vector<Term*>& term_of);
  void Tombstone(uint32_t slot);
  void CompactIfMostlyRemoved();
  // Requires mutex_ held, shared or exclusively.
  double AvgDocLength() const;

  // The distinct terms of `query`, sorted.
  std::vector<std::string> QueryTerms(std::string_view query) const;

  const Tokenizer tokenizer_;

  mutable std::shared_mutex mutex_;
  StringMap<Term> terms_;
  std::vector<Document> docs_;                          // by slot, in the order rows were added
  std::unordered_map<uint64_t, uint32_t> slot_of_row_;  // live rows only
  uint64_t total_length_ = 0;                           // over live rows
};

}  // namespace arbalest
