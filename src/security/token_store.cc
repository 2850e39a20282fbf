#include "security/token_store.h"

namespace arbalest {

arrow::Result<std::shared_ptr<TokenStore>> TokenStore::Open(std::string path) {
  std::shared_ptr<TokenStore> store(new TokenStore(std::move(path)));
  ARROW_RETURN_NOT_OK(store->Reload());
  return store;
}

arrow::Status TokenStore::Reload() {
  ARROW_ASSIGN_OR_RAISE(auto table, TokenTable::Load(path_));
  WriterLock lock(&mutex_);
  table_ = std::move(table);
  return arrow::Status::OK();
}

std::shared_ptr<const TokenTable> TokenStore::table() const {
  ReaderLock lock(&mutex_);
  return table_;
}

}  // namespace arbalest
