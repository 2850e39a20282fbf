// The two passes that copy a shard to a `syncing` replica from its primary during a catch-up
// (shard_catchup.h; docs/cluster.md, "Catch-up"):
//   - CopyBulk, without any fence: streams the primary's rows (a local_only scan) and stores
//     each row whose id this node does not hold yet (a multiset difference by id against the
//     ids it held when the pass began). The shard's writes and deletes go on meanwhile and
//     reach this node too, so the copy may store a row twice (a put that reached both nodes
//     and that the scan returned as well). It never stores a row whose id was deleted here
//     since the pass began, nor in the ShardDeletes::kRetention before (the ids are pinned for
//     the pass's duration): each batch is filtered and stored under the shard's gate
//     (ShardFence::gate), which a delete holds from the moment its ids are noted until it ran.
//   - Reconcile, under both fences (no write of the shard under way on either node): compares
//     the id multisets of the two copies and for every id whose count differs (an id deleted
//     here within kRetention excepted: its delete may not have reached the primary yet, and
//     this node received every write of it since) removes this node's rows of it and stores
//     the primary's (fetched by an `in` filter on the id). After it, this node holds, for every
//     id, the rows the primary holds. With digests (ShardCopyEnv::source_digest), the two
//     copies' bucket tables (shard_digest.h) are compared first and only the ids of the buckets
//     that differ are read, on each node, and compared id by id; without them (or when more
//     than 1/kMostDifferingShare of the buckets differ) the whole id columns are.
//   - The same comparison may run before the fences (fenced = false), while the shard's writes
//     go on, to repair most differences without a pause: the rows it copies are stored as the
//     bulk pass's are (under the gate, none whose id was deleted here since it began). What it
//     gets wrong (a write under way on one node only) the fenced pass repairs.
// Before its row scan, CopyBulk adopts the primary's sealed, fully linked segments whole with
// their graphs (ShardCopyEnv::source_segments, store/segment_transfer.h), so that this node
// does not re-index their rows: each is appended as a sealed segment (LocalPuts::adopt) under
// the gate; its rows deleted on the primary, those whose id this node held when the pass began
// (one row of the segment per row held, a multiset difference as the scan's) and those whose
// id was deleted here since kRetention before the pass stay in the segment but are deleted in
// the same commit, so its graph stays whole and no delete is undone. The row scan that follows
// counts the adopted rows as held, so it stores only the rows of the primary's other segments
// (its active one, those still waiting for the index), and reads only those: its ticket names
// the last segment adopted (`after_segment`, protocol.md), and the primary streams the rows
// after it if its view still holds that segment (same rows, same graph object), so that the
// adopted rows travel once. The primary's rows are matched to the rows this node held in one
// pass in the primary's order (adopted segments, then the scan), each held row to one row of
// the primary's. When the primary refuses the ticket (a compaction or a merge replaced that
// segment since, a restart, a build before `after_segment`), the row scan starts after the
// latest adopted segment that the primary still lists as it was (a merge replaced only the
// later ones: merges keep the rows' numbering), else reads the whole shard again; the adopted
// rows after its start count as held, so that none is stored twice (BulkScan says which). A primary
// of a build before segment shipping (the action unknown, or refused to the cluster token), or any
// failure to fetch or adopt a segment, leaves the remaining rows to the row scan, as before. A
// returning node's kept copy (PlanKeptCopy) skips the bulk pass: both reconcile passes compare
// content digests (env.content), so a row deleted and put again with another vector while it
// was away is replaced, and only the rows that differ are copied.
// Cost under the fences: two bucket tables (16 bytes per bucket over the network; summed from
// the row hashes, of ids or contents, each node keeps per segment, digest_cache.h, this node's
// asked in-process through ShardCopyEnv::own_digest: only rows stored since the last request
// are hashed), the ids of the buckets that differ, and the rows that differ.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cluster/scan_chain.h"
#include "cluster/shard_deletes.h"
#include "cluster/shard_digest.h"
#include "cluster/shard_fence.h"
#include "flight/cluster_hooks.h"
#include "store/segment_transfer.h"

namespace arbalest {

// What the passes need. `source` and `own` open a scan ticket (JSON) on the primary and on
// this node, each stream within the timeout given.
struct ShardCopyEnv {
  std::string name;  // the shard dataset (`<dataset>.__shard<n>`)
  std::function<arrow::Result<ScanPart>(const std::string&, std::chrono::milliseconds)> source;
  std::function<arrow::Result<ScanPart>(const std::string&, std::chrono::milliseconds)> own;
  LocalPuts local;
  ShardDeletes* deletes = nullptr;           // null: no deletes remembered
  ShardFence* fence = nullptr;               // this node's fence of the shard (its gate)
  std::chrono::milliseconds timeout{30000};  // each scan stream
  // Set when this node stops: the bulk pass ends (Cancelled) at its next batch or segment.
  // Null: never.
  const std::atomic<bool>* stopping = nullptr;
  // A pause after each batch the bulk pass reads (ARBALEST_TEST_CATCHUP_BULK_DELAY_MS: tests
  // that need a bulk copy that lasts).
  std::chrono::milliseconds bulk_batch_delay{0};
  // A pause between the adoption of segments and the row scan
  // (ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS: tests that change the primary's segments meanwhile).
  std::chrono::milliseconds scan_delay{0};
  // A pause before the bulk pass counts the rows this node holds, the node a syncing replica
  // taking the shard's writes already (ARBALEST_TEST_CATCHUP_START_DELAY_MS: tests of writes
  // that reach it first, as they reach a catch-up queued behind another shard's).
  std::chrono::milliseconds start_delay{0};
  // The primary's kShardDigestAction answer for its copy: its bucket table of digest_buckets
  // buckets (ids_of null), or the ids of the buckets `ids_of`; within the timeout. Null: the
  // reconcile pass compares the whole id columns.
  std::function<arrow::Result<Json>(const std::vector<int32_t>* ids_of, std::chrono::milliseconds)>
      source_digest;
  int32_t digest_buckets = kDigestBuckets;
  // The same with content digests (version 2, shard_digest.h): the tables sum each row's content
  // hash, and the ids of the buckets that differ come with their rows' content hashes. Used, for
  // every table and id, when `content` is set (a returning node's kept copy, PlanKeptCopy).
  std::function<arrow::Result<Json>(const std::vector<int32_t>* ids_of, std::chrono::milliseconds)>
      source_content_digest;
  // This node's own answer to the same request, of version 1 or 2 (ShardDigestAction
  // in-process: its hashes kept per segment, digest_cache.h); KeyError when it holds no copy.
  // Null: its tables and ids are computed over a scan of its copy (`own`).
  std::function<arrow::Result<Json>(const std::vector<int32_t>* ids_of, int32_t version,
                                    std::chrono::milliseconds)>
      own_digest;
  bool content = false;
  // The primary's sealed, fully linked segments of the shard (its kShardSegmentsAction answer)
  // and one of them (its shard_segment ticket), within the timeout given. Null: the bulk pass
  // copies rows only.
  std::function<arrow::Result<std::vector<SegmentRef>>(std::chrono::milliseconds)> source_segments;
  std::function<arrow::Result<ReceivedSegment>(const SegmentRef&, std::chrono::milliseconds)>
      source_segment;
};

// What CopyBulk adopted whole, before its row scan.
struct Adopted {
  int64_t rows = 0;          // the adopted segments' rows, deleted ones included
  int64_t rows_deleted = 0;  // of them, deleted at once (deleted on the primary or held here)
  double seconds = 0;        // fetching and adopting them
  std::string fallback;      // why it stopped before the primary's last segment; empty: it did not
  std::vector<SegmentRef> refs;  // every segment adopted, in order

  // How many segments were adopted with their graphs.
  int32_t segments() const { return static_cast<int32_t>(refs.size()); }
  // The last segment adopted; null: none was.
  const SegmentRef* last() const { return refs.empty() ? nullptr : &refs.back(); }

  Json ToJson() const;
};

// What CopyBulk's row scan read from the primary.
struct BulkScan {
  int64_t from_row = 0;  // the primary's row it started from (0: the whole shard)
  int64_t rows = 0;      // rows received
  int64_t bytes = 0;     // their Arrow buffers' bytes
  double seconds = 0;
  // Why it did not start after the last segment adopted (the primary's refusal of
  // `after_segment`: then it started after the latest adopted segment the primary still
  // holds as it was, a merge having replaced the later ones, or read the whole shard);
  // empty: it did start there.
  std::string fallback;
  // The primary's rows say that the dataset's ids are unique (schema option `unique_id`): a put
  // of an id this node holds replaces its row, so the scan's rows of ids held here are left out
  // (HeldIds::kKeep: the held row came as a put since the scan began, so it is the newer), and
  // the reconciles compare the copies by content digests, which see a row that differs where
  // ids and counts agree (a put the primary applied and this node did not: not acked).
  bool unique_ids = false;
  int64_t rows_kept = 0;  // with unique_ids: scanned rows left out, their ids held here

  Json ToJson() const;
};

// Past buckets / kMostDifferingShare buckets that differ, Reconcile reads the whole id columns.
inline constexpr int32_t kMostDifferingShare = 8;

// CopyBulk's rows stored by its row scan; `adopted` (optional) receives what it adopted whole,
// `scanned` (optional) what its row scan read.
arrow::Result<int64_t> CopyBulk(const ShardCopyEnv& env, Adopted* adopted = nullptr,
                                BulkScan* scanned = nullptr);

struct Reconciled {
  int64_t ids = 0;             // distinct ids of the primary's copy compared id by id
  int64_t ids_read = 0;        // ids read to compare them id by id, of both copies
  int32_t buckets = 0;         // buckets compared by digest (0: none, the whole id columns read)
  int32_t buckets_differ = 0;  // of them, those whose digests differ
  int64_t differ = 0;          // ids whose rows were replaced
  int64_t copied = 0;          // rows stored from the primary
  int64_t removed = 0;         // rows of this node's removed
  double seconds = 0;         // the comparison and the copy, without the fences' calls and the flip
  double digest_seconds = 0;  // of which the two bucket tables, computed and exchanged
  double source_table_seconds = 0;  // of which the primary's table, computed on the primary
  double own_table_seconds = 0;     // of which this node's table, computed here
  // The two tables' "cache" (digest_cache.h: rows hashed for them and rows whose kept hashes
  // served), when the node answered from its kept hashes; null otherwise.
  Json source_table_cache;
  Json own_table_cache;

  Json ToJson() const;
};

// Reconcile; `fenced`: the caller holds both fences. With env.content, the comparison is by
// content digests: within the buckets that differ, an id is replaced when the multiset of its
// rows' content hashes differs between the copies (a row deleted and put again with another
// vector while this node was away), not only when their counts do; every bucket that differs
// is read, however many (no fallback to the id columns, which cannot see content).
arrow::Result<Reconciled> Reconcile(const ShardCopyEnv& env, bool fenced = true);

// What to do with a copy of the shard that this node kept from before it was away (a returning
// node, shard_catchup.h): keep it and reconcile it by content digests, or purge it and copy the
// shard afresh as a new replica would.
struct KeptPlan {
  bool keep = false;
  int32_t buckets = 0;         // buckets compared (0: no content digest from the primary)
  int32_t buckets_differ = 0;  // of them, those whose content digests differ
  int64_t rows = 0;            // rows of this node's copy
  int64_t rows_differ = 0;     // of them, about how many differ (from buckets_differ)
  double seconds = 0;          // both tables, computed and exchanged
  std::string reason;          // why the copy is purged; empty when kept

  Json ToJson() const;
};

// Past rows / kMostDifferingShareToKeep rows that differ (estimated from the share of buckets
// that differ, as balls in bins), a kept copy is purged (too far behind: the primary's segment
// files are copied, with their graphs, instead).
inline constexpr int32_t kMostDifferingShareToKeep = 2;

// The primary's content digest table of its copy (env.source_content_digest, the whole table),
// or nullopt, saying why in `why_not`, when this node or the primary compares no content digests
// (a primary of a build before them refuses the request's `version`). Other errors as they come.
arrow::Result<std::optional<Json>> SourceContentTable(const ShardCopyEnv& env,
                                                      std::string* why_not);

// Whether the primary answers content digests, asked as SourceContentTable asks but for the ids
// of no bucket: an answer of a few bytes instead of the whole table (its row hashes, computed
// for it, stay in the primary's digest cache for the comparisons that follow). False, saying
// why in `why_not`, as SourceContentTable's nullopt.
arrow::Result<bool> SourceOffersContentDigests(const ShardCopyEnv& env, std::string* why_not);

// Compares the content digests of the primary's copy and this node's (env.source_content_digest):
// keep when the primary answers version 2 and about 1/kMostDifferingShareToKeep of the copy's
// rows or fewer differ; purge when the primary is of a build before content digests (its id digest
// cannot see a row put again with another vector) or too much differs. Other failures are
// returned.
arrow::Result<KeptPlan> PlanKeptCopy(const ShardCopyEnv& env);

// Removes every row of this node's copy (under the shard's gate), so that the catch-up copies
// the shard as it would to a new replica; the writes this node received as a syncing replica
// meanwhile are copied again from the primary. The rows removed.
arrow::Result<int64_t> PurgeCopy(const ShardCopyEnv& env);

}  // namespace arbalest
