// Which rows a text search may return: a borrowed Roaring bitmap of allowed rows, or any
// predicate. The index consults it while scoring, before a row can take a place in the top k,
// so a filtered search still returns k hits whenever k allowed rows match the query.
#pragma once

#include <cstdint>
#include <functional>
#include <roaring/roaring64map.hh>
#include <variant>

namespace arbalest {

class RowFilter {
 public:
  // Allows exactly the rows in `rows`. The bitmap is borrowed: it must outlive the filter and
  // must not change while a search uses it.
  static RowFilter FromBitmap(const Roaring64Map& rows);

  // Allows the rows for which `allows` returns true. It is called from the searching thread,
  // at most once per candidate row, under the index's read lock: it must be thread-safe when
  // searches run concurrently, quick, and must not call back into the index.
  static RowFilter FromPredicate(std::function<bool(uint64_t)> allows);

  bool Allows(uint64_t row) const { return allows_(row); }

 private:
  explicit RowFilter(std::function<bool(uint64_t)> allows);

  std::function<bool(uint64_t)> allows_;
};

}  // namespace arbalest
