#include "index/hnsw_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <vector>

#include "clustered_data.h"
#include "index/hnsw_index.h"

namespace arbalest {
namespace {

constexpr size_t kDim = 64;

class HnswFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("hnsw_file_test_" + std::to_string(::getpid()) + ".idx"))
                .string();
    data_ = testing::ClusteredData(3000, kDim, 11);
    queries_ = testing::ClusteredData(50, kDim, 12);
    index_ = HnswIndex::Make(kDim, Metric::kCosine, simd::ElementType::kFloat16,
                             {.m = 8, .ef_construction = 64, .seed = 3})
                 .ValueOrDie();
    ASSERT_TRUE(testing::AddAll(*index_, data_).ok());
    ASSERT_TRUE(index_->Save(path_).ok());
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // Overwrites the file with its first `size` bytes, with byte `flip` (if any) inverted.
  void Damage(size_t size, size_t flip = SIZE_MAX) {
    std::ifstream in(path_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    bytes.resize(std::min(size, bytes.size()));
    if (flip < bytes.size()) bytes[flip] = static_cast<char>(~bytes[flip]);
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }
  // Both indexes return the same rows for each of queries_ (k = 10).
  void ExpectSameRows(const HnswIndex& a, const HnswIndex& b) const {
    std::vector<Neighbor> want, got;
    for (size_t q = 0; q < queries_.rows(); ++q) {
      ASSERT_TRUE(a.Search(queries_.row(q), {.k = 10}, &want).ok());
      ASSERT_TRUE(b.Search(queries_.row(q), {.k = 10}, &got).ok());
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].row, want[i].row);
    }
  }
  size_t FileSize() const { return std::filesystem::file_size(path_); }
  // The format version field (after the 8-byte magic), read or overwritten.
  uint32_t Version() const {
    uint32_t version = 0;
    std::ifstream(path_, std::ios::binary).seekg(8).read(reinterpret_cast<char*>(&version), 4);
    return version;
  }
  void SetVersion(uint32_t version) {
    std::fstream file(path_, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(8).write(reinterpret_cast<const char*>(&version), 4);
  }
  std::vector<uint8_t> Bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
  }
  template <typename T>
  T Read(size_t offset) const {
    T value;
    std::memcpy(&value, Bytes().data() + offset, sizeof(T));
    return value;
  }
  // Overwrites the bytes at `offset` with `value` and reseals the file (its checksums made
  // right again), as a file damaged in a way no checksum catches.
  template <typename T>
  void PatchResealed(size_t offset, T value) {
    std::vector<uint8_t> bytes = Bytes();
    std::memcpy(bytes.data() + offset, &value, sizeof(value));
    HnswFile::Reseal(bytes);
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  // Where the header keeps section `s`'s offset and byte count (hnsw_file.cc FileHeader and
  // its Section order), and the entry point.
  enum Section { kVectors, kFlags, kLinks0, kLevels, kUpper, kQuantizer };
  static size_t SectionOffsetField(Section s) { return 88 + 24 * static_cast<size_t>(s); }
  static size_t SectionBytesField(Section s) { return SectionOffsetField(s) + 8; }
  static constexpr size_t kEntryField = 80;
  static constexpr size_t kFlagsField = 22;  // version 4
  size_t SectionOffset(Section s) const { return Read<uint64_t>(SectionOffsetField(s)); }
  std::unique_ptr<HnswIndex> MakePq(uint32_t training_rows) const {
    return HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                           {.m = 8,
                            .quantization = Quantization::kPq,
                            .pq_m = 16,
                            .pq_training_rows = training_rows})
        .ValueOrDie();
  }

  std::string path_;
  testing::Dataset data_, queries_;
  std::unique_ptr<HnswIndex> index_;
};

// A graph file written by a build that had index-level deletes (HnswIndex::Delete, gone: the
// store's tombstones are the one delete mechanism) still loads. tests/index/data holds one such
// file, written by HnswIndex::Save of commit 8c73020: 40 rows {i, 7i mod 13, 5i mod 11, 1} of
// float32, L2, M 4, with rows 3, 10 and 20 deleted by Delete (their flag bytes and the header's
// deleted count say so), format version 1. Every row loads as a row like the others (the
// dataset's tombstones, saved beside the graph, say what searches leave out); saved again, the
// file's flags are plain.
TEST_F(HnswFileTest, FileWithIndexLevelDeletesLoads) {
  const std::string old_file =
      std::string(ARBALEST_INDEX_TEST_DATA) + "/hnsw_v1_deleted_flags.hnsw";
  auto loaded = HnswIndex::Load(old_file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  HnswIndex& index = **loaded;
  ASSERT_EQ(index.size(), 40u);
  const auto row_vector = [](RowId i) {
    return std::vector<float>{float(i), float((i * 7) % 13), float((i * 5) % 11), 1.0f};
  };
  const Roaring tombstones = Roaring::bitmapOf(3, 3, 10, 20);
  std::vector<Neighbor> got;
  for (RowId row = 0; row < 40; ++row) {
    ASSERT_TRUE(index.Search(row_vector(row), {.k = 1}, &got).ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].row, row);  // the rows the file flagged deleted included
    EXPECT_EQ(got[0].distance, 0.0f);
    ASSERT_TRUE(index.Search(row_vector(row), {.k = 40, .exclude = &tombstones}, &got).ok());
    EXPECT_EQ(got.size(), 37u);
    for (const Neighbor& n : got) EXPECT_FALSE(tombstones.contains(n.row)) << n.row;
  }
  ASSERT_TRUE(index.Save(path_).ok());
  EXPECT_EQ(Version(), 1u);
  EXPECT_EQ(Read<uint64_t>(72), 0u);  // the header's count of rows flagged deleted
  ASSERT_EQ(Read<uint64_t>(SectionBytesField(kFlags)), 40u);
  const std::vector<uint8_t> bytes = Bytes();
  for (size_t row = 0; row < 40; ++row) EXPECT_EQ(bytes[SectionOffset(kFlags) + row], 1) << row;
  auto again = HnswIndex::Load(path_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE((*again)->Search(row_vector(10), {.k = 1}, &got).ok());
  EXPECT_EQ(got.at(0).row, 10u);
}

TEST_F(HnswFileTest, KeepsWhatInsertsCompare) {
  auto exact = HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                               {.m = 8, .float16_build = false})
                   .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*exact, data_).ok());
  ASSERT_TRUE(exact->Save(path_).ok());
  auto loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_FALSE(loaded->params().float16_build);
  EXPECT_EQ(loaded->memory().vector_bytes, exact->memory().vector_bytes);
}

// A graph built on int8 codes says so in its file; the codes are not saved, so the loaded
// index searches without them and writes them (1 byte per dimension) before its first insert.
TEST_F(HnswFileTest, Int8BuildCodesAreRecordedAndRemadeBeforeTheFirstInsert) {
  auto index =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .int8_build = true})
          .ValueOrDie();
  ASSERT_TRUE(index->AddBatch(data_.values, /*threads=*/2).ok());
  ASSERT_TRUE(index->Save(path_).ok());
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_TRUE(loaded->params().int8_build);
  EXPECT_EQ(loaded->build_element_type(), simd::ElementType::kInt8);
  EXPECT_EQ(loaded->rows_without_build_copies(), 3000);
  ExpectSameRows(*index, *loaded);
  std::vector<Neighbor> got;
  const size_t mapped = loaded->memory().vector_bytes;
  std::vector<float> more(data_.values.begin(), data_.values.begin() + 100 * kDim);
  ASSERT_EQ(loaded->AddBatch(more, /*threads=*/2).ValueOrDie(), 3000u);
  EXPECT_EQ(loaded->rows_without_build_copies(), 0);
  // The codes of all 3100 rows (a 4096-row chunk of 64 bytes each) and the new rows.
  const size_t grown = loaded->memory().vector_bytes - mapped;
  EXPECT_GE(grown, 4096 * kDim);
  EXPECT_LT(grown, 4096 * kDim * 2 + 4096 * kDim * sizeof(float));
  ASSERT_TRUE(loaded->Search(data_.row(5), {.k = 2}, &got).ok());
  EXPECT_TRUE(got[0].row == 5 || got[1].row == 5);
}

// An int8 index whose range was widened (later rows 100x the first ones) saves the range it
// uses (version 4), in a file with its vectors or apart: the loaded index codes new rows in the
// same range, so it grows into the same graph as the index it was saved from (a range learnt
// again from the rows would not be the widened one, and the graphs would differ).
TEST_F(HnswFileTest, Int8RangeWidenedBeforeASaveIsTheOneLoaded) {
  for (const VectorsPlacement placement :
       {VectorsPlacement::kInFile, VectorsPlacement::kSeparateFile}) {
    auto index = HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                                 {.m = 8, .int8_build = true})
                     .ValueOrDie();
    std::vector<float> rows = data_.values;
    std::span<const float> all(rows);
    for (size_t i = 1500 * kDim; i < rows.size(); ++i) rows[i] *= 100.0f;
    ASSERT_TRUE(index->AddBatch(all.first(1000 * kDim), 2).ok());
    ASSERT_TRUE(index->AddBatch(all.subspan(1000 * kDim, 1000 * kDim), 2).ok());
    ASSERT_EQ(index->int8_build_recodes(), 1u);
    const std::vector<float> range = index->int8_build_range();
    ASSERT_TRUE(index->Save(path_, placement).ok());
    EXPECT_EQ(Version(), 4u);
    ExternalVectors vectors{reinterpret_cast<uint8_t*>(rows.data()), 2000, kDim * sizeof(float),
                            nullptr, "vectors.bin"};
    std::unique_ptr<HnswIndex> loaded =
        HnswIndex::Load(path_, placement == VectorsPlacement::kSeparateFile ? &vectors : nullptr)
            .ValueOrDie();
    EXPECT_EQ(loaded->int8_build_range(), range);
    const std::span<const float> more = all.subspan(2000 * kDim, 1000 * kDim);
    ASSERT_TRUE(index->AddBatch(more, 2).ok());
    ASSERT_TRUE(loaded->AddBatch(more, 2).ok());
    EXPECT_EQ(loaded->int8_build_recodes(), 0u);
    EXPECT_EQ(loaded->int8_build_range(), range);
    for (RowId row = 0; row < 3000; row += 7) {
      ASSERT_EQ(loaded->NeighborsOf(row, 0), index->NeighborsOf(row, 0)) << "row " << row;
    }
  }
}

// An int8 graph file written before the range was saved (versions 1 to 3: no flags, no range
// in the quantizer section) loads; its range is learnt again from all its rows and the next
// rows before the first insert, so rows far outside the old ones are still told apart. A saved
// range that is not a finite scale is refused, named.
TEST_F(HnswFileTest, Int8FileWithoutItsRangeLearnsItFromAllRows) {
  auto index =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .int8_build = true})
          .ValueOrDie();
  ASSERT_TRUE(index->AddBatch(data_.values, 2).ok());
  ASSERT_TRUE(index->Save(path_).ok());
  const std::vector<uint8_t> saved = Bytes();
  const uint64_t range_at = SectionOffset(kQuantizer);
  PatchResealed(range_at, std::numeric_limits<float>::quiet_NaN());
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("int8 build range"), std::string::npos) << status.ToString();

  std::ofstream(path_, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(saved.data()),
             static_cast<std::streamsize>(saved.size()));
  PatchResealed(kFlagsField, uint8_t{0});
  PatchResealed(SectionBytesField(kQuantizer), uint64_t{0});
  SetVersion(1);
  PatchResealed(kFlagsField, uint8_t{0});  // (resealed: the version is in the header checksum)
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_TRUE(loaded->int8_build_range().empty());
  ExpectSameRows(*index, *loaded);
  std::vector<float> far(data_.values.begin(), data_.values.begin() + 200 * kDim);
  for (float& x : far) x *= 100.0f;
  ASSERT_TRUE(loaded->AddBatch(far, 2).ok());
  ASSERT_FALSE(loaded->int8_build_range().empty());
  // The range covers the far rows: 127 levels over at least their largest magnitude.
  float largest = 0;
  for (const float x : far) largest = std::max(largest, std::fabs(x));
  EXPECT_LE(loaded->int8_build_range()[0] * largest, 2 * 127.0f);
  std::vector<Neighbor> got;
  for (size_t row = 0; row < 200; row += 10) {
    ASSERT_TRUE(loaded->Search({far.data() + row * kDim, kDim}, {.k = 1}, &got).ok());
    EXPECT_EQ(got.at(0).row, 3000 + row);
  }
}

// An int8 index that gave its codes up for float16 copies (rows along a line in 4 dimensions,
// hnsw_test.cc) saves that choice: the loaded index keeps float16 copies and its int8 request,
// and links more rows with them. A fallback flag beside an int8 range is refused, named.
TEST_F(HnswFileTest, Int8FallbackToFloat16IsTheOneLoaded) {
  std::vector<float> line;
  for (size_t row = 0; row < 4000; ++row) {
    for (int d = 0; d < 4; ++d) line.push_back(static_cast<float>(row) + d / 1000.0f);
  }
  auto index =
      HnswIndex::Make(4, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .int8_build = true})
          .ValueOrDie();
  ASSERT_TRUE(index->AddBatch({line.data(), 3000 * 4}, 2).ok());
  ASSERT_TRUE(index->int8_fell_back());
  ASSERT_TRUE(index->Save(path_).ok());
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_TRUE(loaded->params().int8_build);
  EXPECT_TRUE(loaded->int8_fell_back());
  EXPECT_EQ(loaded->build_element_type(), simd::ElementType::kFloat16);
  EXPECT_TRUE(loaded->int8_build_range().empty());
  ASSERT_TRUE(loaded->AddBatch({line.data() + 3000 * 4, 1000 * 4}, 2).ok());
  EXPECT_EQ(loaded->build_element_type(), simd::ElementType::kFloat16);
  std::vector<Neighbor> got;
  for (size_t row = 3001; row < 4000; row += 50) {
    ASSERT_TRUE(loaded->Search({line.data() + row * 4, 4}, {.k = 1}, &got).ok());
    EXPECT_EQ(got.at(0).row, row);
  }

  ASSERT_TRUE(index->Save(path_).ok());
  PatchResealed(kFlagsField, uint8_t{4 | 2});  // fallback and int8 range
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("int8 fallback flag"), std::string::npos) << status.ToString();
}

TEST_F(HnswFileTest, LoadedIndexReturnsIdenticalResultsAndAcceptsNewRows) {
  arrow::Result<std::unique_ptr<HnswIndex>> result = HnswIndex::Load(path_);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::unique_ptr<HnswIndex> loaded = std::move(result).ValueOrDie();
  EXPECT_EQ(loaded->size(), index_->size());
  EXPECT_EQ(loaded->params().m, 8u);
  std::vector<Neighbor> want, got;
  const Roaring deleted =
      Roaring::bitmapOf(1, 17);  // the store's tombstones, as searches pass them
  for (size_t q = 0; q < queries_.rows(); ++q) {
    ASSERT_TRUE(index_->Search(queries_.row(q), {.k = 10, .exclude = &deleted}, &want).ok());
    ASSERT_TRUE(loaded->Search(queries_.row(q), {.k = 10, .exclude = &deleted}, &got).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].row, want[i].row);
      EXPECT_EQ(got[i].distance, want[i].distance);
      EXPECT_NE(got[i].row, 17u);
    }
  }
  const RowId row = loaded->Add(data_.row(0)).ValueOrDie();
  EXPECT_EQ(row, 3000u);
  ASSERT_TRUE(loaded->Search(data_.row(0), {.k = 2}, &got).ok());
  EXPECT_TRUE(got[0].row == 0 || got[0].row == row);
}

// float16 construction copies are not in the file; a loaded index that is only searched never
// makes them, the first insert after the load does.
TEST_F(HnswFileTest, Float16CopiesWaitForTheFirstInsert) {
  auto index =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, {.m = 8}).ValueOrDie();
  ASSERT_TRUE(index->params().float16_build);
  ASSERT_TRUE(index->AddBatch(data_.values, /*threads=*/2).ok());
  ASSERT_TRUE(index->Save(path_).ok());
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  // The mapped float32 rows (a 4096-row chunk's worth) and flags, but no float16 copies:
  // less than the rows plus copies would take.
  const size_t mapped = loaded->memory().vector_bytes;
  EXPECT_LT(mapped, 4096 * kDim * sizeof(float) + 3000 * kDim * 2);
  std::vector<Neighbor> got;
  ASSERT_TRUE(loaded->Search(queries_.row(0), {.k = 10}, &got).ok());
  EXPECT_EQ(loaded->memory().vector_bytes, mapped);
  std::vector<float> more(data_.values.begin(), data_.values.begin() + 100 * kDim);
  ASSERT_EQ(loaded->AddBatch(more, /*threads=*/2).ValueOrDie(), 3000u);
  // The copies of the 3000 mapped rows (2 bytes per dimension) exist now.
  EXPECT_GE(loaded->memory().vector_bytes, mapped + 3000 * kDim * 2);
  for (RowId row = 3000; row < 3100; ++row) {
    ASSERT_TRUE(loaded->Search(data_.row(row - 3000), {.k = 2}, &got).ok());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].distance, 0.0f);  // the mapped row and its copy just added
  }
}

TEST_F(HnswFileTest, Sq8IndexRoundTrips) {
  std::unique_ptr<HnswIndex> sq8 =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                      {.m = 8, .quantization = Quantization::kSq8, .sq8_training_rows = 500})
          .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*sq8, data_).ok());
  ASSERT_TRUE(sq8->Save(path_).ok());
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_EQ(loaded->params().quantization, Quantization::kSq8);
  ExpectSameRows(*sq8, *loaded);
}

TEST_F(HnswFileTest, PqIndexRoundTripsWithIdenticalResults) {
  std::unique_ptr<HnswIndex> pq = MakePq(1000);
  ASSERT_TRUE(testing::AddAll(*pq, data_).ok());
  ASSERT_TRUE(pq->quantized());
  ASSERT_TRUE(pq->Save(path_).ok());
  EXPECT_EQ(Version(), 2u);
  arrow::Result<std::unique_ptr<HnswIndex>> result = HnswIndex::Load(path_);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::unique_ptr<HnswIndex> loaded = std::move(result).ValueOrDie();
  EXPECT_EQ(loaded->params().quantization, Quantization::kPq);
  EXPECT_EQ(loaded->params().pq_m, 16u);
  EXPECT_EQ(loaded->params().pq_training_rows, 1000u);
  EXPECT_TRUE(loaded->quantized());
  std::vector<Neighbor> want, got;
  for (size_t q = 0; q < queries_.rows(); ++q) {
    ASSERT_TRUE(pq->Search(queries_.row(q), {.k = 10, .ef = 20}, &want).ok());
    ASSERT_TRUE(loaded->Search(queries_.row(q), {.k = 10, .ef = 20}, &got).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].row, want[i].row);
      EXPECT_EQ(got[i].distance, want[i].distance);
    }
  }
  // New rows are encoded with the loaded codebooks, as in the saved index.
  for (std::unique_ptr<HnswIndex>* index : {&pq, &loaded}) {
    ASSERT_EQ((*index)->Add(queries_.row(0)).ValueOrDie(), 3000u);
  }
  ASSERT_TRUE(pq->Search(queries_.row(0), {.k = 3}, &want).ok());
  ASSERT_TRUE(loaded->Search(queries_.row(0), {.k = 3}, &got).ok());
  EXPECT_EQ(got[0].row, 3000u);
  EXPECT_EQ(got[0].row, want[0].row);
}

TEST_F(HnswFileTest, UntrainedPqIndexRoundTripsAndTrainsWhenRowsArrive) {
  std::unique_ptr<HnswIndex> pq = MakePq(3001);
  ASSERT_TRUE(testing::AddAll(*pq, data_).ok());
  ASSERT_FALSE(pq->quantized());
  ASSERT_TRUE(pq->Save(path_).ok());
  std::unique_ptr<HnswIndex> loaded = HnswIndex::Load(path_).ValueOrDie();
  EXPECT_FALSE(loaded->quantized());
  EXPECT_EQ(loaded->params().pq_training_rows, 3001u);
  ASSERT_TRUE(loaded->Add(queries_.row(0)).ok());
  EXPECT_TRUE(loaded->quantized());
  std::vector<Neighbor> got;
  ASSERT_TRUE(loaded->Search(data_.row(7), {.k = 1}, &got).ok());
  EXPECT_EQ(got.at(0).row, 7u);
}

TEST_F(HnswFileTest, OnlyPqIndexesNeedVersion2) {
  EXPECT_EQ(Version(), 1u);  // the fixture's float16 index
  std::unique_ptr<HnswIndex> sq8 =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                      {.quantization = Quantization::kSq8, .sq8_training_rows = 500})
          .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*sq8, data_).ok());
  ASSERT_TRUE(sq8->Save(path_).ok());
  EXPECT_EQ(Version(), 1u);
}

TEST_F(HnswFileTest, NewerVersionIsRefused) {
  SetVersion(5);
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("format version 5"), std::string::npos) << status.ToString();
}

// A graph saved without its vectors (a snapshot keeps them in its vectors file) maps them from
// the memory it is given and answers as the graph it was saved from; without them, or with
// too few rows, it is refused naming the problem.
TEST_F(HnswFileTest, GraphWithVectorsApartLoadsThemFromTheGivenMemory) {
  auto index = HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                               {.m = 8, .ef_construction = 64, .seed = 3})
                   .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*index, data_).ok());
  ASSERT_TRUE(index->Save(path_, VectorsPlacement::kSeparateFile).ok());
  EXPECT_EQ(Version(), 3u);
  const size_t row_bytes = kDim * sizeof(float);
  EXPECT_LT(FileSize(), data_.values.size() * sizeof(float));  // the vectors are not in it
  // What Read needs, told by the header alone (the fuzzer makes such vectors up).
  const auto needed = HnswFile::VectorsApart(Bytes());
  ASSERT_TRUE(needed.has_value());
  EXPECT_EQ(needed->rows, data_.rows());
  EXPECT_EQ(needed->row_bytes, row_bytes);
  auto rows = std::make_shared<std::vector<float>>(data_.values);
  ExternalVectors vectors{reinterpret_cast<uint8_t*>(rows->data()), data_.rows(), row_bytes, rows,
                          "vectors.bin"};
  auto loaded = HnswIndex::Load(path_, &vectors);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (size_t q = 0; q < queries_.rows(); ++q) {
    std::vector<Neighbor> want, got;
    ASSERT_TRUE(index->Search(queries_.row(q), {.k = 10}, &want).ok());
    ASSERT_TRUE((*loaded)->Search(queries_.row(q), {.k = 10}, &got).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].row, want[i].row);
  }

  const arrow::Status none = HnswIndex::Load(path_).status();
  EXPECT_TRUE(none.IsInvalid());
  EXPECT_NE(none.message().find("separate file"), std::string::npos) << none.ToString();
  const std::vector<uint8_t> apart = Bytes();
  ASSERT_TRUE(index->Save(path_).ok());  // the vectors in the file: nothing needed
  EXPECT_FALSE(HnswFile::VectorsApart(Bytes()).has_value());
  EXPECT_FALSE(HnswFile::VectorsApart(std::span(apart).first(100)).has_value());  // no header
  ASSERT_TRUE(index->Save(path_, VectorsPlacement::kSeparateFile).ok());
  vectors.rows = data_.rows() - 1;
  const arrow::Status short_file = HnswIndex::Load(path_, &vectors).status();
  EXPECT_TRUE(short_file.IsInvalid());
  EXPECT_NE(short_file.message().find("vectors.bin holds"), std::string::npos)
      << short_file.ToString();
}

// A graph streamed from memory (a sealed segment sent to a replica) is byte for byte the file
// Save writes, read in any pieces: for each kind of index the format holds (float16 copies,
// int8 build codes with their range, SQ8 and PQ codes, vectors kept apart, no rows). The
// streamed bytes load and answer as the index they came from.
TEST_F(HnswFileTest, StreamedFileIsTheSavedFileReadInAnyPieces) {
  std::vector<std::pair<std::string, std::shared_ptr<HnswIndex>>> indexes;
  indexes.emplace_back("float16 copies", std::move(index_));
  auto int8 =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .int8_build = true})
          .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*int8, data_).ok());
  ASSERT_FALSE(int8->int8_build_range().empty());
  indexes.emplace_back("int8 build codes", std::move(int8));
  auto sq8 = HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                             {.m = 8, .quantization = Quantization::kSq8, .sq8_training_rows = 500})
                 .ValueOrDie();
  ASSERT_TRUE(testing::AddAll(*sq8, data_).ok());
  indexes.emplace_back("sq8", std::move(sq8));
  std::shared_ptr<HnswIndex> pq = MakePq(1000);
  ASSERT_TRUE(testing::AddAll(*pq, data_).ok());
  ASSERT_TRUE(pq->quantized());
  indexes.emplace_back("pq", std::move(pq));
  indexes.emplace_back("empty", HnswIndex::Make(kDim, Metric::kL2).ValueOrDie());

  std::mt19937_64 rng(5);
  for (const auto& [name, index] : indexes) {
    for (VectorsPlacement placement :
         {VectorsPlacement::kInFile, VectorsPlacement::kSeparateFile}) {
      SCOPED_TRACE(name + (placement == VectorsPlacement::kInFile ? ", vectors in the file"
                                                                  : ", vectors apart"));
      ASSERT_TRUE(index->Save(path_, placement).ok());
      const std::vector<uint8_t> saved = Bytes();
      auto stream = HnswFileStream::Open(index, placement);
      ASSERT_TRUE(stream.ok()) << stream.status().ToString();
      ASSERT_EQ((*stream)->size(), saved.size());
      // Front to back in pieces of random sizes, as a sender reads it.
      std::vector<uint8_t> streamed(saved.size());
      for (size_t at = 0; at < streamed.size();) {
        const size_t n = std::min<size_t>(streamed.size() - at, 1 + rng() % 20000);
        ASSERT_TRUE((*stream)->ReadAt(at, {streamed.data() + at, n}).ok());
        at += n;
      }
      EXPECT_TRUE(streamed == saved);
      // Any range on its own.
      for (int i = 0; i < 50; ++i) {
        const size_t at = rng() % (saved.size() + 1);
        const size_t n = rng() % (saved.size() - at + 1);
        std::vector<uint8_t> piece(n);
        ASSERT_TRUE((*stream)->ReadAt(at, piece).ok());
        EXPECT_TRUE(std::equal(piece.begin(), piece.end(), saved.begin() + at)) << at << "+" << n;
      }
      std::vector<uint8_t> past(2);
      const arrow::Status beyond = (*stream)->ReadAt(saved.size() - 1, past);
      EXPECT_TRUE(beyond.IsInvalid()) << beyond.ToString();
    }
    // The streamed file loads and answers as the index.
    auto stream = HnswFileStream::Open(index).ValueOrDie();
    std::vector<uint8_t> streamed(stream->size());
    ASSERT_TRUE(stream->ReadAt(0, streamed).ok());
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(streamed.data()),
               static_cast<std::streamsize>(streamed.size()));
    auto loaded = HnswIndex::Load(path_);
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().ToString();
    EXPECT_EQ((*loaded)->size(), index->size());
    if (index->size() > 0) ExpectSameRows(*index, **loaded);
  }
}

TEST_F(HnswFileTest, EmptyIndexRoundTrips) {
  auto empty = HnswIndex::Make(kDim, Metric::kL2).ValueOrDie();
  ASSERT_TRUE(empty->Save(path_).ok());
  auto loaded = HnswIndex::Load(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), 0u);
  std::vector<Neighbor> got;
  ASSERT_TRUE((*loaded)->Search(queries_.row(0), {.k = 5}, &got).ok());
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE((*loaded)->Add(data_.row(0)).ok());
  ASSERT_TRUE((*loaded)->Search(data_.row(0), {.k = 5}, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].row, 0u);
}

TEST_F(HnswFileTest, TruncatedFileIsRefused) {
  Damage(FileSize() - 100);
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status.ToString();
  Damage(10);
  EXPECT_NE(HnswIndex::Load(path_).status().message().find("truncated"), std::string::npos);
}

TEST_F(HnswFileTest, CorruptFileIsRefused) {
  Damage(FileSize(), FileSize() - 1000);
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("checksum"), std::string::npos) << status.ToString();
  Damage(FileSize(), 20);  // a header field
  EXPECT_NE(HnswIndex::Load(path_).status().message().find("header checksum"), std::string::npos);
  Damage(FileSize(), 0);  // the magic
  EXPECT_NE(HnswIndex::Load(path_).status().message().find("magic"), std::string::npos);
}

// Found by fuzz_hnsw_file: offset + bytes wrapped around, passed the bounds check and the
// checksum was computed over memory outside the mapping.
TEST_F(HnswFileTest, SectionPastTheEndOfTheAddressSpaceIsRefused) {
  PatchResealed(SectionOffsetField(kLevels), ~uint64_t{0} - 7);
  PatchResealed(SectionBytesField(kLevels), uint64_t{4096});
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find("truncated (section levels"), std::string::npos)
      << status.ToString();
}

// Found by fuzz_hnsw_file: an int8 build range after a quantizer state of a length that is no
// whole number of floats was read misaligned (under UBSan); so would be a section whose offset
// is not where any writer puts one (a 4096-byte boundary).
TEST_F(HnswFileTest, SectionOffTheSectionAlignmentIsRefused) {
  const uint64_t misaligned = SectionOffset(kLevels) + 1;
  PatchResealed(SectionOffsetField(kLevels), misaligned);
  const arrow::Status status = HnswIndex::Load(path_).status();
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find("section levels at " + std::to_string(misaligned) +
                                  ", not on a 4096-byte boundary"),
            std::string::npos)
      << status.ToString();

  auto int8 =
      HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .int8_build = true})
          .ValueOrDie();
  ASSERT_TRUE(int8->AddBatch(data_.values, /*threads=*/2).ok());
  ASSERT_TRUE(int8->Save(path_).ok());
  ASSERT_TRUE(HnswIndex::Load(path_).ok());
  // A quantizer section a byte longer: the range at its end would start on an odd byte.
  PatchResealed(SectionBytesField(kQuantizer), Read<uint64_t>(SectionBytesField(kQuantizer)) + 1);
  const arrow::Status odd = HnswIndex::Load(path_).status();
  EXPECT_TRUE(odd.IsInvalid()) << odd.ToString();
  EXPECT_NE(odd.message().find("an int8 build range that does not fit"), std::string::npos)
      << odd.ToString();
}

// Found by fuzz_hnsw_file: a graph whose links lead outside it loaded, and the first search
// followed them (a null list of a row without upper levels).
TEST_F(HnswFileTest, GraphWithLinksOutsideItIsRefused) {
  const std::vector<uint8_t> pristine = Bytes();
  const auto expect_refused = [&](std::string_view what) {
    const arrow::Status status = HnswIndex::Load(path_).status();
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_NE(status.message().find(what), std::string::npos) << status.ToString();
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(pristine.data()),
               static_cast<std::streamsize>(pristine.size()));
  };
  // Row 0's first level-0 link names a row past the last.
  PatchResealed(SectionOffset(kLinks0) + 4, uint32_t{3000 + 5});
  expect_refused("links to row 3005");

  // The first row with upper levels links at level 1 to a row that has none.
  const uint8_t* levels = pristine.data() + SectionOffset(kLevels);
  size_t upper = SectionOffset(kUpper);
  uint32_t row = 0;
  while (levels[row] == 0) ++row;
  uint32_t flat = 0;
  while (levels[flat] != 0) ++flat;
  PatchResealed(upper + 4, flat);  // [count, first link, ...] of `row` at level 1
  expect_refused("which is not in the graph at level 1");

  // A list longer than its room (2 * m at level 0).
  PatchResealed(SectionOffset(kLinks0), uint32_t{17});
  expect_refused("17 links at level 0, room for 16");

  // An entry point claiming a level its row does not have.
  const uint64_t entry = Read<uint64_t>(kEntryField);
  PatchResealed(kEntryField, (entry & 0xFFFFFFFF) | uint64_t{200} << 32);
  expect_refused("entry point is above");
}

// Found by fuzz_hnsw_file: an element type byte past the known ones indexed the kernel table
// out of bounds.
TEST_F(HnswFileTest, UnknownEnumValuesAreRefused) {
  const std::vector<uint8_t> pristine = Bytes();
  for (size_t field : {size_t{16}, size_t{17}, size_t{18}}) {  // metric, element type, quantization
    PatchResealed(field, uint8_t{161});
    const arrow::Status status = HnswIndex::Load(path_).status();
    EXPECT_TRUE(status.IsInvalid()) << field << ": " << status.ToString();
    EXPECT_NE(status.message().find("unknown metric, element type or quantization"),
              std::string::npos)
        << status.ToString();
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(pristine.data()),
               static_cast<std::streamsize>(pristine.size()));
  }
}

TEST_F(HnswFileTest, MissingFileIsAnIOError) {
  EXPECT_TRUE(HnswIndex::Load(path_ + ".missing").status().IsIOError());
}

}  // namespace
}  // namespace arbalest
