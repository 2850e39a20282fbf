// Which allocator backs Arrow's default memory pool (the buffers of received batches, of
// snapshots loaded from Parquet, of query results): `system` (glibc malloc), `jemalloc` or
// `mimalloc`, chosen by `--memory-pool` before Arrow allocates anything.
//
// Why the server defaults to `system` although the pyarrow wheel's default is jemalloc: Flight
// gathers each received put message into one contiguous Arrow buffer, and jemalloc serves
// buffers above its oversize threshold (8 MiB: a 10k-row put of 384-d float32 is 15 MiB) from
// an arena that hands their pages back to the kernel as soon as they are freed, so every such
// put faults in and zeroes fresh pages: a third of the put path's CPU in a profile
// (docs/benchmarks.md). glibc reuses a freed chunk of that size for the next message.
#pragma once

#include <arrow/status.h>

#include <string>

namespace arbalest {

// Makes `backend` ("system", "jemalloc" or "mimalloc") Arrow's default memory pool. Must run
// before anything calls arrow::default_memory_pool() (Arrow reads the choice once, from the
// environment variable ARROW_DEFAULT_MEMORY_POOL, which this sets). Invalid when Arrow was
// built without that backend or another was chosen already.
arrow::Status SelectArrowMemoryPool(const std::string& backend);

}  // namespace arbalest
