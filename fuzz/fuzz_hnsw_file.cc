// The HNSW graph file loader (index/hnsw_file.h): an input is the content of an HNSW graph
// file (a one-graph snapshot's index.hnsw, or a segment's graph whose vectors are apart, given
// then as a buffer of the rows its header names), resealed (HnswFile::Reseal: its checksums made
// right) so that the fuzzer reaches the checks and the loading behind them, then loaded. An index
// that loads is used as a restored dataset uses it: searched, grown by a row, searched again with a
// row excluded (as the store passes its tombstones), saved and loaded again. Every input must end
// in an index or an error Status, never a crash.
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

// The header's vector width (after the 8-byte magic and the 4-byte version).
constexpr size_t kDimOffset = 12;
// The most vector bytes given to a graph that keeps its vectors apart.
constexpr uint64_t kMaxExternalBytes = uint64_t{1} << 24;
// Widths above this are left out: the loader allocates what an index of the width it reads needs
// (PQ's codebooks: 1 KiB per dimension) before the rows can contradict it, which would only
// measure the allocator. A put accepts any width today; a maximum width at put is the bound the
// loader should then check too.
constexpr uint32_t kMaxDim = 65536;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("hnsw_file");
  uint32_t dim = 0;
  if (size >= kDimOffset + sizeof(dim)) std::memcpy(&dim, data + kDimOffset, sizeof(dim));
  if (dim > kMaxDim) return 0;
  std::vector<uint8_t> file(data, data + size);
  arbalest::HnswFile::Reseal(file);
  const std::string path = scratch / "index.hnsw";
  arbalest::fuzz::WriteFile(path, file.data(), file.size());
  // A segment's graph keeps its vectors in the segment's vectors file: given here as the rows
  // the header names (within a bound), of small integers, so that the loader gets past them.
  std::vector<uint8_t> vector_bytes;
  arbalest::ExternalVectors vectors;
  const auto needed = arbalest::HnswFile::VectorsApart(file);
  if (needed && needed->row_bytes > 0 && needed->rows <= kMaxExternalBytes / needed->row_bytes) {
    vector_bytes.resize(needed->rows * needed->row_bytes);
    for (size_t i = 0; i < vector_bytes.size(); ++i) vector_bytes[i] = i % 5;
    vectors = {.data = vector_bytes.data(),
               .rows = needed->rows,
               .row_bytes = needed->row_bytes,
               .path = "vectors"};
  }
  auto index = arbalest::HnswFile::Read(path, vectors.data != nullptr ? &vectors : nullptr);
  if (index.ok()) (void)arbalest::fuzz::Use(**index, scratch / "copy.hnsw");
  return 0;
}
