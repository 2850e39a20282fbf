#include "index/record_arena.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace arbalest {
namespace {

TEST(RecordArenaTest, RecordsAreAlignedZeroedAndNeverMove) {
  RecordArena arena(/*record_bytes=*/100, /*record_align=*/16, /*chunk_log2=*/4);
  EXPECT_EQ(arena.stride(), 112u);
  ASSERT_TRUE(arena.Reserve(10));
  uint8_t* first = arena.At(0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  EXPECT_EQ(first[99], 0);
  first[0] = 7;
  ASSERT_TRUE(arena.Reserve(1000));
  EXPECT_EQ(arena.At(0), first);
  EXPECT_EQ(arena.At(0)[0], 7);
  EXPECT_EQ(arena.At(17) - arena.At(16), 112);
  EXPECT_EQ(arena.allocated_bytes(), 63u * 16 * 112);  // ceil(1000 / 16) chunks
}

// Chunks of 2 MiB or more start on a 2 MiB boundary, so that the kernel can back them with
// huge pages (whether it does depends on its transparent huge page setting).
TEST(RecordArenaTest, LargeChunksAreHugePageAligned) {
  RecordArena vectors(/*record_bytes=*/1536, /*record_align=*/16);  // 4096 rows: 6 MiB chunks
  ASSERT_TRUE(vectors.Reserve(5000));
  for (uint64_t chunk_start : {0u, 4096u}) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(vectors.At(chunk_start)) % (2u << 20), 0u);
  }
  EXPECT_EQ(vectors.At(4095)[1535], 0);  // zeroed to the last byte
  EXPECT_EQ(vectors.allocated_bytes(), 2u * 4096 * 1536);
}

// A chunk holds at most kTargetChunkBytes of records (a power of two of them, at least one), so
// the first row of a very wide dataset does not reserve 4096 rows of memory.
TEST(RecordArenaTest, WideRecordsGetChunksSizedToTheirWidth) {
  constexpr size_t kWide = 100'000 * sizeof(float);  // 400,000 bytes: 16 fit in 8 MiB
  RecordArena wide(kWide, 16);
  EXPECT_EQ(wide.records_per_chunk(), 16u);
  ASSERT_TRUE(wide.Reserve(2));
  EXPECT_EQ(wide.allocated_bytes(), 16 * kWide);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(wide.At(0)) % (2u << 20), 0u);  // 6.4 MB: huge pages
  ASSERT_TRUE(wide.Reserve(17));
  EXPECT_EQ(wide.allocated_bytes(), 32 * kWide);
  EXPECT_EQ(wide.At(16)[kWide - 1], 0);

  constexpr size_t kHuge = 3'000'000 * sizeof(float);  // one record is beyond the target
  RecordArena huge(kHuge, 16);
  EXPECT_EQ(huge.records_per_chunk(), 1u);
  ASSERT_TRUE(huge.Reserve(2));
  EXPECT_EQ(huge.allocated_bytes(), 2 * kHuge);
  EXPECT_EQ(huge.At(1)[kHuge - 1], 0);

  // Narrow records keep 4096 per chunk: 384 float32 dimensions are 6 MiB a chunk.
  EXPECT_EQ(RecordArena(384 * sizeof(float), 16).records_per_chunk(), 4096u);
  EXPECT_EQ(RecordArena(1, 1).records_per_chunk(), 4096u);
  EXPECT_EQ(RecordArena::ChunkBytesFor(1024 * sizeof(float), 16), 2048u * 4096);
  EXPECT_EQ(RecordArena::ChunkBytesFor(kWide, 16), 16 * kWide);
  EXPECT_EQ(RecordArena(8, 8).allocated_bytes(), 0u);  // nothing until the first Reserve
}

// Reserving many chunks grows the chunk table while other threads read records through it.
TEST(RecordArenaTest, ConcurrentReadsWhileTheChunkTableGrows) {
  RecordArena arena(8, 8, 0);  // one record per chunk: the table grows often
  ASSERT_TRUE(arena.Reserve(1));
  *reinterpret_cast<uint64_t*>(arena.At(0)) = 42;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) ASSERT_EQ(*reinterpret_cast<uint64_t*>(arena.At(0)), 42u);
  });
  for (uint64_t i = 1; i < 5000; ++i) {
    ASSERT_TRUE(arena.Reserve(i + 1));
    *reinterpret_cast<uint64_t*>(arena.At(i)) = i;
  }
  done = true;
  reader.join();
  for (uint64_t i = 1; i < 5000; ++i) EXPECT_EQ(*reinterpret_cast<uint64_t*>(arena.At(i)), i);
}

TEST(RecordArenaTest, ConcurrentReserveAndWrite) {
  RecordArena arena(8, 8, 6);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&arena, t] {
      for (uint64_t i = t; i < 4000; i += 4) {
        ASSERT_TRUE(arena.Reserve(i + 1));
        *reinterpret_cast<uint64_t*>(arena.At(i)) = i;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (uint64_t i = 0; i < 4000; ++i) EXPECT_EQ(*reinterpret_cast<uint64_t*>(arena.At(i)), i);
}

TEST(RecordArenaTest, AdoptedRecordsAreUsedInPlaceAndTheLastChunkCopied) {
  std::vector<uint64_t> external(20);
  for (uint64_t i = 0; i < external.size(); ++i) external[i] = i * 3;
  RecordArena arena(8, 8, 3);  // 8 records per chunk
  ASSERT_TRUE(arena.AdoptContiguous(reinterpret_cast<uint8_t*>(external.data()), 20));
  EXPECT_EQ(arena.At(9), reinterpret_cast<uint8_t*>(&external[9]));
  EXPECT_NE(arena.At(17), reinterpret_cast<uint8_t*>(&external[17]));
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(arena.At(19)), 57u);
  ASSERT_TRUE(arena.Reserve(30));
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(arena.At(29)), 0u);
}

TEST(RecordArenaTest, ALentChunkOutlivesTheArena) {
  std::shared_ptr<const uint8_t> lent;
  {
    RecordArena arena(8, 8, 3);
    ASSERT_TRUE(arena.Reserve(20));
    *reinterpret_cast<uint64_t*>(arena.At(9)) = 99;
    lent = arena.ChunkOwner(9);
    EXPECT_EQ(lent.get(), arena.At(8));
    EXPECT_TRUE(arena.Owns(9));
    EXPECT_EQ(arena.ChunkOwner(100), nullptr);  // beyond the reserved chunks
  }
  EXPECT_EQ(*reinterpret_cast<const uint64_t*>(lent.get() + 8), 99u);
}

TEST(RecordArenaTest, AdoptedChunksAreLentThroughTheirOwner) {
  auto external = std::make_shared<std::vector<uint64_t>>(20, 5);
  uint8_t* base = reinterpret_cast<uint8_t*>(external->data());
  RecordArena arena(8, 8, 3);
  ASSERT_TRUE(arena.AdoptContiguous(base, 20, external));
  EXPECT_FALSE(arena.Owns(15));
  EXPECT_TRUE(arena.Owns(17));  // the copied last chunk
  auto lent = arena.ChunkOwner(10);
  EXPECT_EQ(lent.get(), base + 8 * 8);
  EXPECT_EQ(external.use_count(), 4);  // ours and the two adopted chunks' owners, and `lent`
  RecordArena unowned(8, 8, 3);
  ASSERT_TRUE(unowned.AdoptContiguous(base, 20));
  EXPECT_EQ(unowned.ChunkOwner(3), nullptr);
}

}  // namespace
}  // namespace arbalest
