// The digest of one copy of a shard that a catch-up's reconcile pass compares (shard_copy.h;
// docs/cluster.md, "Catch-up"), so that it reads id by id only the ids of the buckets whose
// digests differ, not the shard's whole id columns:
//   - Every id hashes (XXH3-128 of the bytes ShardDeletes::KeyOf names, with a seed of its own,
//     so independent of the id's shard) to one of `buckets` buckets (the hash's low 64 bits
//     modulo `buckets`). A bucket holds the number of rows whose id falls in it and the sum,
//     modulo 2^64, of their ids' hashes (the hash's high 64 bits): the same for two copies that
//     hold the same multiset of ids there, in any order; a row missing, extra or duplicated
//     changes its bucket's count (a xor of hashes would miss a duplicated row).
//   - Version 2 (kDigestVersionContent, "content digests") sums, instead of the id's hash, a
//     hash of the whole row: the id's hash mixed, column by column in the order of the columns'
//     names (not their physical order), with a hash of each other column's value (XXH3 of its
//     bytes: a vector's elements, a string's bytes, a number's; a fixed marker for a null).
//     Two copies that hold the same rows agree in any row order; an id deleted and put again
//     with another vector (same ids, same count) changes its bucket. A returning node's kept
//     copy of a shard needs these (shard_copy.h, PlanKeptCopy), and every catch-up uses them
//     when the primary offers them (shard_catchup.cc: copies can agree on each id and its count
//     and hold different rows of it); version 1 is for a primary of an older build.
//   - Action kShardDigestAction, between cluster nodes: the bucket table of this node's copy of
//     a shard, or the ids of this copy in some buckets (with version 2, each row's content hash
//     too). The request's "version" (default 1) picks the digest; a node of a build before
//     content digests refuses the key ("unknown key 'version'"): the caller treats that as a
//     primary without content digests (IsWithoutContentDigests).
// AnswerShardDigest computes the table from a scan of the copy (version 1: its id column;
// version 2: every column), hashing each row once per request; it holds 16 bytes per bucket,
// never the ids. A cluster node answers version 2 from the RowHashes it keeps per segment
// (digest_cache.h), hashing only the rows stored since its last request, to the same answer.
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

// The digests a request may ask for: of the ids only, or of the rows' contents.
inline constexpr int32_t kDigestVersionIds = 1;
inline constexpr int32_t kDigestVersionContent = 2;

// The hashes of one row, before its bucket is taken: `place` (the id's hash's low 64 bits)
// picks the bucket, `digest` is what the bucket sums (version 1: the id's hash's high 64 bits;
// version 2: the row's content hash). The same for any number of buckets: what a cache keeps
// (digest_cache.h).
struct RowHash {
  uint64_t place = 0;
  uint64_t digest = 0;
};

// The bucket of a row of RowHash::place `place` among `buckets`.
inline int32_t BucketOfPlace(uint64_t place, int32_t buckets) {
  return static_cast<int32_t>(place % static_cast<uint64_t>(buckets));
}

// The name of an id type that a shard's ids may have ("int64", "uint64" or "string"); Invalid
// for any other.
arrow::Result<std::string> IdTypeName(const arrow::DataType& type);

// The bucket (in [0, buckets)) of the id at `row` of `ids` (int64, uint64 or utf8, no nulls),
// and the hash the bucket's digest sums.
struct IdHash {
  int32_t bucket = 0;
  uint64_t digest = 0;
};
arrow::Result<IdHash> HashId(const arrow::Array& ids, int64_t row, int32_t buckets);

// The column "id" of `batch`; Invalid without one or with a null id.
arrow::Result<std::shared_ptr<arrow::Array>> IdColumnOf(const arrow::RecordBatch& batch);

// The id at `row` of `ids` (int64, uint64 or utf8) as JSON: a number or a string.
Json IdJson(const arrow::Array& ids, int64_t row);

// The bucket of every row of `batch` (by its column "id") and, as `digest`, the hash of its
// content (the id and every other column, version 2). Invalid for a batch without ids or with
// a null id.
arrow::Result<std::vector<IdHash>> RowDigests(const arrow::RecordBatch& batch, int32_t buckets);
// The same before the buckets are taken: the RowHash of every row of `batch` (version 2).
arrow::Result<std::vector<RowHash>> RowHashes(const arrow::RecordBatch& batch);
// The RowHash of every id of `ids` (version 1: the id's hash alone). Invalid for an id type a
// shard's ids cannot have.
arrow::Result<std::vector<RowHash>> IdRowHashes(const arrow::Array& ids);

class BucketTable {
 public:
  explicit BucketTable(int32_t buckets = kDigestBuckets, int32_t version = kDigestVersionIds);

  // Adds every id of `ids` (a table of version 1).
  arrow::Status Add(const arrow::Array& ids);
  // Adds every row of `batch` by its content (a table of version 2).
  arrow::Status AddRows(const arrow::RecordBatch& batch);
  // Adds every row of every batch of `reader`: its id (version 1) or its content (version 2).
  arrow::Status AddAll(arrow::RecordBatchReader& reader);
  // Adds one row by its hashes, or takes one added before away (a deleted row's).
  void AddHash(const RowHash& row);
  void RemoveHash(const RowHash& row);
  // Adds the rows of `other`, a table of as many buckets and the same version.
  void AddTable(const BucketTable& other);
  // Sets the ids' type (what Add and AddRows note from the rows).
  arrow::Status NoteIdType(const arrow::DataType& type);

  int32_t version() const { return version_; }

  int32_t buckets() const { return static_cast<int32_t>(counts_.size()); }
  int64_t rows() const { return rows_; }
  int64_t count(int32_t bucket) const { return counts_[bucket]; }
  uint64_t sum(int32_t bucket) const { return sums_[bucket]; }
  // The ids' Arrow type once an id was added ("int64", "uint64" or "string").
  const std::optional<std::string>& type() const { return type_; }

  // The buckets whose count or sum differ from `other`'s (of as many buckets), ascending.
  std::vector<int32_t> Differing(const BucketTable& other) const;

  // {"version", "buckets", "rows", "type" (null when empty), "counts": [...], "sums": [...]}.
  Json ToJson() const;
  // A table without "version" is of version 1 (a node of a build before content digests).
  static arrow::Result<BucketTable> FromJson(const Json& json);

 private:
  arrow::Status NoteType(const arrow::Array& ids);

  int32_t version_ = kDigestVersionIds;
  std::vector<int64_t> counts_;
  std::vector<uint64_t> sums_;
  int64_t rows_ = 0;
  std::optional<std::string> type_;
};

// The ids of every batch's column "id" in `reader` that fall in `buckets` (of `of` buckets), as
// JSON (numbers or strings), with their Arrow type ("int64", "uint64", "string"; nullopt when
// `reader` yields none); with version 2, each row's content hash (RowDigests) too, in the same
// order.
struct BucketIds {
  std::optional<std::string> type;
  std::vector<Json> ids;
  std::vector<uint64_t> hashes;  // version 2 only
};
arrow::Result<BucketIds> IdsInBuckets(arrow::RecordBatchReader& reader,
                                      const std::set<int32_t>& buckets, int32_t of,
                                      int32_t version = kDigestVersionIds);

// A kShardDigestAction request: {"dataset" (the logical name), "shard", "buckets" (default
// kDigestBuckets), "ids_of": [bucket, ...] (optional: the ids of those buckets instead of the
// table), "version": 1 or 2 (optional, default 1: kDigestVersionIds or kDigestVersionContent),
// "local_only": true (optional; the digest is always this node's copy)}.
struct ShardDigestRequest {
  std::string dataset;
  int32_t shard = 0;
  int32_t buckets = kDigestBuckets;
  int32_t version = kDigestVersionIds;
  std::optional<std::set<int32_t>> ids_of;
};
arrow::Result<ShardDigestRequest> ParseShardDigestRequest(std::string_view body);
// The body of a request; "version" only when not 1, so that a node of a build before content
// digests answers version 1 requests as before.
Json ShardDigestBody(const std::string& dataset, int32_t shard, int32_t buckets,
                     const std::vector<int32_t>* ids_of, int32_t version = kDigestVersionIds);

// Whether a primary refused a version 2 request as a node of a build before content digests.
bool IsWithoutContentDigests(const arrow::Status& status);

// The answer to `request` from this node's copy, which `rows` reads (version 1: at least its
// id column; version 2: every column): the table's ToJson, or {"version", "type", "ids": [...]}
// (and "hashes": [...] with version 2) for ids_of; each with "seconds" (the time it took here).
arrow::Result<Json> AnswerShardDigest(const ShardDigestRequest& request,
                                      arrow::RecordBatchReader& rows);

}  // namespace arbalest
