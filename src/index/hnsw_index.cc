#include "index/hnsw_index.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "index/flat_index.h"
#include "index/hnsw_search-inl.h"
#include "index/parallel_tasks.h"
#include "index/pq_quantizer.h"
#include "index/search_ef.h"
#include "index/sq8_quantizer.h"

namespace arbalest {

using hnsw_internal::LoadLink;
using hnsw_internal::StoreLink;

namespace {

constexpr int kMaxLevel = 15;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

const char* QuantizationName(Quantization quantization) {
  switch (quantization) {
    case Quantization::kNone:
      return "none";
    case Quantization::kSq8:
      return "sq8";
    case Quantization::kPq:
      return "pq";
  }
  return "unknown";
}

arrow::Result<Quantization> ParseQuantization(std::string_view name) {
  for (const Quantization q : {Quantization::kNone, Quantization::kSq8, Quantization::kPq}) {
    if (name == QuantizationName(q)) return q;
  }
  return arrow::Status::Invalid("quantization must be none, sq8 or pq, got '", name, "'");
}

HnswIndex::Scorer HnswIndex::FullScorer(const float* query) const {
  return Scorer(store_.space(), store_.rows(), query);
}

arrow::Result<std::unique_ptr<HnswIndex>> HnswIndex::Make(size_t dim, Metric metric,
                                                          simd::ElementType type,
                                                          const HnswParams& params) {
  if (dim == 0) return arrow::Status::Invalid("HNSW index needs dim > 0");
  if (params.m < 2) return arrow::Status::Invalid("HNSW m must be >= 2, got ", params.m);
  if (params.ef_construction == 0) return arrow::Status::Invalid("HNSW ef_construction is 0");
  const DistanceSpace space(metric, type, dim);
  HnswParams resolved = params;
  std::unique_ptr<Quantizer> quantizer;
  switch (params.quantization) {
    case Quantization::kNone:
      break;
    case Quantization::kSq8:
      if (type != simd::ElementType::kFloat32) {
        return arrow::Status::Invalid("SQ8 quantization needs float32 rows");
      }
      quantizer = std::make_unique<Sq8Quantizer>(space.kind(), dim);
      break;
    case Quantization::kPq: {
      if (type != simd::ElementType::kFloat32) {
        return arrow::Status::Invalid("PQ quantization needs float32 rows");
      }
      if (resolved.pq_m == 0) resolved.pq_m = static_cast<uint32_t>(PqQuantizer::DefaultM(dim));
      if (resolved.pq_m > UINT16_MAX) {  // the index file holds it in 16 bits
        return arrow::Status::Invalid("PQ m must be at most ", UINT16_MAX, ", got ", resolved.pq_m);
      }
      ARROW_ASSIGN_OR_RAISE(quantizer, PqQuantizer::Make(space.kind(), dim,
                                                         {.m = resolved.pq_m,
                                                          .training_rows = params.pq_training_rows,
                                                          .seed = params.seed}));
      break;
    }
    default:
      return arrow::Status::Invalid("unknown HNSW quantization ",
                                    static_cast<int>(params.quantization));
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(space, resolved, std::move(quantizer)));
}

HnswIndex::HnswIndex(const DistanceSpace& space, const HnswParams& params,
                     std::unique_ptr<Quantizer> quantizer)
    : store_(space),
      params_(params),
      max_links0_(2 * params.m),
      level_multiplier_(1.0 / std::log(static_cast<double>(params.m))),
      links0_((2 * params.m + 1) * sizeof(uint32_t), sizeof(uint32_t)),
      nodes_(sizeof(NodeInfo), alignof(NodeInfo)),
      link_locks_(std::make_unique<std::mutex[]>(kLinkLocks)),
      copies_(CopiesFor(params, space.type())),
      build_copies_(copies_ != BuildCopies::kNone),
      link_space_(
          copies_ == BuildCopies::kFloat16
              ? DistanceSpace(space.metric(), simd::ElementType::kFloat16, space.dim())
          : copies_ == BuildCopies::kInt8
              // Cosine rows are stored normalised: their codes compare by dot product.
              ? DistanceSpace(space.metric() == Metric::kL2 ? Metric::kL2 : Metric::kDotProduct,
                              simd::ElementType::kInt8, space.dim())
              : space),
      copy_rows_(std::make_unique<RecordArena>(build_copies_ ? link_space_.row_bytes() : 1, 64)),
      encode_half_(simd::GetFloat16Encoder()),
      int8_codes_(copies_ == BuildCopies::kInt8
                      ? std::make_unique<Int8BuildCodes>(space.dim(), space.metric() == Metric::kL2)
                      : nullptr),
      build_type_(link_space_.type()),
      quantizer_(std::move(quantizer)),
      codes_(quantizer_ ? quantizer_->code_bytes() : 1, 16) {}

HnswIndex::BuildCopies HnswIndex::CopiesFor(const HnswParams& params, simd::ElementType type) {
  if (type != simd::ElementType::kFloat32) return BuildCopies::kNone;
  if (params.int8_build) return BuildCopies::kInt8;
  return params.float16_build ? BuildCopies::kFloat16 : BuildCopies::kNone;
}

HnswIndex::~HnswIndex() {
  const RowId n = store_.count();
  for (RowId row = 0; row < n; ++row) {
    delete[] Node(row)->upper;
  }
}

int HnswIndex::RandomLevel(RowId row) const {
  const uint64_t bits = SplitMix64(params_.seed ^ (uint64_t{row} * 0xD1B54A32D192ED03ull));
  const double unit = (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
  return std::min(kMaxLevel, static_cast<int>(-std::log(unit) * level_multiplier_));
}

HnswIndex::Entry HnswIndex::LoadEntry() const {
  const uint64_t entry = entry_.load(std::memory_order_acquire);
  if (entry == kNoEntry) return {0, -1};
  return {static_cast<RowId>(entry), static_cast<int>(entry >> 32)};
}

uint32_t* HnswIndex::Links(RowId row, int level) const {
  if (level == 0) return reinterpret_cast<uint32_t*>(links0_.At(row));
  return Node(row)->upper + UpperWords(level - 1);
}

std::vector<RowId> HnswIndex::NeighborsOf(RowId row, int level) const {
  if (row >= store_.count() || level < 0 || level > Node(row)->level) return {};
  const uint32_t* list = Links(row, level);
  return std::vector<RowId>(list + 1, list + 1 + list[0]);
}

Neighbor HnswIndex::Descend(SearchContext& ctx, const Scorer& scorer, Entry entry, int level,
                            RowId limit) const {
  Neighbor best = scorer.Score(entry.row);
  for (int l = entry.level; l > level; --l) {
    for (bool moved = true; moved;) {
      moved = false;
      uint32_t* list = Links(best.row, l);
      const uint32_t count = LoadLink(list);
      ctx.rows.clear();
      ctx.ids.clear();
      for (uint32_t j = 0; j < count; ++j) {
        const RowId next = LoadLink(list + 1 + j);
        if (next >= limit) continue;  // linked after this walk began
        ctx.ids.push_back(next);
        ctx.rows.push_back(scorer.Row(next));
      }
      ctx.distances.resize(ctx.ids.size());
      scorer.Distances(ctx.rows.data(), ctx.ids.size(), ctx.distances.data());
      for (size_t j = 0; j < ctx.ids.size(); ++j) {
        if (ctx.distances[j] < best.distance) {
          best = {ctx.ids[j], ctx.distances[j]};
          moved = true;
        }
      }
    }
  }
  return best;
}

void HnswIndex::SelectNeighbors(SearchContext& ctx, std::vector<Neighbor>* candidates,
                                size_t max) const {
  if (candidates->size() <= max) return;
  // Kept rows in query form, decoded once each as they are kept (candidates are compared as
  // stored rows: the distance is symmetric, and most candidates are never kept).
  const size_t dim = link_space_.dim();
  ctx.decoded.resize(max * dim);
  size_t kept = 0;
  for (size_t i = 0; i < candidates->size() && kept < max; ++i) {
    const Neighbor c = (*candidates)[i];
    const void* row = LinkRow(c.row);
    bool diverse = true;
    for (size_t j = 0; j < kept && diverse; ++j) {
      const float* other = link_space_.type() == simd::ElementType::kFloat32
                               ? static_cast<const float*>(LinkRow((*candidates)[j].row))
                               : ctx.decoded.data() + j * dim;
      diverse = link_space_.Distance(other, row) >= c.distance;
    }
    if (!diverse) continue;
    if (link_space_.type() != simd::ElementType::kFloat32) {
      link_space_.RowAsQuery(row, ctx.decoded.data() + kept * dim);
    }
    (*candidates)[kept++] = c;
  }
  candidates->resize(kept);
}

void HnswIndex::Connect(SearchContext& ctx, RowId row, int level,
                        const std::vector<Neighbor>& neighbors, bool fresh) {
  // A new row's level-0 list may hold back-links already: from rows that took it as a
  // neighbour while it was in flight (AddInFlight). They are kept, as any row keeps them.
  if (fresh) {
    AddLinks(ctx, row, level, neighbors);
  } else {
    WriteLinks(row, level, neighbors);
  }
  for (const Neighbor& neighbor : neighbors) {
    const Neighbor back{row, neighbor.distance};
    AddLinks(ctx, neighbor.row, level, {&back, 1});
  }
}

void HnswIndex::WriteLinks(RowId row, int level, std::span<const Neighbor> neighbors) {
  std::lock_guard lock(LinkLock(row));
  uint32_t* list = Links(row, level);
  for (size_t j = 0; j < neighbors.size(); ++j) StoreLink(list + 1 + j, neighbors[j].row);
  StoreLink(list, static_cast<uint32_t>(neighbors.size()));
}

void HnswIndex::AddLinks(SearchContext& ctx, RowId to, int level,
                         std::span<const Neighbor> incoming) {
  const uint32_t max_links = level == 0 ? max_links0_ : params_.m;
  std::lock_guard lock(LinkLock(to));
  uint32_t* list = Links(to, level);
  const uint32_t count = LoadLink(list);
  std::vector<Neighbor>& merged = ctx.merged;
  merged.clear();
  for (const Neighbor& n : incoming) {
    bool listed = false;
    for (uint32_t j = 0; j < count && !listed; ++j) listed = LoadLink(list + 1 + j) == n.row;
    if (!listed) merged.push_back(n);
  }
  if (count + merged.size() <= max_links) {
    for (size_t i = 0; i < merged.size(); ++i) StoreLink(list + 1 + count + i, merged[i].row);
    StoreLink(list, count + static_cast<uint32_t>(merged.size()));
    return;
  }
  // Too many: keep the most useful max_links of the old and new neighbours.
  ctx.base.resize(dim());
  const float* base = link_space_.RowAsQuery(LinkRow(to), ctx.base.data());
  ctx.ids.clear();
  ctx.rows.clear();
  for (uint32_t j = 0; j < count; ++j) {
    ctx.ids.push_back(LoadLink(list + 1 + j));
    ctx.rows.push_back(LinkRow(ctx.ids.back()));
  }
  ctx.distances.resize(count);
  link_space_.DistancesToRows(base, ctx.rows.data(), count, ctx.distances.data());
  for (uint32_t j = 0; j < count; ++j) merged.push_back({ctx.ids[j], ctx.distances[j]});
  std::sort(merged.begin(), merged.end(), hnsw_internal::NearerOrLower);
  SelectNeighbors(ctx, &merged, max_links);
  for (size_t j = 0; j < merged.size(); ++j) StoreLink(list + 1 + j, merged[j].row);
  StoreLink(list, static_cast<uint32_t>(merged.size()));
}

arrow::Result<RowId> HnswIndex::Add(std::span<const float> vector) {
  ARROW_RETURN_NOT_OK(CheckDimension(vector.size(), dim()));
  for (;;) {
    {
      ReaderLock inserting(&recode_mutex_);
      if (BuildCopiesReady(vector)) return InsertRows(vector, /*threads=*/0);
    }
    ARROW_RETURN_NOT_OK(ReadyBuildCopies(vector));
  }
}

arrow::Result<RowId> HnswIndex::AddBatch(std::span<const float> vectors, int threads) {
  if (vectors.empty() || vectors.size() % dim() != 0) {
    return arrow::Status::Invalid("a batch of ", vectors.size(),
                                  " floats is not a whole number of rows of width ", dim());
  }
  for (;;) {
    {
      ReaderLock inserting(&recode_mutex_);
      if (BuildCopiesReady(vectors)) return InsertRows(vectors, threads);
    }
    ARROW_RETURN_NOT_OK(ReadyBuildCopies(vectors));
  }
}

arrow::Result<RowId> HnswIndex::InsertRows(std::span<const float> vectors, int threads) {
  const size_t count = vectors.size() / dim();
  std::shared_lock training(train_mutex_, std::defer_lock);
  if (quantizer_) training.lock();
  // Rows are appended in order, so that they get consecutive ids; linking them, the costly
  // part, is what runs in parallel (as concurrent Adds would, under the same locks).
  ARROW_ASSIGN_OR_RAISE(const RowId first, AppendRow(vectors.data()));
  for (size_t i = 1; i < count; ++i) {
    ARROW_ASSIGN_OR_RAISE(const RowId row, AppendRow(vectors.data() + i * dim()));
    if (row != first + i) {
      return arrow::Status::Invalid("AddBatch raced with Add: row ", row, " is not ", first + i);
    }
  }
  if (threads == 0) {
    Link(first);  // Add's one row
  } else if (params_.batch_link) {
    LinkBatch(first, first + static_cast<RowId>(count), threads);
  } else {
    ForEachTask(count, threads, kRowsPerLinkThread,
                [&](size_t i) { Link(first + static_cast<RowId>(i)); });
  }
  if (training.owns_lock()) {
    training.unlock();
    ARROW_RETURN_NOT_OK(MaybeTrainQuantizer());
  }
  return first;
}

namespace {

// Rows for Int8BuildCodes: rows [0, stored) of the index as stored, then `added` (rows as
// given to Add or AddBatch) in stored form (cosine rows normalised, into a scratch row).
Int8BuildCodes::RowFn StoredThenAdded(const IndexRows& rows, RowId stored,
                                      std::span<const float> added, std::vector<float>* scratch) {
  const DistanceSpace& space = rows.space();
  scratch->resize(space.dim());
  return [&rows, &space, stored, added, scratch](size_t i) {
    if (i < stored) return static_cast<const float*>(rows.Row(static_cast<RowId>(i)));
    const float* vector = added.data() + (i - stored) * space.dim();
    if (space.metric() != Metric::kCosine) return vector;
    space.PrepareQuery(vector, scratch->data());
    return static_cast<const float*>(scratch->data());
  };
}

}  // namespace

bool HnswIndex::BuildCopiesReady(std::span<const float> vectors) const {
  if (copy_rows_missing_.load(std::memory_order_acquire) != 0) return false;
  if (!int8_codes_) return true;
  if (store_.count() + vectors.size() / dim() >=
      next_separation_check_.load(std::memory_order_relaxed)) {
    return false;
  }
  std::vector<float> scratch;
  return int8_codes_->Covers(vectors.size() / dim(), StoredThenAdded(store_, 0, vectors, &scratch));
}

bool HnswIndex::FitInt8Range(size_t rows, const Int8BuildCodes::RowFn& row) {
  if (!int8_codes_->learned()) {
    int8_codes_->Learn(rows, row);
    return true;
  }
  if (int8_codes_->Covers(rows, row)) return false;
  int8_codes_->Widen(rows, row);
  int8_recodes_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool HnswIndex::CheckInt8Separation(size_t rows, const Int8BuildCodes::RowFn& row, bool forced) {
  if (rows < kMinSeparationRows ||
      (!forced && rows < next_separation_check_.load(std::memory_order_relaxed))) {
    return false;
  }
  next_separation_check_.store(2 * uint64_t{rows}, std::memory_order_relaxed);
  separation_ = int8_codes_->Separate(rows, row, encode_half_);
  if (separation_.merged_fraction() <= params_.int8_fallback_fraction) return false;
  FallBackToFloat16();
  return true;
}

void HnswIndex::FallBackToFloat16() {
  copies_ = BuildCopies::kFloat16;
  link_space_ = DistanceSpace(store_.space().metric(), simd::ElementType::kFloat16, dim());
  copy_rows_ = std::make_unique<RecordArena>(link_space_.row_bytes(), 64);
  int8_codes_.reset();
  build_type_.store(simd::ElementType::kFloat16, std::memory_order_release);
  int8_fell_back_.store(true, std::memory_order_release);
}

Int8BuildCodes::Separation HnswIndex::int8_separation() const {
  ReaderLock reading(&recode_mutex_);
  return separation_;
}

arrow::Status HnswIndex::ReadyBuildCopies(std::span<const float> vectors) {
  WriterLock recoding(&recode_mutex_);
  const RowId stored = store_.count();
  if (int8_codes_) {
    std::vector<float> scratch;
    const size_t added = vectors.size() / dim();
    // Every stored row is inside the range (they were encoded in it); only `vectors` may not
    // be. A new range is fitted to all rows, and all stored rows are coded again in it.
    const bool refit =
        !int8_codes_->Covers(added, StoredThenAdded(store_, 0, vectors, &scratch)) &&
        FitInt8Range(stored + added, StoredThenAdded(store_, stored, vectors, &scratch));
    bool fell_back = false;
    if (refit && !int8_codes_->Covers(added, StoredThenAdded(store_, 0, vectors, &scratch))) {
      // No range codes these rows: magnitudes near float's limit overflow the range's
      // arithmetic. Without the fallback every insert would widen the range again, forever.
      FallBackToFloat16();
      fell_back = true;
    } else {
      // A new range (or twice the rows of the last check): do the codes still separate them?
      fell_back = CheckInt8Separation(stored + added,
                                      StoredThenAdded(store_, stored, vectors, &scratch), refit);
    }
    if (refit || fell_back) copy_rows_missing_.store(stored, std::memory_order_release);
  }
  const RowId missing = copy_rows_missing_.load(std::memory_order_acquire);
  if (missing == 0) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(EncodeBuildCopies(0, missing));
  copy_rows_missing_.store(0, std::memory_order_release);
  return arrow::Status::OK();
}

arrow::Status HnswIndex::EncodeBuildCopies(RowId begin, RowId end) {
  if (!build_copies_ || begin >= end) return arrow::Status::OK();
  if (!copy_rows_->Reserve(end)) {
    return arrow::Status::CapacityError("HNSW build copies cannot grow beyond ", begin, " rows");
  }
  auto stored = [this](RowId row) { return static_cast<const float*>(store_.Row(row)); };
  if (int8_codes_) {
    for (RowId row = begin; row < end; ++row) {
      int8_codes_->Encode(stored(row), reinterpret_cast<int8_t*>(copy_rows_->At(row)));
    }
    return arrow::Status::OK();
  }
  for (RowId row = begin; row < end; ++row) encode_half_(stored(row), dim(), copy_rows_->At(row));
  return arrow::Status::OK();
}

arrow::Status HnswIndex::WriteAllBuildCopies(RowId end, const HnswIndex* range_from) {
  WriterLock recoding(&recode_mutex_);
  if (int8_codes_ && range_from != nullptr && range_from->int8_fell_back()) {
    FallBackToFloat16();  // the source's choice, made over its rows
  } else if (int8_codes_ && end > 0) {
    if (range_from != nullptr && range_from->int8_codes_) {
      const std::vector<float> range = range_from->int8_build_range();
      if (!range.empty()) ARROW_RETURN_NOT_OK(int8_codes_->Restore(range));
    }
    std::vector<float> scratch;
    FitInt8Range(end, StoredThenAdded(store_, end, {}, &scratch));
    CheckInt8Separation(end, StoredThenAdded(store_, end, {}, &scratch), /*forced=*/true);
  }
  ARROW_RETURN_NOT_OK(EncodeBuildCopies(0, end));
  copy_rows_missing_.store(0, std::memory_order_release);
  return arrow::Status::OK();
}

std::vector<float> HnswIndex::int8_build_range() const {
  ReaderLock reading(&recode_mutex_);
  return int8_codes_ ? int8_codes_->State() : std::vector<float>{};
}

int64_t HnswIndex::DropBuildCopies() {
  if (!build_copies_) return 0;
  WriterLock dropping(&recode_mutex_);
  const auto freed = static_cast<int64_t>(copy_rows_->allocated_bytes());
  copy_rows_->Clear();
  copy_rows_missing_.store(store_.count(), std::memory_order_release);
  return freed;
}

arrow::Result<RowId> HnswIndex::AppendRow(const float* vector) {
  ARROW_ASSIGN_OR_RAISE(const RowId row, store_.Append(vector));
  if (!links0_.Reserve(uint64_t{row} + 1) || !nodes_.Reserve(uint64_t{row} + 1) ||
      (quantizer_ && !codes_.Reserve(uint64_t{row} + 1))) {
    return arrow::Status::CapacityError("HNSW graph cannot grow beyond ", row, " rows");
  }
  ARROW_RETURN_NOT_OK(EncodeBuildCopies(row, row + 1));
  if (codes_ready_.load(std::memory_order_acquire)) {
    quantizer_->Encode(static_cast<const float*>(store_.Row(row)), codes_.At(row));
  }
  SetLevel(row, RandomLevel(row));
  return row;
}

void HnswIndex::SetLevel(RowId row, int level) {
  NodeInfo* node = Node(row);
  node->level = level;
  if (level > 0) {
    const size_t words = UpperWords(level);
    node->upper = new uint32_t[words]();
    upper_bytes_.fetch_add(words * sizeof(uint32_t), std::memory_order_relaxed);
  }
}

void HnswIndex::Link(RowId row) {
  SearchContextPool::Lease ctx = contexts_.Acquire();
  {
    MutexLock registry(&in_flight_mutex_);
    ctx->in_flight.assign(in_flight_.begin(), in_flight_.end());
    in_flight_.push_back(row);
  }
  Insert(*ctx, row, /*fresh=*/true);
  MutexLock registry(&in_flight_mutex_);
  in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), row));
}

void HnswIndex::Relink(RowId row) {
  SearchContextPool::Lease ctx = contexts_.Acquire();
  ctx->in_flight.clear();
  Insert(*ctx, row, /*fresh=*/false);
}

void HnswIndex::AddInFlight(SearchContext& ctx, const Scorer& scorer, RowId row,
                            std::vector<Neighbor>* neighbors) const {
  std::vector<Neighbor>& others = ctx.merged;
  others.clear();
  for (const RowId other : ctx.in_flight) {
    const bool listed = std::any_of(neighbors->begin(), neighbors->end(),
                                    [other](const Neighbor& n) { return n.row == other; });
    if (other != row && !listed) others.push_back(scorer.Score(other));
  }
  std::sort(others.begin(), others.end(), hnsw_internal::NearerOrLower);
  ctx.base.resize(dim());
  for (const Neighbor& other : others) {
    // Decoded once as a query, then compared with each kept row as stored (distances are
    // symmetric).
    const float* other_row = link_space_.RowAsQuery(LinkRow(other.row), ctx.base.data());
    const bool diverse = std::all_of(neighbors->begin(), neighbors->end(), [&](Neighbor kept) {
      return link_space_.Distance(other_row, LinkRow(kept.row)) >= other.distance;
    });
    if (diverse) neighbors->push_back(other);
  }
}

void HnswIndex::Insert(SearchContext& ctx, RowId row, bool fresh) {
  const int level = Node(row)->level;
  ctx.query.resize(dim());
  const float* query = link_space_.RowAsQuery(LinkRow(row), ctx.query.data());
  // Rows that may raise the top level insert under entry_mutex_ (rare: ~1/m of rows).
  std::unique_lock entry_lock(entry_mutex_, std::defer_lock);
  if (level > LoadEntry().level) entry_lock.lock();
  const Entry top = LoadEntry();
  const uint64_t new_entry = uint64_t{static_cast<uint32_t>(level)} << 32 | row;
  if (top.level < 0) {
    entry_.store(new_entry, std::memory_order_release);
    return;
  }
  // Rows appended after this point are ignored by this insert's searches.
  const RowId limit = store_.count();
  const Scorer scorer(link_space_, LinkRows(), query);
  Neighbor entry = Descend(ctx, scorer, top, level, limit);
  const int linked_levels = std::min(level, top.level) + 1;
  if (ctx.chosen.size() < static_cast<size_t>(linked_levels)) ctx.chosen.resize(linked_levels);
  for (int l = linked_levels - 1; l >= 0; --l) {
    SearchLevel(ctx, scorer, entry, l, params_.ef_construction, limit,
                [row](RowId other) { return other != row; });
    std::vector<Neighbor>& neighbors = ctx.chosen[l];
    neighbors.clear();
    ctx.results.DrainSorted(&neighbors);
    if (neighbors.empty()) continue;  // only the row itself was reachable (a relinked row)
    entry = neighbors.front();
    SelectNeighbors(ctx, &neighbors, params_.m);
    if (l == 0) AddInFlight(ctx, scorer, row, &neighbors);
  }
  // Lists are written bottom-up, once every level is searched: the row becomes reachable at a
  // level (its neighbours' back-links) only once its lists below are written. Written top-down,
  // as each level was searched, a concurrent insert could reach the row at an upper level, find
  // its lower lists empty, link to it alone there, and lose that back-link when the row wrote
  // its own list over it: about one build in 40 of concurrent single-row Adds left ~10% of its
  // rows unreachable (HnswTest.Int8RangeWidensUnderConcurrentAddsAndSearches).
  for (int l = 0; l < linked_levels; ++l) {
    if (!ctx.chosen[l].empty()) Connect(ctx, row, l, ctx.chosen[l], fresh);
  }
  if (level > top.level) entry_.store(new_entry, std::memory_order_release);
}

uint32_t HnswIndex::TrainingRows() const {
  return params_.quantization == Quantization::kPq ? params_.pq_training_rows
                                                   : params_.sq8_training_rows;
}

arrow::Status HnswIndex::MaybeTrainQuantizer() {
  if (codes_ready_.load(std::memory_order_acquire) || store_.count() < TrainingRows()) {
    return arrow::Status::OK();
  }
  std::unique_lock lock(train_mutex_);  // waits for adds in progress; blocks new ones
  if (codes_ready_.load(std::memory_order_acquire)) return arrow::Status::OK();
  const RowId count = store_.count();
  std::vector<const float*> rows(count);
  for (RowId row = 0; row < count; ++row) rows[row] = static_cast<const float*>(store_.Row(row));
  ARROW_RETURN_NOT_OK(quantizer_->Train(rows));
  for (RowId row = 0; row < count; ++row) quantizer_->Encode(rows[row], codes_.At(row));
  codes_ready_.store(true, std::memory_order_release);
  return arrow::Status::OK();
}

void HnswIndex::ExactSearch(const float* query, const SearchOptions& options,
                            std::vector<Neighbor>* out) const {
  TopK top(options.k);
  store_.Scan(query, options, &top);
  out->clear();
  top.DrainSorted(out);
}

template <class Accept>
void HnswIndex::SearchQuantized(SearchContext& ctx, const float* query, Entry entry, size_t ef,
                                size_t k, RowId limit, Accept accept,
                                std::vector<Neighbor>* out) const {
  ctx.prepared.resize(quantizer_->query_floats());
  const float constant = quantizer_->PrepareQuery(query, ctx.prepared.data());
  const Scorer scorer(store_.space(), codes_, ctx.prepared.data(), quantizer_.get(), constant);
  SearchLevel(ctx, scorer, Descend(ctx, scorer, entry, 0, limit), 0, ef, limit, accept);
  ctx.sorted.clear();
  ctx.results.DrainSorted(&ctx.sorted);
  ctx.rows.clear();
  for (const Neighbor& n : ctx.sorted) ctx.rows.push_back(store_.Row(n.row));
  ctx.distances.resize(ctx.rows.size());
  store_.space().DistancesToRows(query, ctx.rows.data(), ctx.rows.size(), ctx.distances.data());
  ctx.results.Reset(k);
  for (size_t i = 0; i < ctx.sorted.size(); ++i) {
    ctx.results.Push({ctx.sorted[i].row, ctx.distances[i]});
  }
  ctx.results.DrainSorted(out);
}

arrow::Status HnswIndex::Search(std::span<const float> query, const SearchOptions& options,
                                std::vector<Neighbor>* out) const {
  ARROW_RETURN_NOT_OK(CheckDimension(query.size(), dim()));
  out->clear();
  if (options.k == 0) return arrow::Status::OK();
  SearchContextPool::Lease ctx = contexts_.Acquire();
  ctx->query.resize(dim());
  store_.space().PrepareQuery(query.data(), ctx->query.data());
  const float* q = ctx->query.data();
  const Entry top = LoadEntry();
  const RowId limit = store_.count();  // after the entry point, so that it is below it
  const size_t ef =
      std::max<size_t>(options.k, options.ef ? options.ef : DefaultSearchEf(options.k, limit));
  // Rows at or past row_limit still route the walk but are never returned.
  const RowId returnable = options.row_limit > 0 ? std::min(limit, options.row_limit) : limit;
  const Roaring* filter = options.filter;
  const Roaring* exclude =
      options.exclude != nullptr && !options.exclude->isEmpty() ? options.exclude : nullptr;
  const RowId offset = options.row_offset;
  const RowId exclude_offset = options.exclude_offset;
  // Rows that may be returned, at most (an overestimate only costs an exact scan below).
  uint64_t matching = filter == nullptr ? limit
                      : offset == 0     ? filter->cardinality()
                                        : roaring_bitmap_range_cardinality(&filter->roaring, offset,
                                                                           uint64_t{offset} + limit);
  if (exclude != nullptr) {
    const uint64_t left_out =
        filter == nullptr ? roaring_bitmap_range_cardinality(&exclude->roaring, exclude_offset,
                                                             uint64_t{exclude_offset} + limit)
        : offset == 0 && exclude_offset == 0 ? filter->and_cardinality(*exclude)
                                             : 0;  // both, in different numberings: overestimated
    matching -= std::min(matching, left_out);
  }
  const double exact_rows = std::max(4.0 * ef, params_.exact_filter_fraction * limit);
  if (filter != nullptr && static_cast<double>(matching) <= exact_rows) {
    ExactSearch(q, options, out);
  } else if (top.level >= 0) {
    auto accept = [&](RowId row) {
      return row < returnable && store_.IsReady(row) &&
             (filter == nullptr || filter->contains(row + offset)) &&
             (exclude == nullptr || !exclude->contains(row + exclude_offset));
    };
    if (codes_ready_.load(std::memory_order_acquire)) {
      SearchQuantized(*ctx, q, top, ef, options.k, limit, accept, out);
    } else {
      const Scorer scorer = FullScorer(q);
      SearchLevel(*ctx, scorer, Descend(*ctx, scorer, top, 0, limit), 0, ef, limit, accept);
      ctx->results.DrainSorted(out);
      if (out->size() > options.k) out->resize(options.k);
    }
    // The graph walk found fewer than k of the matching rows: scan them exactly.
    if (out->size() < options.k && matching > out->size()) ExactSearch(q, options, out);
  }
  for (Neighbor& n : *out) n.distance = store_.space().Reported(n.distance);
  return arrow::Status::OK();
}

arrow::Status HnswIndex::Save(const std::string& path, VectorsPlacement placement) const {
  return HnswFile::Write(*this, path, placement);
}

arrow::Result<std::unique_ptr<HnswIndex>> HnswIndex::Load(const std::string& path,
                                                          const ExternalVectors* vectors) {
  return HnswFile::Read(path, vectors);
}

MemoryUsage HnswIndex::memory() const {
  ReaderLock reading(&recode_mutex_);  // FallBackToFloat16 replaces copy_rows_
  return {store_.vector_bytes() + store_.flag_bytes() + codes_.allocated_bytes() +
              copy_rows_->allocated_bytes(),
          links0_.allocated_bytes() + nodes_.allocated_bytes() +
              upper_bytes_.load(std::memory_order_relaxed),
          contexts_.bytes()};
}

int64_t HnswIndex::MemoryModel::BytesFor(int64_t rows) const {
  int64_t bytes = fixed_bytes + rows * upper_bytes_per_row;
  for (const Arena& arena : arenas) {
    const int64_t chunks = (rows + arena.records_per_chunk - 1) / arena.records_per_chunk;
    bytes += chunks * arena.records_per_chunk * arena.stride;
  }
  return bytes;
}

HnswIndex::MemoryModel HnswIndex::memory_model() const {
  ReaderLock reading(&recode_mutex_);  // FallBackToFloat16 replaces copy_rows_
  return ModelWithCopies(build_copies_ ? copy_rows_->record_bytes() : 0);
}

HnswIndex::MemoryModel HnswIndex::fallback_memory_model() const {
  ReaderLock reading(&recode_mutex_);  // FallBackToFloat16 replaces copy_rows_
  const size_t copy_row_bytes =
      copies_ == BuildCopies::kInt8
          ? DistanceSpace(store_.space().metric(), simd::ElementType::kFloat16, dim()).row_bytes()
      : build_copies_ ? copy_rows_->record_bytes()
                      : 0;
  return ModelWithCopies(copy_row_bytes);
}

HnswIndex::MemoryModel HnswIndex::ModelWithCopies(size_t copy_row_bytes) const {
  MemoryModel model;
  model.fixed_bytes = static_cast<int64_t>(kLinkLocks * sizeof(std::mutex));
  auto add = [&model](const RecordArena& arena) {
    model.arenas.push_back(
        {static_cast<int64_t>(arena.stride()), static_cast<int64_t>(arena.records_per_chunk())});
  };
  add(store_.rows());
  add(store_.flags());
  add(links0_);
  add(nodes_);
  if (copy_row_bytes > 0) {
    // Build copies are 64-byte aligned (copy_rows_), in arenas of the default chunk size.
    const size_t stride = RecordArena::StrideFor(copy_row_bytes, 64);
    model.arenas.push_back(
        {static_cast<int64_t>(stride), int64_t{1} << RecordArena::ChunkLog2For(stride)});
    model.build_copy_bytes_per_row = static_cast<int64_t>(stride);
  }
  if (quantizer_) add(codes_);
  // A row reaches level l >= 1 with probability m^-l: 1 / (m - 1) upper lists of m + 1 words
  // per row on average, each row's levels in one heap block (16 bytes of overhead, for the
  // 1 / m rows above level 0).
  const int64_t m = params_.m;
  model.upper_bytes_per_row = 2 * ((m + 1) * 4 + m - 2) / (m - 1) + (16 + m - 1) / m;
  return model;
}

}  // namespace arbalest
