// RecordArena: fixed-size records (vectors, level-0 neighbour lists, flags) in chunks that
// are allocated as the arena grows and never move, so a pointer to a record stays valid for
// the arena's lifetime while other threads append. Chunks are 64-byte aligned; chunks of 2 MiB
// or more are 2 MiB aligned and backed by transparent huge pages where the kernel allows.
//
// A chunk holds a power of two of records: at most 2^max_chunk_log2 (4096 by default), fewer
// when wide records would make the chunk larger than kTargetChunkBytes, and at least one. So
// an arena of very wide records (100,000-dimension vectors) grows a few rows at a time instead
// of reserving gigabytes for its first row, while narrow ones keep their 4096-row chunks. An
// empty arena allocates nothing but its small chunk table, which grows with the chunks.
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
  // Chunks hold at most this many bytes, unless one record is larger (then one record each).
  // 8 MiB keeps 4096-row chunks for vectors of up to 512 float32 dimensions (384-d rows: 6 MiB,
  // three huge pages) and wastes at most one chunk per arena.
  static constexpr size_t kTargetChunkBytes = size_t{8} << 20;
  static constexpr int kDefaultMaxChunkLog2 = 12;

  // Records of `record_bytes`, each starting at a multiple of `record_align` bytes (a power of
  // two <= 64) from its chunk's start; ChunkLog2For(stride, max_chunk_log2) records per chunk.
  RecordArena(size_t record_bytes, size_t record_align, int max_chunk_log2 = kDefaultMaxChunkLog2);

  // log2 of the records per chunk for records `stride` bytes apart: the largest power of two
  // up to 2^max_chunk_log2 whose chunk fits in kTargetChunkBytes, and 0 (one record) when even
  // one record does not fit.
  static int ChunkLog2For(size_t stride, int max_chunk_log2 = kDefaultMaxChunkLog2);
  // The stride of records of `record_bytes` aligned to `record_align`, and the bytes of one
  // chunk of them: what an arena allocates at a time (for memory estimates).
  static size_t StrideFor(size_t record_bytes, size_t record_align);
  static size_t ChunkBytesFor(size_t record_bytes, size_t record_align,
                              int max_chunk_log2 = kDefaultMaxChunkLog2);
  ~RecordArena();
  RecordArena(const RecordArena&) = delete;
  RecordArena& operator=(const RecordArena&) = delete;

  // Makes records [0, count) addressable, allocating chunks as needed. Returns false when
  // `count` exceeds max_records().
  bool Reserve(uint64_t count);

  // Record `i`, which must be below a count already passed to Reserve() (or adopted).
  uint8_t* At(uint64_t i) const {
    return table_.load(std::memory_order_acquire)[i >> chunk_log2_].load(
               std::memory_order_acquire) +
           (i & chunk_mask_) * stride_;
  }

  // Uses `count` records laid out contiguously at `base` (stride() apart, e.g. a mapped file)
  // as the first records, instead of allocating them. Only on an empty arena. `owner` keeps
  // the memory alive; without one (null), the memory must outlive the arena and its chunks are
  // never lent (ChunkOwner is null). A partially used last chunk is copied so that appends can
  // follow. Returns false when that copy cannot be allocated.
  bool AdoptContiguous(uint8_t* base, uint64_t count, std::shared_ptr<const void> owner = nullptr);

  // Frees every chunk (those lent through ChunkOwner live on with their holders): the arena is
  // empty again and Reserve grows it anew. No record may be read or written meanwhile, nor
  // after until it is reserved again.
  void Clear();

  // Keeps the chunk that holds record `i` (below a reserved count) alive as long as the
  // returned pointer (which points at the chunk's first byte) lives, even past the arena.
  // Null for adopted memory that came without an owner.
  std::shared_ptr<const uint8_t> ChunkOwner(uint64_t i) const;
  // Whether record `i`'s chunk was allocated by this arena (not adopted).
  bool Owns(uint64_t i) const { return (i >> chunk_log2_) >= owned_from_.load(); }
  uint64_t records_per_chunk() const { return uint64_t{1} << chunk_log2_; }

  size_t record_bytes() const { return record_bytes_; }
  size_t stride() const { return stride_; }
  size_t chunk_bytes() const { return chunk_bytes_; }
  uint64_t max_records() const { return kMaxChunks << chunk_log2_; }
  // Whether chunks of 2 MiB or more allocated from now on, by any arena, ask for transparent
  // huge pages (the default: yes). For benchmarks that compare the two; what an arena holds
  // does not depend on it.
  static void SetHugePages(bool on);

  // Bytes of chunks this arena allocated (adopted memory is not counted).
  size_t allocated_bytes() const { return allocated_bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint64_t kMaxChunks = uint64_t{1} << 24;
  using ChunkTable = std::atomic<uint8_t*>[];

  // Makes the chunk table hold at least `chunks` entries. Requires grow_mutex_.
  void GrowTable(uint64_t chunks);
  // Publishes `chunk` as chunk num_chunks_ (owned by `owner`). Requires grow_mutex_.
  void AddChunk(uint8_t* chunk, std::shared_ptr<const uint8_t> owner);

  const size_t record_bytes_;
  const size_t stride_;
  const int chunk_log2_;
  const uint64_t chunk_mask_;
  const size_t chunk_bytes_;
  // The chunk table, read lock-free by At(); it grows by doubling (a copy), and the tables it
  // replaced stay allocated until the arena goes, since readers may still hold them.
  std::atomic<std::atomic<uint8_t*>*> table_{nullptr};
  mutable std::mutex grow_mutex_;
  std::vector<std::unique_ptr<ChunkTable>> tables_;     // guarded by grow_mutex_; last: current
  uint64_t table_capacity_ = 0;                         // guarded by grow_mutex_
  uint64_t num_chunks_ = 0;                             // guarded by grow_mutex_
  std::vector<std::shared_ptr<const uint8_t>> owners_;  // guarded by grow_mutex_; per chunk
  std::atomic<uint64_t> owned_from_{0};  // chunks below this index are adopted, not owned
  std::atomic<size_t> allocated_bytes_{0};
};

}  // namespace arbalest
