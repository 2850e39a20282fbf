#include "common/memory_pool_choice.h"

#include <arrow/memory_pool.h>
#include <stdlib.h>

namespace arbalest {

arrow::Status SelectArrowMemoryPool(const std::string& backend) {
  if (::setenv("ARROW_DEFAULT_MEMORY_POOL", backend.c_str(), /*overwrite=*/1) != 0) {
    return arrow::Status::IOError("cannot set ARROW_DEFAULT_MEMORY_POOL");
  }
  const std::string chosen = arrow::default_memory_pool()->backend_name();
  if (chosen != backend) {
    return arrow::Status::Invalid("--memory-pool ", backend, ": Arrow's default memory pool is ",
                                  chosen, " (", backend,
                                  " is not built into this Arrow, or was chosen too late)");
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
