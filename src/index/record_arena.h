// RecordArena: fixed-size records (vectors, level-0 neighbour lists, flags) in chunks that
// are allocated as the arena grows and never move, so a pointer to a record stays valid for
// the arena's lifetime while other threads append. Chunks are 64-byte aligned; chunks of 2 MiB
// or more are 2 MiB aligned and backed by transparent huge pages where the kernel allows.
//
// Chunks are reference-counted (ChunkOwner), so that a record's memory can be lent to others,
// e.g. as an Arrow buffer over a run of vectors, and outlive the arena.
//
// Thread-safety: Reserve(), At() and ChunkOwner() may be called concurrently from any threads;
// writing and reading a record's bytes is synchronised by the caller. A record is zero-filled
// when its chunk is allocated.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace arbalest {

class RecordArena {
 public:
  // Records of `record_bytes`, each starting at a multiple of `record_align` bytes (a power of
  // two <= 64) from its chunk's start; 2^chunk_log2 records per chunk.
  RecordArena(size_t record_bytes, size_t record_align, int chunk_log2 = 12);
  ~RecordArena();
  RecordArena(const RecordArena&) = delete;
  RecordArena& operator=(const RecordArena&) = delete;

  // Makes records [0, count) addressable, allocating chunks as needed. Returns false when
  // `count` exceeds max_records().
  bool Reserve(uint64_t count);

  // Record `i`, which must be below a count already passed to Reserve() (or adopted).
  uint8_t* At(uint64_t i) const {
    return chunks_[i >> chunk_log2_].load(std::memory_order_acquire) + (i & chunk_mask_) * stride_;
  }

  // Uses `count` records laid out contiguously at `base` (stride() apart, e.g. a mapped file)
  // as the first records, instead of allocating them. Only on an empty arena. `owner` keeps
  // the memory alive; without one (null), the memory must outlive the arena and its chunks are
  // never lent (ChunkOwner is null). A partially used last chunk is copied so that appends can
  // follow. Returns false when that copy cannot be allocated.
  bool AdoptContiguous(uint8_t* base, uint64_t count, std::shared_ptr<const void> owner = nullptr);

  // Keeps the chunk that holds record `i` (below a reserved count) alive as long as the
  // returned pointer (which points at the chunk's first byte) lives, even past the arena.
  // Null for adopted memory that came without an owner.
  std::shared_ptr<const uint8_t> ChunkOwner(uint64_t i) const;
  // Whether record `i`'s chunk was allocated by this arena (not adopted).
  bool Owns(uint64_t i) const { return (i >> chunk_log2_) >= owned_from_.load(); }
  uint64_t records_per_chunk() const { return uint64_t{1} << chunk_log2_; }

  size_t record_bytes() const { return record_bytes_; }
  size_t stride() const { return stride_; }
  uint64_t max_records() const { return kMaxChunks << chunk_log2_; }
  // Whether chunks of 2 MiB or more allocated from now on, by any arena, ask for transparent
  // huge pages (the default: yes). For benchmarks that compare the two; what an arena holds
  // does not depend on it.
  static void SetHugePages(bool on);

  // Bytes of chunks this arena allocated (adopted memory is not counted).
  size_t allocated_bytes() const { return allocated_bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint64_t kMaxChunks = uint64_t{1} << 16;

  const size_t record_bytes_;
  const size_t stride_;
  const int chunk_log2_;
  const uint64_t chunk_mask_;
  const size_t chunk_bytes_;
  std::unique_ptr<std::atomic<uint8_t*>[]> chunks_;
  mutable std::mutex grow_mutex_;
  uint64_t num_chunks_ = 0;                             // guarded by grow_mutex_
  std::vector<std::shared_ptr<const uint8_t>> owners_;  // guarded by grow_mutex_; per chunk
  std::atomic<uint64_t> owned_from_{0};  // chunks below this index are adopted, not owned
  std::atomic<size_t> allocated_bytes_{0};
};

}  // namespace arbalest
