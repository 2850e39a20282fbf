// MemoryUsage: the memory an index (HnswIndex, FlatIndex) holds, by kind, for the memory
// budget, metrics and the status API.
#pragma once

#include <cstddef>

namespace arbalest {

struct MemoryUsage {
  size_t vector_bytes = 0;   // stored vectors (and row flags)
  size_t graph_bytes = 0;    // neighbour lists and node metadata
  size_t scratch_bytes = 0;  // pooled search and insert state (visited sets, decoded rows)
};

}  // namespace arbalest
