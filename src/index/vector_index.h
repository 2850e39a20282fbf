// VectorIndex: the interface the store uses for every index kind (flat, HNSW). Rows are dense
// ids handed out by Add in call order; the caller maps its own ids to them.
//
// Thread-safety: every method may be called concurrently with every other (adds, deletes and
// searches from many threads). Errors are returned, never thrown.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <roaring/roaring.hh>
#include <span>
#include <vector>

#include "index/top_k.h"

namespace arbalest {

struct SearchOptions {
  size_t k = 10;
  // Size of the HNSW candidate list (ignored by the flat index); 0 means the default,
  // DefaultSearchEf(k, rows) (index/search_ef.h). Raised to k when smaller.
  size_t ef = 0;
  // Only rows in this bitmap are returned (when not null). Not owned; must outlive the call.
  const Roaring* filter = nullptr;
  // Rows in this bitmap are never returned (when not null), though HNSW still routes through
  // them: the store's tombstones, kept outside the index. Not owned; must outlive the call.
  const Roaring* exclude = nullptr;
  // When > 0, only rows below it are searched: rows still being added by another thread are
  // left to the caller (the store scans them exactly).
  RowId row_limit = 0;
};

struct MemoryUsage {
  size_t vector_bytes = 0;   // stored vectors (and row flags)
  size_t graph_bytes = 0;    // neighbour lists and node metadata
  size_t scratch_bytes = 0;  // pooled search and insert state (visited sets, decoded rows)
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  // Adds one vector of dim() floats; returns its row id. Invalid on a dimension mismatch.
  virtual arrow::Result<RowId> Add(std::span<const float> vector) = 0;

  // Marks `row` deleted: it is never returned again (HNSW still routes through it).
  virtual arrow::Status Delete(RowId row) = 0;

  // Writes the k nearest live rows (fewer only when fewer match), nearest first, to `out`
  // (cleared first). Invalid on a dimension mismatch.
  virtual arrow::Status Search(std::span<const float> query, const SearchOptions& options,
                               std::vector<Neighbor>* out) const = 0;

  virtual size_t dim() const = 0;
  // Rows added so far, deleted ones included.
  virtual uint64_t size() const = 0;
  virtual MemoryUsage memory() const = 0;
};

}  // namespace arbalest
