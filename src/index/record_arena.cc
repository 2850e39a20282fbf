#include "index/record_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace arbalest {
namespace {

constexpr size_t kChunkAlign = 64;
constexpr size_t kHugePage = size_t{2} << 20;
std::atomic<bool> use_huge_pages{true};

size_t RoundUp(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// A zeroed, aligned chunk freed when its last owner goes; null when out of memory. Chunks of
// 2 MiB or more start on a 2 MiB boundary and ask for transparent huge pages: a graph search
// reads rows scattered over the whole arena, and with 4 KiB pages nearly every row it reads
// is also a TLB miss.
std::shared_ptr<uint8_t> AllocateChunk(size_t bytes) {
  const bool huge = bytes >= kHugePage && use_huge_pages.load(std::memory_order_relaxed);
  const size_t align = huge ? kHugePage : kChunkAlign;
  // aligned_alloc wants a multiple of the alignment; the tail past `bytes` is never touched,
  // so it costs address space, not memory.
  void* p = std::aligned_alloc(align, RoundUp(bytes, align));
  if (p == nullptr) return nullptr;
  if (huge) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // a hint: may be refused
  std::memset(p, 0, bytes);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p),
                                  [](uint8_t* chunk) { std::free(chunk); });
}

}  // namespace

int RecordArena::ChunkLog2For(size_t stride, int max_chunk_log2) {
  int log2 = max_chunk_log2;
  while (log2 > 0 && (stride << log2) > kTargetChunkBytes) --log2;
  return log2;
}

size_t RecordArena::StrideFor(size_t record_bytes, size_t record_align) {
  return RoundUp(record_bytes, record_align);
}

size_t RecordArena::ChunkBytesFor(size_t record_bytes, size_t record_align, int max_chunk_log2) {
  const size_t stride = StrideFor(record_bytes, record_align);
  return stride << ChunkLog2For(stride, max_chunk_log2);
}

RecordArena::RecordArena(size_t record_bytes, size_t record_align, int max_chunk_log2)
    : record_bytes_(record_bytes),
      stride_(StrideFor(record_bytes, record_align)),
      chunk_log2_(ChunkLog2For(stride_, max_chunk_log2)),
      chunk_mask_((uint64_t{1} << chunk_log2_) - 1),
      chunk_bytes_(stride_ << chunk_log2_) {}

void RecordArena::SetHugePages(bool on) { use_huge_pages.store(on, std::memory_order_relaxed); }

RecordArena::~RecordArena() = default;  // owners_ frees the chunks no one else holds

void RecordArena::GrowTable(uint64_t chunks) {
  if (chunks <= table_capacity_) return;
  const uint64_t capacity = std::max(chunks, 2 * table_capacity_);
  auto table = std::make_unique<ChunkTable>(capacity);
  for (uint64_t c = 0; c < num_chunks_; ++c) {
    table[c].store(tables_.back()[c].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  table_.store(table.get(), std::memory_order_release);
  tables_.push_back(std::move(table));
  table_capacity_ = capacity;
}

void RecordArena::AddChunk(uint8_t* chunk, std::shared_ptr<const uint8_t> owner) {
  GrowTable(num_chunks_ + 1);
  tables_.back()[num_chunks_].store(chunk, std::memory_order_release);
  owners_.push_back(std::move(owner));
  ++num_chunks_;
}

bool RecordArena::Reserve(uint64_t count) {
  const uint64_t needed = (count + chunk_mask_) >> chunk_log2_;
  if (needed > kMaxChunks) return false;
  std::lock_guard lock(grow_mutex_);
  if (num_chunks_ >= needed) return true;
  GrowTable(needed);
  while (num_chunks_ < needed) {
    std::shared_ptr<uint8_t> chunk = AllocateChunk(chunk_bytes_);
    if (chunk == nullptr) return false;
    allocated_bytes_.fetch_add(chunk_bytes_, std::memory_order_relaxed);
    uint8_t* data = chunk.get();
    AddChunk(data, std::move(chunk));
  }
  return true;
}

void RecordArena::Clear() {
  std::lock_guard lock(grow_mutex_);
  for (uint64_t c = 0; c < num_chunks_; ++c) {
    tables_.back()[c].store(nullptr, std::memory_order_relaxed);
  }
  owners_.clear();
  num_chunks_ = 0;
  owned_from_.store(0);
  allocated_bytes_.store(0, std::memory_order_relaxed);
}

std::shared_ptr<const uint8_t> RecordArena::ChunkOwner(uint64_t i) const {
  std::lock_guard lock(grow_mutex_);
  const uint64_t chunk = i >> chunk_log2_;
  return chunk < owners_.size() ? owners_[chunk] : nullptr;
}

bool RecordArena::AdoptContiguous(uint8_t* base, uint64_t count,
                                  std::shared_ptr<const void> owner) {
  std::lock_guard lock(grow_mutex_);
  const uint64_t full = count >> chunk_log2_;
  if (full + 1 > kMaxChunks) return false;
  GrowTable(full + 1);
  for (uint64_t c = 0; c < full; ++c) {
    uint8_t* chunk = base + c * chunk_bytes_;
    // Aliasing pointers: each holds `owner`, and points at its chunk.
    AddChunk(chunk, owner ? std::shared_ptr<const uint8_t>(owner, chunk) : nullptr);
  }
  owned_from_.store(full);
  const uint64_t rest = count & chunk_mask_;
  if (rest == 0) return true;
  std::shared_ptr<uint8_t> chunk = AllocateChunk(chunk_bytes_);
  if (chunk == nullptr) return false;
  std::memcpy(chunk.get(), base + full * chunk_bytes_, rest * stride_);
  allocated_bytes_.fetch_add(chunk_bytes_, std::memory_order_relaxed);
  uint8_t* data = chunk.get();
  AddChunk(data, std::move(chunk));
  return true;
}

}  // namespace arbalest
