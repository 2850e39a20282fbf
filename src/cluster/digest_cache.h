// The content digests (shard_digest.h, version 2) of this node's shard copies, answered from
// hashes kept per segment instead of a scan that hashes every column of every row on each
// request (docs/cluster.md, "Catch-up"):
//   - A segment's rows never change once stored (store/segment.h: a sealed segment takes no
//     rows again and a compaction or a merge makes a new graph object; the active one only
//     grows; deletes are tombstones beside the rows). So the RowHash (16 bytes) of each of a
//     segment's rows, deleted ones included, is computed once and kept, keyed by the dataset,
//     the segment's first row and its graph object (held weakly: an entry whose graph died is
//     never matched, however its address is reused) and the dataset's schema (the rows are
//     hashed as a scan returns them, padded to it: a column added later changes every row's
//     hash). A request hashes only the rows stored since the last one (the active segment's
//     new rows, a segment new to the view), nothing else.
//   - A table adds every row's hash of every segment, then takes away those of the segment's
//     deleted rows (its TombstoneSet); the ids of some buckets walk the live rows and read the
//     ids of those that fall in them. Both equal what AnswerShardDigest computes over a scan of
//     the same view (tests/cluster/digest_cache_test.cc).
//   - An entry leaves as soon as a request for its dataset finds a view without that segment
//     (a compaction, a merge, a drop and a new copy), or any request finds its graph gone (the
//     dataset dropped), or when no request used it for kUnusedFor (DropUnused, which the
//     catch-up thread calls at each pass: the hashes serve the comparisons of a catch-up, a
//     few within seconds or minutes). Its memory (16 bytes per row, 3% of a row of 128
//     float32) is counted in stats() and in every answer's "cache", and reported by
//     cluster-status.
// Thread-safe: the hashes are computed outside the lock; two requests that compute the same
// segment at once both keep a correct entry (the later one stays).
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/shard_digest.h"
#include "common/json_util.h"
#include "common/mutex.h"
#include "store/dataset.h"

namespace arbalest {

class DigestCache {
 public:
  struct Stats {
    int64_t segments = 0;     // entries held
    int64_t rows = 0;         // rows whose hashes they hold
    int64_t bytes = 0;        // their memory
    int64_t hashed_rows = 0;  // rows hashed since the node started
    int64_t reused_rows = 0;  // rows whose kept hashes answered a request instead
    Json ToJson() const;
  };

  // The answer to `request` (version 2 only: Invalid otherwise) from `snapshot`, a view of
  // this node's copy `dataset`: AnswerShardDigest's over a scan of the view, with "cache":
  // {"rows_hashed", "rows_reused", "segments", "bytes"} (this request's work, and the cache's
  // size after it).
  arrow::Result<Json> Answer(const ShardDigestRequest& request, const std::string& dataset,
                             const DatasetSnapshot& snapshot) EXCLUDES(mutex_);

  Stats stats() const EXCLUDES(mutex_);

  // Drops the entries no request used for `unused` or longer.
  static constexpr std::chrono::minutes kUnusedFor{10};
  void DropUnused(std::chrono::steady_clock::duration unused) EXCLUDES(mutex_);

 private:
  struct Entry {
    std::string dataset;
    int64_t first_row = 0;
    std::weak_ptr<const HnswIndex> graph;
    std::string schema;  // the dataset's schema the rows were hashed under (ToString)
    std::shared_ptr<const std::vector<RowHash>> hashes;  // of local rows [0, size)
    std::chrono::steady_clock::time_point used;          // when a request last used it
  };

  // What one request did.
  struct Work {
    int64_t hashed = 0;
    int64_t reused = 0;
  };

  // The hashes of `segment`'s rows (every one, deleted ones included) in `snapshot`: those
  // kept, the others hashed and kept. `starts`: the dataset row of each batch's first row.
  arrow::Result<std::shared_ptr<const std::vector<RowHash>>> HashesOf(
      const std::string& dataset, const std::string& schema, const DatasetSnapshot& snapshot,
      const std::vector<int64_t>& starts, const SegmentView& segment, Work* work) EXCLUDES(mutex_);

  // Drops the entries of `dataset` for segments `snapshot` does not hold, and every entry whose
  // graph is gone.
  void Evict(const std::string& dataset, const DatasetSnapshot& snapshot) EXCLUDES(mutex_);

  mutable Mutex mutex_;
  std::vector<Entry> entries_ GUARDED_BY(mutex_);
  int64_t hashed_rows_ GUARDED_BY(mutex_) = 0;
  int64_t reused_rows_ GUARDED_BY(mutex_) = 0;
};

}  // namespace arbalest
