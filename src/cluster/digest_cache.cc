#include "cluster/digest_cache.h"

#include <arrow/array.h>
#include <arrow/status.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "store/scan.h"

namespace arbalest {
namespace {

// The type of the view's ids; Invalid, as a scan's digest, when it has none or of a type a
// shard's ids cannot have.
arrow::Result<std::shared_ptr<arrow::DataType>> IdType(const DatasetSnapshot& snapshot) {
  auto field = snapshot.schema->GetFieldByName("id");
  if (!field) return arrow::Status::Invalid("a shard dataset's rows without an id column");
  ARROW_RETURN_NOT_OK(IdTypeName(*field->type()).status());
  return field->type();
}

}  // namespace

bool DigestCache::SameSegment(const Entry& entry, const std::string& dataset, int32_t version,
                              const SegmentView& segment) {
  return entry.dataset == dataset && entry.first_row == segment.first_row &&
         entry.version == version && entry.graph.lock() == segment.graph;
}

Json DigestCache::Stats::ToJson() const {
  return {{"segments", segments},
          {"rows", rows},
          {"bytes", bytes},
          {"charged_bytes", charged},
          {"hashed_rows", hashed_rows},
          {"reused_rows", reused_rows}};
}

DigestCache::~DigestCache() {
  MutexLock lock(&mutex_);
  if (budget_) budget_->Adjust(-charged_);
}

int64_t DigestCache::Bytes() const {
  int64_t bytes = 0;
  for (const Entry& entry : entries_) {
    bytes += static_cast<int64_t>(entry.hashes->capacity() * sizeof(RowHash));
    if (entry.table) bytes += int64_t{entry.table->buckets()} * 16;  // a count and a sum each
  }
  return bytes;
}

void DigestCache::Recharge() {
  const int64_t bytes = Bytes();
  if (budget_ && bytes != charged_) {
    budget_->Adjust(bytes - charged_);
    charged_ = bytes;
  }
  if (on_bytes_) on_bytes_(bytes);
}

void DigestCache::ChargeTo(std::shared_ptr<MemoryBudget> budget) {
  MutexLock lock(&mutex_);
  if (budget_) budget_->Adjust(-charged_);
  charged_ = 0;
  budget_ = std::move(budget);
  Recharge();
}

DigestCache::Stats DigestCache::stats() const {
  MutexLock lock(&mutex_);
  Stats stats;
  stats.segments = static_cast<int64_t>(entries_.size());
  for (const Entry& entry : entries_) {
    stats.rows += static_cast<int64_t>(entry.hashes->size());
  }
  stats.bytes = Bytes();
  stats.charged = charged_;
  stats.hashed_rows = hashed_rows_;
  stats.reused_rows = reused_rows_;
  return stats;
}

arrow::Result<std::shared_ptr<const std::vector<RowHash>>> DigestCache::HashesOf(
    const std::string& dataset, int32_t version, const std::string& schema,
    const DatasetSnapshot& snapshot, const SegmentView& segment, Work* work) {
  const auto same_segment = [&](const Entry& entry) {
    return SameSegment(entry, dataset, version, segment);
  };
  std::shared_ptr<const std::vector<RowHash>> kept;
  const auto now = std::chrono::steady_clock::now();
  if (segment.graph) {
    MutexLock lock(&mutex_);
    for (Entry& entry : entries_) {
      if (same_segment(entry) && entry.schema == schema) {
        kept = entry.hashes;
        entry.used = now;
        break;
      }
    }
  }
  // Never more rows than the segment holds (a segment's rows only grow while it keeps its graph).
  if (kept && static_cast<int64_t>(kept->size()) > segment.rows) kept.reset();
  const int64_t have = kept ? static_cast<int64_t>(kept->size()) : 0;
  work->reused += have;
  if (kept && have == segment.rows) return kept;
  // The rows not kept yet, hashed as a scan returns them (padded to the dataset's schema), or
  // their ids.
  auto hashes = std::make_shared<std::vector<RowHash>>();
  hashes->reserve(static_cast<size_t>(segment.rows));
  if (kept) hashes->assign(kept->begin(), kept->begin() + have);
  ARROW_RETURN_NOT_OK(ForEachRowSlice(
      snapshot, segment.first_row + have, segment.end_row(),
      [&](const std::shared_ptr<arrow::RecordBatch>& slice, int64_t) -> arrow::Status {
        std::vector<RowHash> rows;
        if (version == kDigestVersionIds) {
          ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(*slice));
          ARROW_ASSIGN_OR_RAISE(rows, IdRowHashes(*ids));
        } else {
          ARROW_ASSIGN_OR_RAISE(auto padded, PadToSchema(slice, snapshot.schema));
          ARROW_ASSIGN_OR_RAISE(rows, RowHashes(*padded));
        }
        hashes->insert(hashes->end(), rows.begin(), rows.end());
        return arrow::Status::OK();
      }));
  if (static_cast<int64_t>(hashes->size()) != segment.rows) {
    return arrow::Status::Invalid("the batches of ", dataset, " hold ", hashes->size(),
                                  " rows of the segment from row ", segment.first_row, ", not ",
                                  segment.rows);
  }
  work->hashed += segment.rows - have;
  if (!segment.graph) return hashes;
  MutexLock lock(&mutex_);
  Entry fresh{dataset, segment.first_row, segment.graph, version, schema, hashes, nullptr, now};
  for (Entry& entry : entries_) {
    if (same_segment(entry)) {
      // A longer run of the same segment's rows, or the rows under another schema.
      if (entry.schema != schema || entry.hashes->size() < hashes->size()) {
        // The kept table still holds a prefix of the same rows' hashes.
        if (entry.schema == schema) fresh.table = std::move(entry.table);
        entry = fresh;
        Recharge();
      }
      return hashes;
    }
  }
  entries_.push_back(std::move(fresh));
  Recharge();
  return hashes;
}

void DigestCache::AddSegmentTable(const std::string& dataset, int32_t version,
                                  const std::string& schema, const SegmentView& segment,
                                  const std::vector<RowHash>& hashes, BucketTable* total,
                                  Work* work) {
  const auto rows = static_cast<int64_t>(hashes.size());
  if (!segment.graph || rows < kTableRowsPerBucket * total->buckets()) {
    for (const RowHash& row : hashes) total->AddHash(row);
    work->summed += rows;
    return;
  }
  const auto same_entry = [&](const Entry& entry) {
    return SameSegment(entry, dataset, version, segment) && entry.schema == schema;
  };
  std::shared_ptr<const BucketTable> kept;
  {
    MutexLock lock(&mutex_);
    for (const Entry& entry : entries_) {
      if (same_entry(entry)) {
        kept = entry.table;
        break;
      }
    }
  }
  if (kept && (kept->buckets() != total->buckets() || kept->rows() > rows)) kept.reset();
  if (kept && kept->rows() == rows) {
    total->AddTable(*kept);
    return;
  }
  auto table = kept ? std::make_shared<BucketTable>(*kept)
                    : std::make_shared<BucketTable>(total->buckets(), version);
  work->summed += rows - table->rows();
  for (auto row = static_cast<size_t>(table->rows()); row < hashes.size(); ++row) {
    table->AddHash(hashes[row]);
  }
  total->AddTable(*table);
  MutexLock lock(&mutex_);
  for (Entry& entry : entries_) {
    // The entry of these hashes (or of more of the segment's rows, kept meanwhile).
    if (same_entry(entry) && static_cast<int64_t>(entry.hashes->size()) >= rows) {
      entry.table = std::move(table);
      Recharge();
      return;
    }
  }
}

void DigestCache::DropUnused(std::chrono::steady_clock::duration unused) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(&mutex_);
  const size_t erased = std::erase_if(entries_, [&](const Entry& entry) {
    return now - entry.used >= unused || entry.graph.expired();
  });
  if (erased > 0) Recharge();
}

void DigestCache::Evict(const std::string& dataset, const DatasetSnapshot& snapshot) {
  MutexLock lock(&mutex_);
  const size_t erased = std::erase_if(entries_, [&](const Entry& entry) {
    const auto graph = entry.graph.lock();
    if (!graph) return true;
    if (entry.dataset != dataset) return false;
    return std::none_of(snapshot.segments.begin(), snapshot.segments.end(),
                        [&](const SegmentView& segment) {
                          return segment.first_row == entry.first_row && segment.graph == graph;
                        });
  });
  if (erased > 0) Recharge();
}

arrow::Result<Json> DigestCache::Answer(const ShardDigestRequest& request,
                                        const std::string& dataset,
                                        const DatasetSnapshot& snapshot) {
  const int32_t version = request.version;
  if (version != kDigestVersionIds && version != kDigestVersionContent) {
    return arrow::Status::Invalid("no digest of version ", version);
  }
  const auto started = std::chrono::steady_clock::now();
  std::string schema;
  if (version == kDigestVersionContent) {
    schema = snapshot.schema->ToString(/*show_metadata=*/false);
  } else if (const auto id = snapshot.schema->GetFieldByName("id")) {
    schema = id->type()->ToString();
  }
  Work work;
  std::vector<std::shared_ptr<const std::vector<RowHash>>> segments;
  if (snapshot.live_rows() > 0) {
    ARROW_RETURN_NOT_OK(IdType(snapshot).status());
    for (const SegmentView& segment : snapshot.segments) {
      ARROW_ASSIGN_OR_RAISE(auto hashes,
                            HashesOf(dataset, version, schema, snapshot, segment, &work));
      segments.push_back(std::move(hashes));
    }
  }
  Evict(dataset, snapshot);
  Json answer;
  if (!request.ids_of) {
    BucketTable table(request.buckets, version);
    for (size_t s = 0; s < segments.size(); ++s) {
      const std::vector<RowHash>& hashes = *segments[s];
      AddSegmentTable(dataset, version, schema, snapshot.segments[s], hashes, &table, &work);
      for (const uint32_t local : snapshot.segments[s].deleted->rows()) {
        table.RemoveHash(hashes[local]);
      }
    }
    if (table.rows() > 0) {
      ARROW_ASSIGN_OR_RAISE(auto type, IdType(snapshot));
      ARROW_RETURN_NOT_OK(table.NoteIdType(*type));
    }
    answer = table.ToJson();
  } else {
    std::vector<Json> ids;
    std::vector<uint64_t> digests;
    for (size_t s = 0; s < segments.size(); ++s) {
      const SegmentView& segment = snapshot.segments[s];
      const std::vector<RowHash>& hashes = *segments[s];
      ARROW_RETURN_NOT_OK(ForEachRowSlice(
          snapshot, segment.first_row, segment.end_row(),
          [&](const std::shared_ptr<arrow::RecordBatch>& slice, int64_t first) -> arrow::Status {
            ARROW_ASSIGN_OR_RAISE(const auto column, IdColumnOf(*slice));
            for (int64_t row = 0; row < slice->num_rows(); ++row) {
              const int64_t local = first + row - segment.first_row;
              if (segment.deleted->contains(static_cast<uint32_t>(local))) continue;
              const RowHash& hash = hashes[static_cast<size_t>(local)];
              if (!request.ids_of->contains(BucketOfPlace(hash.place, request.buckets))) continue;
              ids.push_back(IdJson(*column, row));
              if (version == kDigestVersionContent) digests.push_back(hash.digest);
            }
            return arrow::Status::OK();
          }));
    }
    Json type = nullptr;
    if (!segments.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto id_type, IdType(snapshot));
      ARROW_ASSIGN_OR_RAISE(std::string name, IdTypeName(*id_type));
      type = name;
    }
    answer = {{"version", version}, {"type", std::move(type)}, {"ids", std::move(ids)}};
    if (version == kDigestVersionContent) answer["hashes"] = std::move(digests);
  }
  {
    MutexLock lock(&mutex_);
    hashed_rows_ += work.hashed;
    reused_rows_ += work.reused;
  }
  const Stats now = stats();
  answer["cache"] = {{"rows_hashed", work.hashed},
                     {"rows_reused", work.reused},
                     {"rows_summed", work.summed},
                     {"segments", now.segments},
                     {"bytes", now.bytes}};
  answer["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return answer;
}

}  // namespace arbalest
