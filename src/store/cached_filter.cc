#include "store/cached_filter.h"

#include "store/filter.h"

namespace arbalest {

arrow::Result<arrow::compute::Expression> CachedFilter::Bind(
    const std::shared_ptr<arrow::Schema>& schema) const {
  MutexLock lock(&mutex_);
  for (const auto& [key, expression] : compiled_) {
    if (key == schema) return expression;
  }
  for (const auto& [key, expression] : compiled_) {
    if (key->Equals(*schema, /*check_metadata=*/false)) return expression;
  }
  ARROW_ASSIGN_OR_RAISE(auto expression, CompileFilter(expr_, *schema));
  ++compilations_;
  if (compiled_.size() == kMaxCompiledSchemas) compiled_.pop_front();
  compiled_.emplace_back(schema, expression);
  return expression;
}

size_t CachedFilter::compilations() const {
  MutexLock lock(&mutex_);
  return compilations_;
}

}  // namespace arbalest
