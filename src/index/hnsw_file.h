// The on-disk form of an HnswIndex, written by Save() and mapped by Load() without rebuilding
// the graph. Little-endian, version 1, 2, 3 or 4 (the same layout; 2 when it holds a PQ index,
// so that readers of version 1 refuse it; 3 when its vectors section is empty because the
// vectors are kept in a file of their own, a snapshot's append-only vectors file, which Read
// then maps from ExternalVectors; 4 when it carries the range of its int8 build codes, its
// header's flags byte then saying where the vectors are and that the range is there, or, for
// an index that asked for int8 codes and gave them up (HnswIndex's int8 fallback), that it
// uses float16 copies):
//
//   header (FileHeader below), its own XXH3 checksum last
//   sections, each starting on a 4 KiB boundary and checksummed in the header:
//     vectors  rows x row stride bytes   (mapped in place)
//     flags    rows bytes                (mapped in place; 1: the row is written. Files of
//                                          builds that had index-level deletes also hold 3,
//                                          a row flagged deleted: loaded as written, as the
//                                          store's tombstones alone say what is deleted)
//     links0   rows x level-0 list bytes (mapped in place)
//     levels   rows bytes                (each row's top level)
//     upper    for each row above level 0, level x (m + 1) uint32 (copied: ~1/m of rows)
//     quantizer what the SQ8 or PQ quantizer learnt, float32 (Quantizer::State(): SQ8 min
//               then max per dimension, PQ codebooks; empty until trained), then, version 4
//               with the int8-range flag, the int8 build codes' range: 1 + dim float32
//               (Int8BuildCodes::State(): the inverse scale, then the per-dimension offsets).
//               Older files have none: their range is learnt again from all their rows
//               before the first insert after the load
//     codes     rows x code stride bytes (mapped in place; empty until trained)
//
// The mapping is private and writable: links of mapped rows can change after a load (new rows
// are linked in) without touching the file.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace arbalest {

class HnswIndex;
struct HnswFileLayout;  // hnsw_file.cc: where each byte of an index file comes from

// Where Write puts the rows' vectors: in the file (its vectors section), or nowhere because
// the caller keeps them in a file of its own, byte for byte as the index stores them (rows of
// HnswIndex row stride bytes, back to back), and hands them to Read as ExternalVectors.
enum class VectorsPlacement { kInFile, kSeparateFile };

// Rows of vectors, mapped from a file, for Read of a graph written with kSeparateFile: at
// least the graph's rows, `row_bytes` each (the index's row stride), back to back.
struct ExternalVectors {
  uint8_t* data = nullptr;
  uint64_t rows = 0;
  size_t row_bytes = 0;
  std::shared_ptr<const void> owner;  // keeps `data` alive
  std::string path;                   // for messages
};

class HnswFile {
 public:
  // Writes `index` to `path` (replacing it). Not concurrent with Add on `index`.
  static arrow::Status Write(const HnswIndex& index, const std::string& path,
                             VectorsPlacement placement = VectorsPlacement::kInFile);
  // Maps the index at `path`, its vectors from `vectors` when the file was written without
  // them (version 3, or 4 flagged so). IOError when it cannot be read; Invalid, naming the problem,
  // when it is truncated, corrupt, not an index file of version 1 to 4, or keeps its vectors apart
  // and `vectors` is null or holds fewer rows than the graph.
  static arrow::Result<std::unique_ptr<HnswIndex>> Read(const std::string& path,
                                                        const ExternalVectors* vectors = nullptr);
  // Recomputes, in the bytes of an index file, the checksum of every section that lies inside
  // them and then the header's, as Write computes them: tests and the fuzzer change fields of a
  // file and reseal it to reach the checks behind the checksums. Files shorter than a header
  // are left as they are.
  static void Reseal(std::span<uint8_t> file);
  // What Read needs as ExternalVectors for the index file whose bytes are `file`, by its
  // header alone: nullopt when the file holds its vectors (or is shorter than a header). The
  // fuzzer makes such vectors up for a segment's graph.
  struct VectorsNeeded {
    uint64_t rows;
    size_t row_bytes;
  };
  static std::optional<VectorsNeeded> VectorsApart(std::span<const uint8_t> file);

 private:
  friend class HnswFileStream;
  // The file's layout for `index`: its header (section checksums not yet set) and every byte's
  // source, without copying the index's memory.
  static std::unique_ptr<HnswFileLayout> LayOut(const HnswIndex& index, VectorsPlacement placement);
  // Whether the graph of a loaded index can be walked: every link names a row of the index
  // that has the link's level, no list holds more links than it has room for, and the entry
  // point has the level it claims. A file that passed its checksums fails only if the writer
  // was wrong; searches would then read outside the graph.
  static arrow::Status CheckGraph(const HnswIndex& index, const std::string& path);
};

// An index's file made on demand from the index in memory, without writing it anywhere: a
// sealed segment's graph sent to a replica (store/segment_transfer.h) costs the sender no copy
// of the graph, only the file's small per-row tables (each row's level; where its upper lists
// are). Open reads the index once to checksum its sections; ReadAt then copies any range of
// the file, byte for byte what HnswFile::Write writes. The index must not change while the
// stream lives (a sealed, fully linked segment's graph does not); had it changed, Read would
// refuse the result by its checksums.
class HnswFileStream {
 public:
  static arrow::Result<std::unique_ptr<HnswFileStream>> Open(
      std::shared_ptr<const HnswIndex> index,
      VectorsPlacement placement = VectorsPlacement::kInFile);
  ~HnswFileStream();
  HnswFileStream(const HnswFileStream&) = delete;
  HnswFileStream& operator=(const HnswFileStream&) = delete;

  // The file's size in bytes.
  uint64_t size() const;
  // Copies the file's bytes [offset, offset + out.size()). Invalid past the file's end.
  arrow::Status ReadAt(uint64_t offset, std::span<uint8_t> out) const;

 private:
  HnswFileStream(std::shared_ptr<const HnswIndex> index, std::unique_ptr<HnswFileLayout> layout);

  const std::shared_ptr<const HnswIndex> index_;  // keeps the layout's sources alive
  const std::unique_ptr<HnswFileLayout> layout_;
};

}  // namespace arbalest
