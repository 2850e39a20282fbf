// The digests (shard_digest.h: version 1, of ids, and version 2, of contents) of this node's
// shard copies, answered from hashes kept per segment instead of a scan that hashes every row
// (its id, or every column) on each request (docs/cluster.md, "Catch-up"):
//   - A segment's rows never change once stored (store/segment.h: a sealed segment takes no
//     rows again and a compaction or a merge makes a new graph object; the active one only
//     grows; deletes are tombstones beside the rows). So the RowHash (16 bytes) of each of a
//     segment's rows, deleted ones included, is computed once and kept, keyed by the dataset,
//     the segment's first row and its graph object (held weakly: an entry whose graph died is
//     never matched, however its address is reused), the digest's version (a segment asked
//     both ways keeps both) and, for content hashes, the dataset's schema (the rows are hashed
//     as a scan returns them, padded to it: a column added later changes every row's hash; an
//     id's hash depends on its id alone). A request hashes only the rows stored since the last one
//     (the active segment's new rows, a segment new to the view), nothing else.
//   - A table adds every segment's table (every row's hash, deleted ones included), then takes
//     away the hashes of the segment's deleted rows (its TombstoneSet); the ids of some buckets
//     walk the live rows and read the ids of those that fall in them. A segment of at least
//     kTableRowsPerBucket rows per bucket keeps the table of its rows of the last request's
//     bucket count beside its hashes (16 bytes a bucket), so that the next request of as many
//     buckets adds that table and the hashes of the rows stored since, not every row's hash;
//     a smaller segment's rows are summed (fewer steps than a table's buckets). Both equal what
//     AnswerShardDigest computes over a scan of the same view (tests/cluster/digest_cache_test.cc).
//   - An entry leaves as soon as a request for its dataset finds a view without that segment
//     (a compaction, a merge, a drop and a new copy), or any request or DropUnused finds its
//     graph gone (the dataset dropped), or when no request used it for kUnusedFor (DropUnused,
//     which the catch-up thread calls at each pass: the hashes serve the comparisons of a catch-up,
//     a few within seconds or minutes). Its memory (16 bytes per row, 3% of a row of 128 float32)
//     is counted in stats() and in every answer's "cache", reported by cluster-status, and charged
//     to the store's memory budget (--max-memory) once ChargeTo names it: never refused (the hashes
//     derive from rows already stored, as an index's growth), released as entries leave and when
//     the cache goes.
// Thread-safe: the hashes are computed outside the lock; two requests that compute the same
// segment at once both keep a correct entry (the later one stays).
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/shard_digest.h"
#include "common/json_util.h"
#include "common/mutex.h"
#include "store/dataset.h"
#include "store/memory_budget.h"

namespace arbalest {

class DigestCache {
 public:
  // `on_bytes` (may be empty) is told the entries' bytes whenever they change (a metric).
  explicit DigestCache(std::function<void(int64_t bytes)> on_bytes = {})
      : on_bytes_(std::move(on_bytes)) {}
  // Releases what it charged.
  ~DigestCache();
  DigestCache(const DigestCache&) = delete;
  DigestCache& operator=(const DigestCache&) = delete;

  // Charges the entries' memory to `budget` from now on (what they hold now at once, then
  // every change), releasing it from the budget charged before; null: charged nowhere. The
  // budget lives as long as the pointer.
  void ChargeTo(std::shared_ptr<MemoryBudget> budget) EXCLUDES(mutex_);

  static constexpr int64_t kTableRowsPerBucket = 4;

  struct Stats {
    int64_t segments = 0;     // entries held
    int64_t rows = 0;         // rows whose hashes they hold
    int64_t bytes = 0;        // their memory
    int64_t charged = 0;      // the part of it charged to the memory budget (ChargeTo)
    int64_t hashed_rows = 0;  // rows hashed since the node started
    int64_t reused_rows = 0;  // rows whose kept hashes answered a request instead
    Json ToJson() const;
  };

  // The answer to `request` (version 1 or 2) from `snapshot`, a view of this node's copy
  // `dataset`: AnswerShardDigest's over a scan of the view, with "cache":
  // {"rows_hashed", "rows_reused", "rows_summed", "segments", "bytes"} (this request's work:
  // rows hashed, rows whose kept hashes served, rows whose hashes a table added one by one
  // rather than through a segment's kept table; and the cache's size after it).
  arrow::Result<Json> Answer(const ShardDigestRequest& request, const std::string& dataset,
                             const DatasetSnapshot& snapshot) EXCLUDES(mutex_);

  Stats stats() const EXCLUDES(mutex_);

  // Drops the entries no request used for `unused` or longer, and those whose segment's graph
  // is gone (its copy dropped, or compacted or merged away, and no view holds it any more):
  // their memory is released from the budget at once, not at the next request.
  static constexpr std::chrono::minutes kUnusedFor{10};
  void DropUnused(std::chrono::steady_clock::duration unused) EXCLUDES(mutex_);

 private:
  struct Entry {
    std::string dataset;
    int64_t first_row = 0;
    std::weak_ptr<const HnswIndex> graph;
    int32_t version = kDigestVersionContent;  // what the hashes are (RowHash)
    // Version 2: the dataset's schema the rows were hashed under (ToString); version 1: the
    // ids' type.
    std::string schema;
    std::shared_ptr<const std::vector<RowHash>> hashes;  // of local rows [0, size)
    // The bucket table of hashes [0, table->rows()), deleted rows included, of the last table
    // request's bucket count; null when none was kept (a small segment, or no table asked).
    std::shared_ptr<const BucketTable> table;
    std::chrono::steady_clock::time_point used;  // when a request last used it
  };

  // What one request did.
  struct Work {
    int64_t hashed = 0;
    int64_t reused = 0;
    int64_t summed = 0;
  };

  // The hashes (of `version`, keyed by `schema` as Entry's) of `segment`'s rows (every one,
  // deleted ones included) in `snapshot`: those kept, the others hashed and kept.
  arrow::Result<std::shared_ptr<const std::vector<RowHash>>> HashesOf(
      const std::string& dataset, int32_t version, const std::string& schema,
      const DatasetSnapshot& snapshot, const SegmentView& segment, Work* work) EXCLUDES(mutex_);

  // Adds to `total` the table of `segment`'s `hashes` (every row's, as HashesOf returned them):
  // from the segment's kept table when it has one of total's bucket count, and the rows since;
  // keeps the result for the next request when the segment is large enough.
  void AddSegmentTable(const std::string& dataset, int32_t version, const std::string& schema,
                       const SegmentView& segment, const std::vector<RowHash>& hashes,
                       BucketTable* total, Work* work) EXCLUDES(mutex_);

  // Drops the entries of `dataset` for segments `snapshot` does not hold, and every entry whose
  // graph is gone.
  void Evict(const std::string& dataset, const DatasetSnapshot& snapshot) EXCLUDES(mutex_);

  // Whether `entry` is of `segment` of `dataset`, hashed as `version`.
  static bool SameSegment(const Entry& entry, const std::string& dataset, int32_t version,
                          const SegmentView& segment);

  // The entries' bytes.
  int64_t Bytes() const REQUIRES(mutex_);
  // Charges the change of the entries' bytes since the last call to the budget, and tells
  // on_bytes_. Called after every change of entries_.
  void Recharge() REQUIRES(mutex_);

  const std::function<void(int64_t)> on_bytes_;
  mutable Mutex mutex_;
  std::vector<Entry> entries_ GUARDED_BY(mutex_);
  std::shared_ptr<MemoryBudget> budget_ GUARDED_BY(mutex_);
  int64_t charged_ GUARDED_BY(mutex_) = 0;  // to budget_
  int64_t hashed_rows_ GUARDED_BY(mutex_) = 0;
  int64_t reused_rows_ GUARDED_BY(mutex_) = 0;
};

}  // namespace arbalest
