// The HNSW graph file loader (index/hnsw_file.h): an input is the content of an HNSW graph
// file (a one-graph snapshot's index.hnsw, or a segment's graph whose vectors are apart, given
// then as a buffer of the rows its header names), resealed (HnswFile::Reseal: its checksums made right) so that the fuzzer reaches the
// checks and the loading behind them, then loaded. An index that loads is used as a restored
// dataset uses it: searched, grown by a row, searched again with a row excluded (as the store
// passes its tombstones), saved and loaded again. Every input must end in an index or an error
// Status, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "index/hnsw_file.h"
#include "index/hnsw_index.h"

namespace arbalest::fuzz {
namespace {

// Query and row values: small integers, which every element type (int8, uint8 too) holds.
std::vector<float> Vector(size_t dim, int seed) {
  std::vector<float> vector(dim);
  for (size_t i = 0; i < dim; ++i) vector[i] = static_cast<float>((i * 7 + seed) % 11);
  return vector;
}

arrow::Status Use(HnswIndex& index, const std::string& copy_path) {
  const size_t dim = index.dim();
  std::vector<Neighbor> found;
  ARROW_RETURN_NOT_OK(index.Search(Vector(dim, 1), {.k = 5}, &found));
  ARROW_RETURN_NOT_OK(index.Add(Vector(dim, 2)).status());
  const Roaring deleted = Roaring::bitmapOf(1, 0);  // as the store passes its tombstones
  ARROW_RETURN_NOT_OK(index.Search(Vector(dim, 3), {.k = 3, .ef = 8, .exclude = &deleted}, &found));
  ARROW_RETURN_NOT_OK(index.Save(copy_path));
  return HnswIndex::Load(copy_path).status();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

// Header fields (index/hnsw_file.cc FileHeader): the vector width after the 8-byte magic and
// the 4-byte version; the flags byte; a row's bytes; the number of rows.
constexpr size_t kVersionOffset = 8;
constexpr size_t kDimOffset = 12;
constexpr size_t kFlagsOffset = 22;
constexpr size_t kRowStrideOffset = 36;
constexpr size_t kRowsOffset = 64;
constexpr uint8_t kExternalVectorsFlag = 1;
constexpr uint32_t kExternalVectorsVersion = 3;
// The most vector bytes given to a graph that keeps its vectors apart.
constexpr uint64_t kMaxExternalBytes = uint64_t{1} << 24;
// Widths above this are left out: the loader allocates what an index of the width it reads needs
// (PQ's codebooks: 1 KiB per dimension) before the rows can contradict it, which would only
// measure the allocator. A put accepts any width today; a maximum width at put is the bound the
// loader should then check too.
constexpr uint32_t kMaxDim = 65536;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("hnsw_file");
  auto field = [&]<typename T>(size_t offset, T value) {
    if (size >= offset + sizeof(T)) std::memcpy(&value, data + offset, sizeof(T));
    return value;
  };
  const uint32_t dim = field(kDimOffset, uint32_t{0});
  if (dim > kMaxDim) return 0;
  std::vector<uint8_t> file(data, data + size);
  arbalest::HnswFile::Reseal(file);
  const std::string path = scratch / "index.hnsw";
  arbalest::fuzz::WriteFile(path, file.data(), file.size());
  // A segment's graph keeps its vectors in the segment's vectors file: given here as the rows
  // the header names (within a bound), of small integers, so that the loader gets past them.
  std::vector<uint8_t> vector_bytes;
  arbalest::ExternalVectors vectors;
  const bool apart = field(kVersionOffset, uint32_t{0}) == kExternalVectorsVersion ||
                     (field(kFlagsOffset, uint8_t{0}) & kExternalVectorsFlag) != 0;
  const uint32_t row_stride = field(kRowStrideOffset, uint32_t{0});
  const uint64_t rows = field(kRowsOffset, uint64_t{0});
  if (apart && row_stride > 0 && rows <= kMaxExternalBytes / row_stride) {
    vector_bytes.resize(rows * row_stride);
    for (size_t i = 0; i < vector_bytes.size(); ++i) vector_bytes[i] = i % 5;
    vectors = {.data = vector_bytes.data(), .rows = rows, .row_bytes = row_stride,
               .path = "vectors"};
  }
  auto index = arbalest::HnswFile::Read(path, vectors.data != nullptr ? &vectors : nullptr);
  if (index.ok()) (void)arbalest::fuzz::Use(**index, scratch / "copy.hnsw");
  return 0;
}
