#include "store/free_memory.h"

#include <arrow/memory_pool.h>
#include <malloc.h>

namespace arbalest {

void ReturnFreeMemory() {
  malloc_trim(0);
  arrow::default_memory_pool()->ReleaseUnused();
}

}  // namespace arbalest
