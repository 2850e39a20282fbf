// SearchOptions: what one k-nearest-neighbour search of an index (HnswIndex, FlatIndex) asks
// for: k, the candidate list size, the rows it may return and the rows it may not.
//
// Deleted rows are not the index's business: the store keeps them (store/tombstones.h) and
// passes them as `exclude`.
#pragma once

#include <cstddef>
#include <roaring/roaring.hh>

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
  // The index's row r is bit r + row_offset of `filter` and bit r + exclude_offset of
  // `exclude`: a segment's graph (store/segment.h) searched with a filter in its dataset's
  // numbering and the segment's own deleted rows (local numbering), without a copy of either
  // per query. Returned rows stay the index's own.
  RowId row_offset = 0;
  RowId exclude_offset = 0;
};

}  // namespace arbalest
