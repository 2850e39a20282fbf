// The digest of one copy of a shard that a catch-up's reconcile pass compares (shard_copy.h;
// docs/cluster.md, "Catch-up"), so that it reads id by id only the ids of the buckets whose
// digests differ, not the shard's whole id columns:
//   - Every id hashes (XXH3-128 of the bytes ShardDeletes::KeyOf names, with a seed of its own,
//     so independent of the id's shard) to one of `buckets` buckets (the hash's low 64 bits
//     modulo `buckets`). A bucket holds the number of rows whose id falls in it and the sum,
//     modulo 2^64, of their ids' hashes (the hash's high 64 bits): the same for two copies that
//     hold the same multiset of ids there, in any order; a row missing, extra or duplicated
//     changes its bucket's count (a xor of hashes would miss a duplicated row).
//   - Action kShardDigestAction, between cluster nodes: the bucket table of this node's copy of
//     a shard, or the ids of this copy in some buckets.
// The table scans the copy's id column (in memory); it holds 16 bytes per bucket, never the ids.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"

namespace arbalest {

inline constexpr const char* kShardDigestAction = "shard-digest";

// The buckets a catch-up compares by default, and the most a request may ask for.
inline constexpr int32_t kDigestBuckets = 4096;
inline constexpr int32_t kMaxDigestBuckets = 1 << 20;

// The bucket (in [0, buckets)) of the id at `row` of `ids` (int64, uint64 or utf8, no nulls),
// and the hash the bucket's digest sums.
struct IdHash {
  int32_t bucket = 0;
  uint64_t digest = 0;
};
arrow::Result<IdHash> HashId(const arrow::Array& ids, int64_t row, int32_t buckets);

class BucketTable {
 public:
  explicit BucketTable(int32_t buckets = kDigestBuckets);

  // Adds every id of `ids`.
  arrow::Status Add(const arrow::Array& ids);
  // Adds every id of the column "id" of every batch of `reader`.
  arrow::Status AddAll(arrow::RecordBatchReader& reader);

  int32_t buckets() const { return static_cast<int32_t>(counts_.size()); }
  int64_t rows() const { return rows_; }
  int64_t count(int32_t bucket) const { return counts_[bucket]; }
  uint64_t sum(int32_t bucket) const { return sums_[bucket]; }
  // The ids' Arrow type once an id was added ("int64", "uint64" or "string").
  const std::optional<std::string>& type() const { return type_; }

  // The buckets whose count or sum differ from `other`'s (of as many buckets), ascending.
  std::vector<int32_t> Differing(const BucketTable& other) const;

  // {"buckets", "rows", "type" (null when empty), "counts": [...], "sums": [...]}.
  Json ToJson() const;
  static arrow::Result<BucketTable> FromJson(const Json& json);

 private:
  std::vector<int64_t> counts_;
  std::vector<uint64_t> sums_;
  int64_t rows_ = 0;
  std::optional<std::string> type_;
};

// The ids of every batch's column "id" in `reader` that fall in `buckets` (of `of` buckets), as
// JSON (numbers or strings), with their Arrow type ("int64", "uint64", "string"; nullopt when
// `reader` yields none).
struct BucketIds {
  std::optional<std::string> type;
  std::vector<Json> ids;
};
arrow::Result<BucketIds> IdsInBuckets(arrow::RecordBatchReader& reader,
                                      const std::set<int32_t>& buckets, int32_t of);

// A kShardDigestAction request: {"dataset" (the logical name), "shard", "buckets" (default
// kDigestBuckets), "ids_of": [bucket, ...] (optional: the ids of those buckets instead of the
// table), "local_only": true (optional; the digest is always this node's copy)}.
struct ShardDigestRequest {
  std::string dataset;
  int32_t shard = 0;
  int32_t buckets = kDigestBuckets;
  std::optional<std::set<int32_t>> ids_of;
};
arrow::Result<ShardDigestRequest> ParseShardDigestRequest(std::string_view body);
Json ShardDigestBody(const std::string& dataset, int32_t shard, int32_t buckets,
                     const std::vector<int32_t>* ids_of);

// The answer to `request` from this node's copy, whose id column `ids` reads: the table's
// ToJson, or {"type", "ids": [...]} for ids_of; each with "seconds" (the time it took here).
arrow::Result<Json> AnswerShardDigest(const ShardDigestRequest& request,
                                      arrow::RecordBatchReader& ids);

}  // namespace arbalest
