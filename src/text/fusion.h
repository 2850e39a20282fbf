// Reciprocal-rank fusion of a dense (vector) result list with a text (BM25) one, the final
// step of hybrid search, and a rule that picks the weight between them from the query.
//
// RRF combines ranks, not scores, so cosine distances and BM25 scores, which live on
// unrelated scales, need no calibration. With k = 60 (Cormack et al., 2009):
//   fused(row) = alpha / (60 + dense_rank) + (1 - alpha) / (60 + text_rank)
// Ranks start at 1; a row absent from a list gets 0 from it.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "text/scored_row.h"

namespace arbalest {

inline constexpr double kRrfK = 60;

// Every row of either list with its fused score, best first, ties by ascending row. Rows whose
// fused score is 0 (present only in a list weighted 0) are left out, so alpha = 1 returns
// exactly the dense list and alpha = 0 exactly the text list. A row repeated within one list
// counts at its first (best) rank. Invalid unless 0 <= alpha <= 1. Thread-safe.
arrow::Result<std::vector<ScoredRow>> FuseReciprocalRank(std::span<const uint64_t> dense,
                                                         std::span<const uint64_t> text,
                                                         double alpha);

// The alpha for FuseReciprocalRank suited to `query`, from its number of words (as
// text/words.h splits them, stop words included):
//   0 words   -> 1.0  (no text signal: dense only)
//   1-2 words -> 0.3  (keywords, names, codes: exact terms matter, lean to text)
//   8+ words  -> 0.7  (natural-language questions: meaning matters, lean to dense)
//   3-7 words -> linear between 0.3 and 0.7
// Neither side is ever switched off for a non-empty query. Thread-safe.
double AdaptiveAlpha(std::string_view query);

}  // namespace arbalest
