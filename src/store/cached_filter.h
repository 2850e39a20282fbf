// A request's filter: the typed filter (store/filter_expr.h) and its compiled forms, so that a
// filter is compiled once per schema it meets, not once per query, batch or segment. A request
// holds it as shared_ptr<const CachedFilter>, and every query that shares the filter shares the
// cache: the queries of a VectorSearch batch, the rows of a DoExchange stream that repeat the
// same filter text (flight/exchange.cc), the batches of a scan, and (with segments) each
// segment of a search.
//
// The cache key is (this filter, schema): the filter by identity (the cache lives in it and
// dies with the request), the schema by pointer and, failing that, by Schema::Equals, so that
// equal schemas of different datasets or snapshots share an entry. It is bounded: at most
// kMaxCompiledSchemas entries per filter (datasets and schema versions one request meets),
// the oldest evicted first. Compile errors are not cached: they end the request.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

#include "common/mutex.h"
#include "store/filter_expr.h"

namespace arbalest {

class CachedFilter {
 public:
  static constexpr size_t kMaxCompiledSchemas = 8;

  explicit CachedFilter(FilterExpr expr) : expr_(std::move(expr)) {}
  CachedFilter(const CachedFilter&) = delete;
  CachedFilter& operator=(const CachedFilter&) = delete;

  const FilterExpr& expr() const { return expr_; }

  // The filter compiled and bound to `schema` (CompileFilter, store/filter.h): compiled on the
  // first call for a schema, then taken from the cache. Thread-safe; concurrent first calls for
  // one schema compile it once (the second waits for the first).
  arrow::Result<arrow::compute::Expression> Bind(
      const std::shared_ptr<arrow::Schema>& schema) const;

  // How many times the filter was compiled (a test's window onto the cache).
  size_t compilations() const;

 private:
  const FilterExpr expr_;
  mutable Mutex mutex_;
  mutable std::deque<std::pair<std::shared_ptr<arrow::Schema>, arrow::compute::Expression>>
      compiled_ GUARDED_BY(mutex_);
  mutable size_t compilations_ GUARDED_BY(mutex_) = 0;
};

}  // namespace arbalest
