// HnswIndex: approximate nearest neighbours with a Hierarchical Navigable Small World graph
// (Malkov & Yashunin), the structure hnswlib implements, laid out for cache and concurrency:
//
//  - vectors in an IndexRows (chunked, never moving, any ElementType);
//  - level-0 neighbour lists in one fixed-stride RecordArena: [count, 2M ids] per row, so a
//    row's list is found by arithmetic and read with one or two cache lines;
//  - upper levels (about 1/M of rows) in separately allocated [count, M ids] blocks per level;
//  - concurrent insertion: lists are written under striped locks and read lock-free with
//    acquire loads, so searches and inserts run together (and ThreadSanitizer-clean);
//  - search reuses pooled contexts (epoch-tagged visited set, heaps): no per-query allocation;
//  - a filter bitmap is consulted during traversal; filters matching few rows switch to an
//    exact scan of those rows, so a filtered search returns k rows whenever k match;
//  - rows a search excludes (the store's tombstones) are never returned but still route it;
//  - optionally, SQ8 or PQ codes for traversal with re-ranking on the full vectors;
//  - float32 rows: inserts compare float16 copies or int8 codes of the rows (build copies).
//    int8 codes have a learnt range; a row outside it widens the range and re-codes every row
//    first (Int8BuildCodes). Contract: a re-code holds recode_mutex_ exclusively, every Add and
//    AddBatch holds it shared from the moment it checks its rows against the range until they
//    are linked, so no insert ever compares codes of two ranges or a half re-coded row.
//    Searches never read build copies: they run during a re-code, and their results do not
//    depend on it.
//  - int8 fallback: when int8 codes cannot separate the rows (more than
//    HnswParams::int8_fallback_fraction of the rows checked share their int8 code with a row
//    whose float16 copy differs: rows of few dimensions, or on a line), the index gives its
//    int8 codes up for float16 copies, for the rest of its life. The check runs under
//    recode_mutex_ held exclusively, over every stored row and the rows about to be inserted,
//    whenever the range is learnt or widened with at least kMinSeparationRows rows in all, and
//    when the row count reaches twice that of the last check (amortised: each row is checked
//    about twice). A switch re-makes every copy before any insert links again; rows linked
//    earlier keep their links (made when the codes still separated them, by the check before).
//    The choice is saved (hnsw_file.h: the int8 build asked for, float16 used) and a compaction
//    or merge keeps its source's.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "index/hnsw_file.h"
#include "index/index_rows.h"
#include "index/int8_build_codes.h"
#include "index/memory_usage.h"
#include "index/quantizer.h"
#include "index/search_context.h"
#include "index/search_options.h"

namespace arbalest {

enum class Quantization : uint8_t {
  kNone = 0,
  // Traverse the graph on 1-byte SQ8 codes (index/sq8_quantizer.h), trained on the first
  // sq8_training_rows rows, then re-rank the ef candidates on the full vectors. float32 only.
  kSq8 = 1,
  // The same with PQ codes of pq_m bytes (index/pq_quantizer.h), trained on the first
  // pq_training_rows rows. float32 only.
  kPq = 2,
};

// The names schema metadata uses (longbow.index.quantization): "none", "sq8", "pq".
const char* QuantizationName(Quantization quantization);
// Invalid, listing the names, for another name.
arrow::Result<Quantization> ParseQuantization(std::string_view name);

struct HnswParams {
  uint32_t m = 16;                 // neighbours per row on upper levels; 2*m on level 0
  uint32_t ef_construction = 200;  // candidate list size while inserting
  uint64_t seed = 42;              // level assignment is a function of (seed, row id)
  // A filter matching at most this fraction of rows (or at most 4*ef rows) is served by an
  // exact scan of the matching rows instead of the graph.
  double exact_filter_fraction = 0.02;
  Quantization quantization = Quantization::kNone;
  uint32_t sq8_training_rows = 4096;
  uint32_t pq_m = 0;  // PQ subspaces (code bytes); 0: PqQuantizer::DefaultM(dim)
  uint32_t pq_training_rows = 10240;
  // float32 rows only: inserts compare float16 copies of the rows (building is bound by memory
  // traffic; the copies halve it, for 2 more bytes per dimension per row). false: inserts
  // compare the rows as stored (slower build, no copies). Searches always use the rows.
  bool float16_build = true;
  // float32 rows only: inserts compare 1-byte-per-dimension int8 codes of the rows instead
  // (index/int8_build_codes.h: one scale learnt from the first rows indexed, widened (and every
  // code re-made) when a row falls outside it; a quarter of the rows' bytes, half of the
  // float16 copies'), whatever float16_build says. Off here (the index's own default); a
  // dataset turns it on unless its metadata says otherwise (store/dataset_index.h, IndexConfig).
  bool int8_build = false;
  // int8_build: the codes are given up for float16 copies when, on a check (see the HnswIndex
  // contract), more than this fraction of the rows share their int8 code with a row whose
  // float16 copy differs (docs/index.md: measured on clustered rows of 2 to 16 dimensions and
  // on the WordNet embeddings). 1: never.
  double int8_fallback_fraction = 0.01;
  // AddBatch links its rows in sub-batches (HnswIndex::LinkBatch): the graph then depends on
  // the rows alone. false: the rows link one by one from concurrent threads, as Add does.
  bool batch_link = true;
};

class HnswIndex final {
 public:
  // Invalid for m < 2, dim == 0, ef_construction == 0, SQ8 or PQ over non-float32 rows, a
  // pq_m not dividing dim or above 65535, or pq_training_rows < 256. A PQ index's params()
  // hold the pq_m in use.
  static arrow::Result<std::unique_ptr<HnswIndex>> Make(
      size_t dim, Metric metric, simd::ElementType type = simd::ElementType::kFloat32,
      const HnswParams& params = {});
  ~HnswIndex();

  // Adds one vector of dim() floats and links it; returns its row id. Invalid on a dimension
  // mismatch. May run concurrently with other Adds and with searches.
  arrow::Result<RowId> Add(std::span<const float> vector);
  // Adds vectors.size() / dim() rows (row-major) with consecutive ids, linking them into the
  // graph from `threads` threads (in sub-batches, see LinkBatch: the graph is the same for any
  // thread count); returns the first id. Must not run concurrently with Add or
  // another AddBatch (the ids would interleave); searches may run concurrently, and may return
  // the batch's rows as soon as each is linked (SearchOptions::row_limit hides them).
  arrow::Result<RowId> AddBatch(std::span<const float> vectors, int threads);
  // Writes the k nearest rows that options allow (fewer only when fewer match), nearest first,
  // to `out` (cleared first). Invalid on a dimension mismatch.
  arrow::Status Search(std::span<const float> query, const SearchOptions& options,
                       std::vector<Neighbor>* out) const;

  size_t dim() const { return store_.space().dim(); }
  Metric metric() const { return store_.space().metric(); }
  simd::ElementType element_type() const { return store_.space().type(); }
  // Rows added so far.
  uint64_t size() const { return store_.count(); }
  MemoryUsage memory() const EXCLUDES(recode_mutex_);

  // What an index allocates for a number of rows, to charge memory before it is allocated:
  // its link locks, whole chunks of each of its arenas (they grow a chunk at a time), and twice
  // the expected upper-level lists (their levels are drawn at random).
  struct MemoryModel {
    struct Arena {
      int64_t stride = 0;
      int64_t records_per_chunk = 1;
    };
    int64_t fixed_bytes = 0;
    std::vector<Arena> arenas;
    int64_t upper_bytes_per_row = 0;
    // Bytes per row of the insert-time float16 copies (0 without them), counted in `arenas`:
    // what a graph that dropped its copies (DropBuildCopies) no longer holds.
    int64_t build_copy_bytes_per_row = 0;
    int64_t BytesFor(int64_t rows) const;
  };
  MemoryModel memory_model() const EXCLUDES(recode_mutex_);
  // The model once int8 build codes give way to float16 copies (the int8 fallback above): what
  // the index allocates after a fallback, float16 copies of 2 bytes per dimension a row instead
  // of codes of 1. The same as memory_model() for an index without int8 codes (or past its
  // fallback). Whoever charges memory ahead for rows uses it once the index fell back.
  MemoryModel fallback_memory_model() const EXCLUDES(recode_mutex_);
  const HnswParams& params() const { return params_; }
  // The rows' vectors, as stored (for IndexRows::Lend).
  const IndexRows& rows() const { return store_; }
  // True once the quantizer (if any) is trained: searches then traverse codes.
  bool quantized() const { return codes_ready_.load(std::memory_order_acquire); }
  // The element type inserts compare rows in: for float32 rows int8 with int8_build, float16
  // with float16_build (the copies), else the rows' own type.
  // int8_build: float16 once the int8 codes were given up (the fallback above).
  simd::ElementType build_element_type() const {
    return build_type_.load(std::memory_order_acquire);
  }
  // int8_build only: whether the codes were given up for float16 copies, and the last check.
  bool int8_fell_back() const { return int8_fell_back_.load(std::memory_order_acquire); }
  Int8BuildCodes::Separation int8_separation() const;
  // Rows an int8 index holds (stored plus being inserted) before it checks the codes first.
  static constexpr uint64_t kMinSeparationRows = 256;
  // Frees the insert-time copies (float16 or int8) of the rows (a sealed graph whose rows are all
  // linked no longer needs them; searches never use them). They are written again, all at once,
  // before the next insert, as after a Load. Must not run concurrently with Add, AddBatch or
  // another DropBuildCopies; searches may run. Returns the bytes freed.
  int64_t DropBuildCopies();
  // Rows that have no build copy now (after a Load or DropBuildCopies; 0 without copies).
  int64_t rows_without_build_copies() const {
    return build_copies_ ? static_cast<int64_t>(copy_rows_missing_.load(std::memory_order_acquire))
                         : 0;
  }
  // int8 build codes: the range in use (Int8BuildCodes::State(): the inverse scale, then the
  // per-dimension offsets; empty until learnt, and without int8 codes), and how many times a
  // row outside it widened it and re-coded the rows (since this object was made or loaded).
  std::vector<float> int8_build_range() const;
  uint64_t int8_build_recodes() const { return int8_recodes_.load(std::memory_order_relaxed); }

  // The row every search starts from (the first row of the top level); nullopt when empty.
  std::optional<RowId> entry_point() const {
    const Entry entry = LoadEntry();
    return entry.level < 0 ? std::nullopt : std::optional<RowId>(entry.row);
  }

  // The rows `row` links to at `level` (0 when above the row's level): for graph diagnostics
  // and tests. Not synchronized with concurrent inserts.
  std::vector<RowId> NeighborsOf(RowId row, int level) const;

  // Writes the index to `path` (format in index/hnsw_file.h), its vectors included or not
  // (`placement`). Searches may run concurrently; adds may not.
  arrow::Status Save(const std::string& path,
                     VectorsPlacement placement = VectorsPlacement::kInFile) const;
  // Maps an index written by Save(), without rebuilding it; its vectors from `vectors` when
  // it was saved without them. Invalid, naming the problem, for a truncated or corrupt file
  // or one of another format version.
  static arrow::Result<std::unique_ptr<HnswIndex>> Load(const std::string& path,
                                                        const ExternalVectors* vectors = nullptr);

 private:
  friend class HnswFile;
  friend class HnswCompaction;
  friend class HnswMerge;
  static constexpr uint64_t kNoEntry = ~uint64_t{0};
  struct Entry {
    RowId row;
    int level;  // -1 when the index is empty
  };
  Entry LoadEntry() const;

  HnswIndex(const DistanceSpace& space, const HnswParams& params,
            std::unique_ptr<Quantizer> quantizer);

  // Per-row graph metadata; upper-level lists exist only for rows above level 0.
  struct NodeInfo {
    int32_t level;
    uint32_t* upper;  // `level` blocks of [count, m ids], for levels 1..level; owned
  };
  NodeInfo* Node(RowId row) const { return reinterpret_cast<NodeInfo*>(nodes_.At(row)); }
  size_t UpperWords(int level) const { return static_cast<size_t>(level) * (params_.m + 1); }
  // Gives `row` its level and empty (zeroed) upper lists, counted in upper_bytes_: a new row,
  // or one a compaction or merge carries over.
  void SetLevel(RowId row, int level);

  // A row's neighbour list at `level`: list[0] is the count, list[1..] the ids.
  uint32_t* Links(RowId row, int level) const;
  int RandomLevel(RowId row) const;

  // Distances from one query to rows, on full vectors or quantized codes (defined in
  // hnsw_search-inl.h).
  class Scorer;
  Scorer FullScorer(const float* query) const;
  // Rows as inserts compare them (in link_space_): the build copies or the stored rows.
  const RecordArena& LinkRows() const { return build_copies_ ? *copy_rows_ : store_.rows(); }
  // memory_model() with build copies of `copy_row_bytes` a row (0: none).
  MemoryModel ModelWithCopies(size_t copy_row_bytes) const;
  const void* LinkRow(RowId row) const { return LinkRows().At(row); }

  // Greedy walk from the entry point down to `level` + 1 (one candidate per level). Links to
  // rows at or beyond `limit` (rows a concurrent insert is linking, which a search or insert
  // that began before them ignores; entry.row must be below it) are not followed: the row
  // returned is below `limit`, as SearchLevel requires of its entry.
  Neighbor Descend(SearchContext& ctx, const Scorer& scorer, Entry entry, int level,
                   RowId limit) const;
  // Best-first search of one level from `entry`, keeping the `ef` nearest rows for which
  // `accept(row)` holds in ctx.results. Rows at or beyond `limit` (which must be above
  // entry.row) are ignored.
  template <class Accept>
  void SearchLevel(SearchContext& ctx, const Scorer& scorer, Neighbor entry, int level, size_t ef,
                   RowId limit, Accept accept) const;
  // hnswlib's neighbour-selection heuristic over `candidates` (nearest first), keeping at
  // most `max` rows that are closer to the base than to any already kept.
  void SelectNeighbors(SearchContext& ctx, std::vector<Neighbor>* candidates, size_t max) const;
  // Links `row` to `neighbors` at `level` and each neighbour back to `row`. `fresh` (a new row):
  // links already in the row's list (back-links from inserts that saw it in flight) are kept,
  // merged as AddLinks merges; else (a relinked row) the list is replaced.
  void Connect(SearchContext& ctx, RowId row, int level, const std::vector<Neighbor>& neighbors,
               bool fresh);
  // Replaces `row`'s list at `level` with `neighbors`.
  void WriteLinks(RowId row, int level, std::span<const Neighbor> neighbors);
  // Adds links from `to` at `level` to the `incoming` rows (their distances to `to`, nearest
  // first), skipping rows already listed; when the list would overflow, keeps the most useful
  // of the old and new neighbours with the selection heuristic, in one pruning.
  void AddLinks(SearchContext& ctx, RowId to, int level, std::span<const Neighbor> incoming);
  // Writes the build copies of stored rows [begin, end) (nothing without build_copies_) in the
  // range the int8 codes have now, which must cover them. CapacityError when the copies cannot
  // grow.
  arrow::Status EncodeBuildCopies(RowId begin, RowId end) REQUIRES_SHARED(recode_mutex_);
  // Writes the build copies of every stored row [0, end) of an index that nobody else uses yet
  // (a compaction's or merge's output), int8 codes in a range that covers all of them: that of
  // `range_from` when it has one (its codes stay as they were), widened or learnt as needed.
  arrow::Status WriteAllBuildCopies(RowId end, const HnswIndex* range_from = nullptr);
  // Whether inserting `vectors` (rows as given to Add or AddBatch) needs no ReadyBuildCopies
  // first: every stored row has its copy, and the int8 range (if any) covers `vectors`.
  bool BuildCopiesReady(std::span<const float> vectors) const REQUIRES_SHARED(recode_mutex_);
  // Makes BuildCopiesReady(vectors) true, under recode_mutex_ held exclusively: learns or widens
  // the int8 range (over every stored row and `vectors`), re-codes every stored row when it
  // changed, and writes the copies of rows that have none (after a Load, once before the first
  // insert: an index that is only searched never pays for them).
  arrow::Status ReadyBuildCopies(std::span<const float> vectors) EXCLUDES(recode_mutex_);
  // Learns or widens the int8 range to cover `rows` rows; true when it changed.
  bool FitInt8Range(size_t rows, const Int8BuildCodes::RowFn& row) REQUIRES(recode_mutex_);
  // The int8 fallback check over `rows` rows (`forced`: whatever the row count since the last
  // check; still not under kMinSeparationRows rows): gives the codes up when they do not
  // separate the rows. True when it did (every copy must then be made again).
  bool CheckInt8Separation(size_t rows, const Int8BuildCodes::RowFn& row, bool forced)
      REQUIRES(recode_mutex_);
  // Replaces the int8 codes by float16 copies (none made yet: copy_rows_ starts empty).
  void FallBackToFloat16() REQUIRES(recode_mutex_);
  // Add's (threads 0: one row, linked on this thread) and AddBatch's work once
  // BuildCopiesReady.
  arrow::Result<RowId> InsertRows(std::span<const float> vectors, int threads)
      REQUIRES_SHARED(recode_mutex_);
  // Stores a row's vector, graph slots, level and code; the row is not linked yet.
  arrow::Result<RowId> AppendRow(const float* vector) REQUIRES_SHARED(recode_mutex_);
  // Links a row stored by AppendRow into the graph, from any thread. Rows linked concurrently
  // do not see each other through the graph (neither is in it yet when the other searches), so
  // each insert also weighs, on level 0, the rows other inserts were linking when it began
  // (in_flight_): without that, on rows along a line (whose lists keep about one neighbour per
  // side) two threads adding consecutive rows in turn linked every row to the one before the
  // other thread's, two interleaved chains joined only at their ends, and searches lost rows
  // in the middle of the chain they did not enter
  // (HnswTest.Int8CodesGiveWayToFloat16CopiesWhereTheyCannotSeparateTheRows).
  void Link(RowId row);
  // Links a row again after a compaction: its lists are replaced and its new neighbours link
  // back to it. Nothing else links meanwhile.
  void Relink(RowId row);
  // Adds to `neighbors` (`row`'s level-0 neighbours as SelectNeighbors chose them from the
  // graph) the rows of ctx.in_flight that the selection heuristic keeps beside them, nearest
  // first. The graph's rows are kept whatever the rows in flight: a row linked only to rows in
  // flight would be reachable only through them, and a row held up in flight (its thread
  // descheduled) would become a hub whose list, once full, prunes the rows that hang on it.
  void AddInFlight(SearchContext& ctx, const Scorer& scorer, RowId row,
                   std::vector<Neighbor>* neighbors) const;
  // Links rows [first, end), stored by AppendRow, in sub-batches (index/hnsw_batch_link.cc):
  // each row of a sub-batch searches the graph as it was before the sub-batch and also weighs
  // the sub-batch's other rows, compared in one tiled distance matrix; then the rows' lists
  // are written and each neighbour merges its back-links at once. The graph depends on the
  // rows alone, not on `threads` or timing.
  void LinkBatch(RowId first, RowId end, int threads);
  struct SubBatch;
  struct BackLink;
  // LinkBatch's row step for one sub-batch: choose and write the lists of its rows
  // [begin, end), collecting the back-links they ask for.
  void LinkSubBatchRows(SubBatch& batch, size_t begin, size_t end,
                        std::vector<BackLink>* back_links);
  // Links a stored row (at the level AppendRow drew) into the graph; never to itself. Searches
  // every level first, then writes the row's lists and back-links bottom-up, so that a concurrent
  // insert reaching the row at a level finds its lists below written. `fresh`: a new row
  // (Link), which also weighs ctx.in_flight on level 0; else a relinked one (Relink).
  void Insert(SearchContext& ctx, RowId row, bool fresh);
  // Rows the quantizer trains on (and waits for).
  uint32_t TrainingRows() const;
  // Trains the quantizer and encodes every row once TrainingRows() rows are in.
  arrow::Status MaybeTrainQuantizer();
  // Traversal of level 0 on codes for ctx.results, re-ranked on full vectors into `out`.
  template <class Accept>
  void SearchQuantized(SearchContext& ctx, const float* query, Entry entry, size_t ef, size_t k,
                       RowId limit, Accept accept, std::vector<Neighbor>* out) const;
  void ExactSearch(const float* query, const SearchOptions& options,
                   std::vector<Neighbor>* out) const;
  std::mutex& LinkLock(RowId row) const { return link_locks_[row & (kLinkLocks - 1)]; }

  static constexpr size_t kLinkLocks = 4096;
  // AddBatch starts a linking thread per this many rows at most (threads cost ~50 us).
  static constexpr size_t kRowsPerLinkThread = 64;

  std::shared_ptr<const void> mapping_;  // a loaded file's memory; outlives the arenas below
  IndexRows store_;
  HnswParams params_;
  uint32_t max_links0_;
  double level_multiplier_;
  RecordArena links0_;  // [count, max_links0_ ids] per row
  RecordArena nodes_;   // NodeInfo per row
  std::atomic<size_t> upper_bytes_{0};
  mutable std::unique_ptr<std::mutex[]> link_locks_;
  std::mutex entry_mutex_;  // held while the entry point may change
  // Rows being linked by Link now (stored, copies written, not yet in the graph).
  Mutex in_flight_mutex_;
  std::vector<RowId> in_flight_ GUARDED_BY(in_flight_mutex_);
  // The entry point: its row in the low 32 bits, its level (the top level) in the high
  // bits; one word so that readers never pair a row with another row's level.
  std::atomic<uint64_t> entry_{kNoEntry};
  mutable SearchContextPool contexts_;

  // What inserts compare. Building the graph reads rows at random, so it is bound by memory
  // traffic: float32 rows get a float16 copy that inserts use (half the bytes; the graph is
  // that of the rows rounded to float16), or with int8_build 1-byte codes (a quarter); other
  // rows are used as stored. Searches use rows_.
  enum class BuildCopies : uint8_t { kNone, kFloat16, kInt8 };
  static BuildCopies CopiesFor(const HnswParams& params, simd::ElementType type);
  // copies_, link_space_ and copy_rows_ change only in FallBackToFloat16, under recode_mutex_
  // held exclusively (or before anyone else has the index): every reader holds it shared
  // (inserts) or owns the index alone (a compaction's or merge's output being built).
  BuildCopies copies_;
  bool build_copies_;  // copies_ != kNone
  DistanceSpace link_space_;
  std::unique_ptr<RecordArena> copy_rows_;   // the copies when build_copies_
  std::atomic<RowId> copy_rows_missing_{0};  // rows [0, this) have no copy yet (after a Load)
  // Held shared by inserts, exclusively by a re-code of the build copies (the contract above),
  // a fill of missing copies and DropBuildCopies. Taken before train_mutex_.
  mutable SharedMutex recode_mutex_;
  simd::Float16EncodeFn encode_half_;
  std::unique_ptr<Int8BuildCodes> int8_codes_ PT_GUARDED_BY(recode_mutex_);  // with kInt8
  std::atomic<uint64_t> int8_recodes_{0};
  std::atomic<simd::ElementType> build_type_;  // link_space_.type(), for readers without a lock
  std::atomic<bool> int8_fell_back_{false};
  // The int8 fallback check runs again once stored and inserted rows reach this.
  std::atomic<uint64_t> next_separation_check_{kMinSeparationRows};
  Int8BuildCodes::Separation separation_ GUARDED_BY(recode_mutex_);

  std::unique_ptr<Quantizer> quantizer_;  // null when params_.quantization == kNone
  RecordArena codes_;                     // a code record per row once codes_ready_
  std::shared_mutex train_mutex_;         // adds share it; training holds it exclusively
  std::atomic<bool> codes_ready_{false};
};

}  // namespace arbalest
