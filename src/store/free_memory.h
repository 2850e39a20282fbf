// Handing freed memory back to the operating system. glibc's malloc keeps what is freed in its
// arenas (gRPC's buffers for received messages come from it), and Arrow's memory pool returns
// freed pages lazily; after work that frees a lot at once (rows re-pointed at their graph's
// vectors, a compaction) the process would otherwise keep that memory resident.
#pragma once

namespace arbalest {

// Returns the free memory of malloc's arenas and of Arrow's default pool to the system. Takes
// a few milliseconds on a large heap: call it after big frees, not per request.
void ReturnFreeMemory();

}  // namespace arbalest
