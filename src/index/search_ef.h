// The HNSW candidate list size of a search that does not name one (SearchOptions::ef == 0, a
// Flight search without "ef"): one rule, measured, for every index.
#pragma once

#include <cstddef>
#include <cstdint>

namespace arbalest {

// The ef a search of k rows in a graph of `rows` rows uses by default: the larger of 1.25k and
// 64 plus 24 per doubling of the rows past 16384 (64 up to 16384 rows, 88 at 32k, 126 at
// 100k, 131 at 115k, 206 at 1M; the size term stops at 4096).
//
// Measured (docs/benchmarks.md, "Default ef"), M 16, ef_construction 200: recall@10 at ef
// 64 / 96 / 128 was 0.926 / 0.951 / 0.973 on 100k x 384 clustered rows, the bar's hardest
// case; the WordNet MiniLM set (115k x 384, cosine) reached 0.95 by ef 32-48; 6k rows of it
// 0.99 at ef 64. Recall falls slowly as the graph grows (a longer walk to the neighbourhood),
// hence the logarithmic term. Wide searches need less ef per row returned: recall@100 on the
// clustered 100k was 0.955 / 0.971 / 0.993 at ef 100 / 128 / 200, so 1.25k, with the size
// term above it at 100k. The previous default, a fixed 64, gave 0.93-0.94 on clustered 100k
// over Flight.
size_t DefaultSearchEf(size_t k, uint64_t rows);

}  // namespace arbalest
