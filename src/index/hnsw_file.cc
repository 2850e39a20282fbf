#include "index/hnsw_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "index/hnsw_index.h"
#include "index/mapped_file.h"

namespace arbalest {
namespace {

constexpr char kMagic[8] = {'A', 'R', 'B', 'H', 'N', 'S', 'W', '\0'};
// Version 2 adds PQ (the same layout; pq_m in bytes version 1 reserved); version 3 keeps the
// vectors in a file of their own (an empty vectors section). A file is written with the lowest
// version that holds it, so indexes without PQ stay readable by version-1 readers, and those
// refuse a PQ index or a graph without its vectors by its version instead of misreading it.
// Version 4 adds the int8 build range (the end of the quantizer section) and says where the
// vectors are in `flags`, not by its version. A version-4 file may also say that an index asked
// for int8 build codes (float32_build 2) gave them up for float16 copies (kInt8FallbackFlag:
// HnswIndex's int8 fallback); builds before that flag refuse such a file by its unknown flag.
constexpr uint32_t kVersion = 4;
constexpr uint32_t kFirstPqVersion = 2;
constexpr uint32_t kFirstExternalVectorsVersion = 3;
constexpr uint32_t kFirstInt8RangeVersion = 4;
// FileHeader::flags (version 4; 0 before).
constexpr uint8_t kExternalVectorsFlag = 1;  // the vectors section is empty: a file of their own
constexpr uint8_t kInt8RangeFlag = 2;        // the quantizer section ends with the int8 range
constexpr uint8_t kInt8FallbackFlag = 4;     // int8 asked, float16 copies used (no range)
constexpr uint64_t kSectionAlign = 4096;
// The flag bit that builds with index-level deletes set on deleted rows (the store's tombstones
// are the one delete mechanism now: a row of the graph is never deleted by the graph).
constexpr uint8_t kLegacyDeletedFlag = 2;

enum Section { kVectors, kFlags, kLinks0, kLevels, kUpper, kQuantizer, kCodes, kNumSections };
constexpr const char* kSectionNames[kNumSections] = {"vectors", "flags",     "links0", "levels",
                                                     "upper",   "quantizer", "codes"};

struct SectionEntry {
  uint64_t offset;
  uint64_t bytes;
  uint64_t checksum;  // XXH3-64 of the section's bytes
};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t dim;
  uint8_t metric;
  uint8_t element_type;
  uint8_t quantization;
  // What inserts compared: 0 float16 copies, 1 the rows (HnswParams::float16_build false),
  // 2 int8 codes (HnswParams::int8_build).
  uint8_t float32_build;
  uint16_t pq_m;  // 0 unless quantization is PQ (version 2)
  uint8_t flags;  // version 4: kExternalVectorsFlag, kInt8RangeFlag (0 before)
  uint8_t reserved;
  uint32_t m;
  uint32_t ef_construction;
  uint32_t ef_search;  // unused (written 0): the default ef is DefaultSearchEf (search_ef.h)
  uint32_t row_stride;
  uint32_t training_rows;  // the quantizer's: sq8_training_rows or pq_training_rows
  uint32_t code_stride;
  uint64_t seed;
  double exact_filter_fraction;
  uint64_t rows;
  // Written 0. Builds that had index-level deletes wrote the number of rows whose flag says
  // deleted (kLegacyDeletedFlag); Read clears those flags when it is not 0.
  uint64_t legacy_deleted;
  uint64_t entry;
  SectionEntry sections[kNumSections];
  uint64_t checksum;  // XXH3-64 of every byte above
};

// Whether the file keeps its vectors in a file of their own: by its flags from version 4, by
// its version (3) before.
bool KeepsVectorsApart(const FileHeader& header) {
  return header.version >= kFirstInt8RangeVersion ? (header.flags & kExternalVectorsFlag) != 0
                                                  : header.version == kFirstExternalVectorsVersion;
}

uint64_t HeaderChecksum(const FileHeader& header) {
  return XXH3_64bits(&header, offsetof(FileHeader, checksum));
}

uint64_t AlignUp(uint64_t n) { return (n + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

constexpr uint8_t kZeros[kSectionAlign] = {};

}  // namespace

// Where each byte of an index file comes from, in file order: the header, zero padding (each
// section starts on a kSectionAlign boundary), the index's own memory (plain buffers and runs
// of arena records) and the few tables the layout itself holds (each row's level, the
// quantizer's state, the int8 range). Built by HnswFile::LayOut; Seal then checksums it.
struct HnswFileLayout {
  enum class Source { kHeader, kZeros, kBytes, kRecords };
  struct Piece {
    uint64_t offset;  // in the file
    uint64_t bytes;
    Source source;
    const uint8_t* data = nullptr;         // kBytes
    const RecordArena* records = nullptr;  // kRecords: records [0, bytes / stride)
    int section = -1;                      // the section it is part of; -1: header, padding
  };

  FileHeader header = {};
  std::vector<Piece> pieces;  // in file order, from the header's
  uint64_t size = 0;
  std::vector<uint8_t> levels;
  std::vector<float> quantizer_state;
  std::vector<float> int8_range;

  HnswFileLayout() {
    pieces.push_back({0, sizeof(FileHeader), Source::kHeader});
    size = sizeof(FileHeader);
  }
  // Starts section `s` (in order) on the next kSectionAlign boundary.
  void Begin(Section s) {
    if (AlignUp(size) > size) Add({size, AlignUp(size) - size, Source::kZeros});
    header.sections[s].offset = size;
  }
  void AddBytes(Section s, const void* data, uint64_t bytes) {
    if (bytes == 0) return;
    Add({size, bytes, Source::kBytes, static_cast<const uint8_t*>(data), nullptr, s});
    header.sections[s].bytes += bytes;
  }
  void AddRecords(Section s, const RecordArena& arena, uint64_t count) {
    if (count == 0) return;
    Add({size, count * arena.stride(), Source::kRecords, nullptr, &arena, s});
    header.sections[s].bytes += count * arena.stride();
  }
  // Calls `emit(data, bytes)` for the bytes of piece `piece` from `skip` bytes in, at most
  // `limit` of them, in order (a run of records in one call per record).
  template <class Sink>
  void Emit(const Piece& piece, uint64_t skip, uint64_t limit, Sink&& emit) const {
    uint64_t left = std::min(limit, piece.bytes - skip);
    switch (piece.source) {
      case Source::kHeader:
        emit(reinterpret_cast<const uint8_t*>(&header) + skip, left);
        return;
      case Source::kZeros:
        while (left > 0) {
          const uint64_t n = std::min<uint64_t>(left, sizeof(kZeros));
          emit(kZeros, n);
          left -= n;
        }
        return;
      case Source::kBytes:
        emit(piece.data + skip, left);
        return;
      case Source::kRecords: {
        const uint64_t stride = piece.records->stride();
        for (uint64_t record = skip / stride, within = skip % stride; left > 0; ++record) {
          const uint64_t n = std::min(left, stride - within);
          emit(piece.records->At(record) + within, n);
          left -= n;
          within = 0;
        }
        return;
      }
    }
  }

  // Checksums every section and then the header, as Read checks them, calling `also(data,
  // bytes)` for every byte after the header in file order (what Write writes).
  template <class Also>
  void Seal(Also&& also) {
    for (SectionEntry& section : header.sections) section.checksum = XXH3_64bits("", 0);
    auto state = std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>(XXH3_createState(),
                                                                          &XXH3_freeState);
    int current = -1;
    auto finish = [&] {
      if (current >= 0) header.sections[current].checksum = XXH3_64bits_digest(state.get());
    };
    for (size_t i = 1; i < pieces.size(); ++i) {
      const Piece& piece = pieces[i];
      if (piece.section >= 0 && piece.section != current) {
        finish();
        XXH3_64bits_reset(state.get());
        current = piece.section;
      }
      Emit(piece, 0, piece.bytes, [&](const uint8_t* data, uint64_t bytes) {
        if (piece.section >= 0) XXH3_64bits_update(state.get(), data, bytes);
        also(data, bytes);
      });
    }
    finish();
    header.checksum = HeaderChecksum(header);
  }

 private:
  void Add(const Piece& piece) {
    pieces.push_back(piece);
    size += piece.bytes;
  }
};

namespace {

arrow::Status Corrupt(const std::string& path, const std::string& what) {
  return arrow::Status::Invalid("HNSW index file ", path, " is ", what);
}

}  // namespace

std::unique_ptr<HnswFileLayout> HnswFile::LayOut(const HnswIndex& index,
                                                 VectorsPlacement placement) {
  auto layout = std::make_unique<HnswFileLayout>();
  const IndexRows& store = index.store_;
  const uint64_t rows = store.count();
  const bool external = placement == VectorsPlacement::kSeparateFile;
  layout->Begin(kVectors);
  if (!external) layout->AddRecords(kVectors, store.rows(), rows);
  layout->Begin(kFlags);
  layout->AddRecords(kFlags, store.flags(), rows);
  layout->Begin(kLinks0);
  layout->AddRecords(kLinks0, index.links0_, rows);
  layout->levels.resize(rows);
  for (uint64_t row = 0; row < rows; ++row) layout->levels[row] = index.Node(row)->level;
  layout->Begin(kLevels);
  layout->AddBytes(kLevels, layout->levels.data(), rows);
  layout->Begin(kUpper);
  for (uint64_t row = 0; row < rows; ++row) {
    const HnswIndex::NodeInfo* node = index.Node(row);
    if (node->level > 0) layout->AddBytes(kUpper, node->upper, index.UpperWords(node->level) * 4);
  }
  const bool codes_ready = index.codes_ready_.load(std::memory_order_acquire);
  if (codes_ready) layout->quantizer_state = index.quantizer_->State();
  layout->int8_range = index.int8_build_range();
  layout->Begin(kQuantizer);
  layout->AddBytes(kQuantizer, layout->quantizer_state.data(),
                   layout->quantizer_state.size() * sizeof(float));
  layout->AddBytes(kQuantizer, layout->int8_range.data(),
                   layout->int8_range.size() * sizeof(float));
  layout->Begin(kCodes);
  if (codes_ready) layout->AddRecords(kCodes, index.codes_, rows);

  FileHeader& header = layout->header;
  const HnswParams& params = index.params_;
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  const bool pq = params.quantization == Quantization::kPq;
  const bool fell_back = index.int8_fell_back();
  const bool int8_range = !layout->int8_range.empty();
  header.version = int8_range || fell_back ? kFirstInt8RangeVersion
                   : external              ? kFirstExternalVectorsVersion
                   : pq                    ? kFirstPqVersion
                                           : 1;
  if (header.version >= kFirstInt8RangeVersion) {
    header.flags = static_cast<uint8_t>((external ? kExternalVectorsFlag : 0) |
                                        (int8_range ? kInt8RangeFlag : 0) |
                                        (fell_back ? kInt8FallbackFlag : 0));
  }
  header.dim = static_cast<uint32_t>(store.space().dim());
  header.metric = static_cast<uint8_t>(store.space().metric());
  header.element_type = static_cast<uint8_t>(store.space().type());
  header.quantization = static_cast<uint8_t>(params.quantization);
  header.pq_m = static_cast<uint16_t>(pq ? params.pq_m : 0);
  header.float32_build = params.int8_build ? 2 : params.float16_build ? 0 : 1;
  header.training_rows = index.TrainingRows();
  header.code_stride = static_cast<uint32_t>(index.codes_.stride());
  header.m = params.m;
  header.ef_construction = params.ef_construction;
  header.ef_search = 0;
  header.row_stride = static_cast<uint32_t>(store.rows().stride());
  header.seed = params.seed;
  header.exact_filter_fraction = params.exact_filter_fraction;
  header.rows = rows;
  header.legacy_deleted = 0;
  header.entry = index.entry_.load(std::memory_order_acquire);
  return layout;
}

arrow::Status HnswFile::Write(const HnswIndex& index, const std::string& path,
                              VectorsPlacement placement) {
  std::unique_ptr<HnswFileLayout> layout = LayOut(index, placement);
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "wb"),
                                                          &std::fclose);
  if (!file) return arrow::Status::IOError("cannot create ", path, ": ", std::strerror(errno));
  // The sections first, after room for the header, which their checksums complete.
  bool ok = std::fseek(file.get(), sizeof(FileHeader), SEEK_SET) == 0;
  layout->Seal([&](const uint8_t* data, uint64_t bytes) {
    ok = ok && std::fwrite(data, 1, bytes, file.get()) == bytes;
  });
  ok = ok && std::fseek(file.get(), 0, SEEK_SET) == 0 &&
       std::fwrite(&layout->header, sizeof(FileHeader), 1, file.get()) == 1 &&
       std::fflush(file.get()) == 0;
  if (!ok) return arrow::Status::IOError("cannot write ", path, ": ", std::strerror(errno));
  return arrow::Status::OK();
}

HnswFileStream::HnswFileStream(std::shared_ptr<const HnswIndex> index,
                               std::unique_ptr<HnswFileLayout> layout)
    : index_(std::move(index)), layout_(std::move(layout)) {}

HnswFileStream::~HnswFileStream() = default;

arrow::Result<std::unique_ptr<HnswFileStream>> HnswFileStream::Open(
    std::shared_ptr<const HnswIndex> index, VectorsPlacement placement) {
  if (index == nullptr) return arrow::Status::Invalid("no index to stream");
  std::unique_ptr<HnswFileLayout> layout = HnswFile::LayOut(*index, placement);
  layout->Seal([](const uint8_t*, uint64_t) {});
  return std::unique_ptr<HnswFileStream>(new HnswFileStream(std::move(index), std::move(layout)));
}

uint64_t HnswFileStream::size() const { return layout_->size; }

arrow::Status HnswFileStream::ReadAt(uint64_t offset, std::span<uint8_t> out) const {
  if (offset > layout_->size || out.size() > layout_->size - offset) {
    return arrow::Status::Invalid("bytes ", offset, " to ", offset + out.size(),
                                  " of an index file of ", layout_->size);
  }
  const auto& pieces = layout_->pieces;
  // The last piece starting at or before `offset`.
  auto piece =
      std::upper_bound(pieces.begin(), pieces.end(), offset,
                       [](uint64_t at, const HnswFileLayout::Piece& p) { return at < p.offset; }) -
      1;
  uint8_t* to = out.data();
  uint64_t left = out.size();
  for (; left > 0; ++piece) {
    const uint64_t skip = offset - piece->offset;
    const uint64_t n = std::min(left, piece->bytes - skip);
    layout_->Emit(*piece, skip, n, [&](const uint8_t* data, uint64_t bytes) {
      std::memcpy(to, data, bytes);
      to += bytes;
    });
    offset += n;
    left -= n;
  }
  return arrow::Status::OK();
}

void HnswFile::Reseal(std::span<uint8_t> file) {
  FileHeader header;
  if (file.size() < sizeof(header)) return;
  std::memcpy(&header, file.data(), sizeof(header));
  for (SectionEntry& section : header.sections) {
    if (section.offset <= file.size() && section.bytes <= file.size() - section.offset) {
      section.checksum = XXH3_64bits(file.data() + section.offset, section.bytes);
    }
  }
  header.checksum = HeaderChecksum(header);
  std::memcpy(file.data(), &header, sizeof(header));
}

std::optional<HnswFile::VectorsNeeded> HnswFile::VectorsApart(std::span<const uint8_t> file) {
  FileHeader header;
  if (file.size() < sizeof(header)) return std::nullopt;
  std::memcpy(&header, file.data(), sizeof(header));
  if (!KeepsVectorsApart(header)) return std::nullopt;
  return VectorsNeeded{header.rows, header.row_stride};
}

arrow::Result<std::unique_ptr<HnswIndex>> HnswFile::Read(const std::string& path,
                                                         const ExternalVectors* vectors) {
  auto mapped = MappedFile::Open(path);
  if (mapped.status().IsInvalid()) {
    return arrow::Status::Invalid(path, " is empty or unreadable: not an HNSW index file");
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<MappedFile> mapping, std::move(mapped));
  FileHeader header;
  if (mapping->size() < sizeof(header)) return Corrupt(path, "truncated (no full header)");
  std::memcpy(&header, mapping->data(), sizeof(header));
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0) {
    return Corrupt(path, "not an HNSW index file (bad magic)");
  }
  if (header.version == 0 || header.version > kVersion) {
    return Corrupt(path, "format version " + std::to_string(header.version) +
                             ", this build reads versions 1 to " + std::to_string(kVersion));
  }
  if (header.checksum != HeaderChecksum(header)) return Corrupt(path, "corrupt (header checksum)");
  if (header.metric > static_cast<uint8_t>(Metric::kDotProduct) ||
      header.element_type >= simd::kNumElementTypes ||
      header.quantization > static_cast<uint8_t>(Quantization::kPq)) {
    return Corrupt(path, "inconsistent (unknown metric, element type or quantization)");
  }
  const auto quantization = static_cast<Quantization>(header.quantization);
  if (quantization == Quantization::kPq && header.version < kFirstPqVersion) {
    return Corrupt(path, "inconsistent (PQ in a version-1 file)");
  }
  for (int s = 0; s < kNumSections; ++s) {
    const SectionEntry& section = header.sections[s];
    // Not offset + bytes > size: a damaged offset near 2^64 would wrap around.
    if (section.offset > mapping->size() || section.bytes > mapping->size() - section.offset) {
      return Corrupt(path, std::string("truncated (section ") + kSectionNames[s] + " at " +
                               std::to_string(section.offset) + " has " +
                               std::to_string(section.bytes) + " bytes, file has " +
                               std::to_string(mapping->size()) + " bytes)");
    }
    // Every writer starts each section on a kSectionAlign boundary: the loader reads floats and
    // 32-bit links in place, which a damaged offset would leave misaligned.
    if (section.offset % kSectionAlign != 0) {
      return Corrupt(path, std::string("inconsistent (section ") + kSectionNames[s] + " at " +
                               std::to_string(section.offset) + ", not on a " +
                               std::to_string(kSectionAlign) + "-byte boundary)");
    }
    if (XXH3_64bits(mapping->data() + section.offset, section.bytes) != section.checksum) {
      return Corrupt(path, std::string("corrupt (checksum of section ") + kSectionNames[s] + ")");
    }
  }

  HnswParams params{.m = header.m,
                    .ef_construction = header.ef_construction,
                    .seed = header.seed,
                    .exact_filter_fraction = header.exact_filter_fraction,
                    .quantization = quantization,
                    .pq_m = header.pq_m,
                    .float16_build = header.float32_build == 0,
                    .int8_build = header.float32_build == 2};
  if (quantization == Quantization::kPq) {
    params.pq_training_rows = header.training_rows;
  } else {
    params.sq8_training_rows = header.training_rows;
  }
  ARROW_ASSIGN_OR_RAISE(
      std::unique_ptr<HnswIndex> index,
      HnswIndex::Make(header.dim, static_cast<Metric>(header.metric),
                      static_cast<simd::ElementType>(header.element_type), params));
  const uint64_t rows = header.rows;
  const SectionEntry* sections = header.sections;
  const bool flagged = header.version >= kFirstInt8RangeVersion;
  const bool external = KeepsVectorsApart(header);
  if ((!flagged && header.flags != 0) ||
      (header.flags & ~(kExternalVectorsFlag | kInt8RangeFlag | kInt8FallbackFlag)) != 0) {
    return Corrupt(path, "inconsistent (unknown flags " + std::to_string(header.flags) + ")");
  }
  const bool fell_back = (header.flags & kInt8FallbackFlag) != 0;
  if (fell_back && (index->int8_codes_ == nullptr || (header.flags & kInt8RangeFlag) != 0)) {
    return Corrupt(path,
                   "inconsistent (an int8 fallback flag without int8 build codes asked for "
                   "float32 rows, or with an int8 range)");
  }
  if (fell_back) {
    WriterLock falling_back(&index->recode_mutex_);
    index->FallBackToFloat16();
  }
  // The quantizer section: the quantizer's state, then the int8 build range when flagged.
  uint64_t quantizer_bytes = sections[kQuantizer].bytes;
  const float* int8_range = nullptr;
  if ((header.flags & kInt8RangeFlag) != 0) {
    const uint64_t range_bytes = (uint64_t{header.dim} + 1) * sizeof(float);
    // Floats read in place: the section's floats start on its (aligned) offset.
    if (header.float32_build != 2 || quantizer_bytes < range_bytes ||
        quantizer_bytes % sizeof(float) != 0) {
      return Corrupt(path, "inconsistent (an int8 build range that does not fit)");
    }
    quantizer_bytes -= range_bytes;
    int8_range = reinterpret_cast<const float*>(mapping->data() + sections[kQuantizer].offset +
                                                quantizer_bytes);
  }
  if (header.row_stride != index->store_.rows().stride() ||
      sections[kVectors].bytes != (external ? 0 : rows * header.row_stride) ||
      sections[kFlags].bytes != rows || sections[kLinks0].bytes != rows * index->links0_.stride() ||
      sections[kLevels].bytes != rows ||
      (header.entry != HnswIndex::kNoEntry && static_cast<uint32_t>(header.entry) >= rows)) {
    return Corrupt(path, "inconsistent (section sizes do not match the row count)");
  }
  uint8_t* base = mapping->data();
  uint8_t* vector_rows = base + sections[kVectors].offset;
  std::shared_ptr<const void> vector_owner = mapping;
  if (external) {
    if (vectors == nullptr) {
      return Corrupt(path, "a graph whose vectors are kept in a separate file, and none was given");
    }
    if (vectors->rows < rows || vectors->row_bytes != header.row_stride) {
      return arrow::Status::Invalid("vectors file ", vectors->path, " holds ", vectors->rows,
                                    " rows of ", vectors->row_bytes, " bytes; the HNSW index file ",
                                    path, " needs ", rows, " rows of ", header.row_stride,
                                    " bytes");
    }
    vector_rows = vectors->data;
    vector_owner = vectors->owner;
  }
  index->mapping_ = mapping;
  if (!index->store_.rows().AdoptContiguous(vector_rows, rows, vector_owner) ||
      !index->store_.flags().AdoptContiguous(base + sections[kFlags].offset, rows) ||
      !index->links0_.AdoptContiguous(base + sections[kLinks0].offset, rows) ||
      !index->nodes_.Reserve(rows)) {
    return arrow::Status::OutOfMemory("cannot load ", path);
  }
  if (header.legacy_deleted != 0) {
    // Written by a build with index-level deletes: the rows flagged deleted are rows like the
    // others (the dataset's tombstones, saved with it, keep them out of searches). The mapping
    // is private: the file keeps its bytes; the next Write saves the flags cleared.
    RecordArena& flags = index->store_.flags();
    for (uint64_t row = 0; row < rows; ++row) *flags.At(row) &= ~kLegacyDeletedFlag;
  }
  index->store_.SetLoadedCount(static_cast<RowId>(rows));
  // Not in the file: derived from the vectors by the first insert that follows, if any.
  if (index->build_copies_) index->copy_rows_missing_.store(static_cast<RowId>(rows));
  if (int8_range != nullptr) {
    // The range the rows' codes were made in (older files: learnt again from all rows before
    // the first insert).
    WriterLock restoring(&index->recode_mutex_);
    const arrow::Status restored =
        index->int8_codes_->Restore({int8_range, index->int8_codes_->state_floats()});
    if (!restored.ok()) return Corrupt(path, "inconsistent (" + restored.message() + ")");
  }
  if (quantizer_bytes != 0) {
    const float* state = reinterpret_cast<const float*>(base + sections[kQuantizer].offset);
    if (!index->quantizer_ || quantizer_bytes % sizeof(float) != 0 ||
        !index->quantizer_->Restore({state, quantizer_bytes / sizeof(float)}).ok() ||
        header.code_stride != index->codes_.stride() ||
        sections[kCodes].bytes != rows * header.code_stride) {
      return Corrupt(path, "inconsistent (quantizer sections)");
    }
    if (!index->codes_.AdoptContiguous(base + sections[kCodes].offset, rows)) {
      return arrow::Status::OutOfMemory("cannot load ", path);
    }
    index->codes_ready_.store(true, std::memory_order_release);
  }
  const uint8_t* levels = base + sections[kLevels].offset;
  const uint32_t* upper = reinterpret_cast<const uint32_t*>(base + sections[kUpper].offset);
  const uint32_t* upper_end = upper + sections[kUpper].bytes / 4;
  for (uint64_t row = 0; row < rows; ++row) {
    HnswIndex::NodeInfo* node = index->Node(row);
    node->level = levels[row];
    if (node->level == 0) continue;
    const size_t words = index->UpperWords(node->level);
    if (upper + words > upper_end) return Corrupt(path, "inconsistent (upper levels too short)");
    node->upper = new uint32_t[words];
    std::memcpy(node->upper, upper, words * 4);
    upper += words;
    index->upper_bytes_.fetch_add(words * 4, std::memory_order_relaxed);
  }
  index->entry_.store(header.entry, std::memory_order_release);
  ARROW_RETURN_NOT_OK(CheckGraph(*index, path));
  return index;
}

arrow::Status HnswFile::CheckGraph(const HnswIndex& index, const std::string& path) {
  const uint64_t rows = index.store_.count();
  const HnswIndex::Entry entry = index.LoadEntry();
  if (entry.level >= 0 && entry.level > index.Node(entry.row)->level) {
    return Corrupt(path, "inconsistent (the entry point is above its row's level)");
  }
  for (uint64_t row = 0; row < rows; ++row) {
    const int levels = index.Node(row)->level;
    for (int level = 0; level <= levels; ++level) {
      const uint32_t* list = index.Links(static_cast<RowId>(row), level);
      const uint32_t room = level == 0 ? index.max_links0_ : index.params_.m;
      if (list[0] > room) {
        return Corrupt(path, "inconsistent (row " + std::to_string(row) + " has " +
                                 std::to_string(list[0]) + " links at level " +
                                 std::to_string(level) + ", room for " + std::to_string(room) +
                                 ")");
      }
      for (uint32_t j = 1; j <= list[0]; ++j) {
        // (Every row is at level 0: the cheap sequential check suffices there.)
        if (list[j] >= rows || (level > 0 && index.Node(list[j])->level < level)) {
          return Corrupt(path, "inconsistent (row " + std::to_string(row) + " links to row " +
                                   std::to_string(list[j]) +
                                   ", which is not in the graph at level " + std::to_string(level) +
                                   ")");
        }
      }
    }
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
