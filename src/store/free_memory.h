// Handing freed memory back to the operating system. glibc's malloc keeps what is freed in its
// arenas (gRPC's buffers for received messages and, with the system memory pool, Arrow's
// buffers come from it); after work that frees a lot at once (rows re-pointed at their graph's
// vectors, a compaction, a dropped dataset) the process would otherwise keep that memory
// resident.
//
// Returning memory has a price while puts go on: the next received messages land in pages the
// kernel must fault in and zero again (profiled at up to a third of the put path's CPU,
// docs/benchmarks.md). So recurring frees return memory at most every few seconds, and the
// work that frees it returns it in full when it goes idle. The memory budget keeps such held
// memory charged until it is returned, and returns it before refusing a put
// (MemoryBudget::HoldFreed), so --max-memory still bounds the process.
#pragma once

namespace arbalest {

// Returns the free memory of malloc's arenas and of Arrow's default pool to the system now.
// Takes a few milliseconds on a large heap: call it after big frees, not per request.
void ReturnFreeMemory();

// For frees that recur while work goes on (each indexing turn's replaced batches): returns free
// memory as ReturnFreeMemory does, but only when no return happened in the process within the
// last kReturnFreeMemoryIntervalSeconds; true when it returned it. The caller calls
// ReturnFreeMemory when its work is done (the index workers do when their queue runs empty), so
// nothing stays resident after a burst of puts.
bool ReturnFreeMemorySometimes();

inline constexpr int kReturnFreeMemoryIntervalSeconds = 5;

// Under --max-memory: has malloc serve every block of kLargeBlockBytes or more (a received
// message, a batch, an index chunk, a wide row's search scratch) from a mapping of its own,
// which free() unmaps at once. By default glibc raises that threshold to the size of the
// largest mmapped block freed so far (up to 32 MiB) and its heaps' trim threshold to twice that:
// after the first 16 MiB message, such blocks came out of the heaps of whichever threads
// allocated them (gRPC's, the index workers'), and what they freed stayed resident until the
// next malloc_trim, in arenas the other threads do not take from. At the peak of
// test_memory_limits' wide puts that was 27 to 88 MiB beyond what malloc had allocated and
// the process's code, more or less as frees, trims and puts fell (docs/architecture.md, Memory).
// The price is a page fault per 4 KiB of each large block; under a limit the freed batches are
// handed back at once anyway (MemoryBudget::ReturnFreedSometimes). Without a limit the same
// retention held ~60 MiB of freed messages in the thread heaps at an ingest's peak, but doing
// it always cost puts CPU (docs/benchmarks.md, "int8 build codes on real embeddings, and peak
// RSS"), so it stays tied to --max-memory; ShareOneMallocArena below cuts that retention
// without unmapping. Call once, before the server starts.
void ReturnLargeBlocksWhenFreed();

inline constexpr int kLargeBlockBytes = 1 << 20;

// Has every thread allocate from the same malloc arena (glibc's main heap). By default glibc
// gives each thread that meets a locked arena one of its own, up to 8 per core: gRPC's threads
// each received messages in theirs, and a freed 15 MiB message stayed on top of the heap of
// the thread that freed it (a thread heap shrinks only past the trim threshold, which glibc
// raises to twice the largest block freed, and malloc_trim never shrinks it), so that the next
// message, received by another thread, took fresh memory: ~60 MiB of freed messages held in
// thread heaps at an ingest's peak (docs/benchmarks.md, "Where the peak goes"). In one arena the
// next message reuses the freed one, and malloc_trim returns what is left. Call once, first in
// main, before any thread allocates: glibc fixes its arena limit when a second arena is made.
void ShareOneMallocArena();

}  // namespace arbalest
