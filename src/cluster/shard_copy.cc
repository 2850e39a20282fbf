#include "cluster/shard_copy.h"

#include <arrow/array.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/compute/api.h>
#include <arrow/status.h>
#include <arrow/util/byte_size.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "flight/segment_shipping.h"
#include "store/dataset_layout.h"

namespace arbalest {
namespace {

// The bytes that identify the id at `row` of `ids` (int64, uint64 or utf8, as sharding allows):
// ShardDeletes::KeyOf's for the same id.
arrow::Result<std::string> IdKey(const arrow::Array& ids, int64_t row) {
  switch (ids.type_id()) {
    case arrow::Type::INT64: {
      const int64_t value = static_cast<const arrow::Int64Array&>(ids).Value(row);
      return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
    }
    case arrow::Type::UINT64: {
      const uint64_t value = static_cast<const arrow::UInt64Array&>(ids).Value(row);
      return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
    }
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringArray&>(ids).GetView(row));
    default:
      return arrow::Status::Invalid("ids of type ", ids.type()->ToString(), " cannot be sharded");
  }
}

using IdCounts = std::unordered_map<std::string, int64_t>;

// A count of held rows that no copy takes down: the id is never copied.
constexpr int64_t kNeverCopied = int64_t{1} << 60;

// The ids of one copy of a shard, sorted: integers as their 64 bits, strings as they are.
struct SortedIds {
  std::optional<arrow::Type::type> type;
  std::vector<uint64_t> numbers;
  std::vector<std::string> strings;

  int64_t size() const { return static_cast<int64_t>(numbers.size() + strings.size()); }
};

template <class ArrayType>
void AppendNumbers(const arrow::Array& ids, std::vector<uint64_t>* numbers) {
  const auto& values = static_cast<const ArrayType&>(ids);
  for (int64_t row = 0; row < values.length(); ++row) {
    numbers->push_back(static_cast<uint64_t>(values.Value(row)));
  }
}

// The ids `reader` yields, sorted.
arrow::Result<SortedIds> ReadSortedIds(arrow::RecordBatchReader& reader) {
  SortedIds sorted;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (!batch) break;
    ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(*batch));
    sorted.type = ids->type_id();
    switch (ids->type_id()) {
      case arrow::Type::INT64:
        AppendNumbers<arrow::Int64Array>(*ids, &sorted.numbers);
        break;
      case arrow::Type::UINT64:
        AppendNumbers<arrow::UInt64Array>(*ids, &sorted.numbers);
        break;
      case arrow::Type::STRING: {
        const auto& strings = static_cast<const arrow::StringArray&>(*ids);
        for (int64_t row = 0; row < strings.length(); ++row) {
          sorted.strings.emplace_back(strings.GetView(row));
        }
        break;
      }
      default:
        return arrow::Status::Invalid("ids of type ", ids->type()->ToString(),
                                      " cannot be sharded");
    }
  }
  std::sort(sorted.numbers.begin(), sorted.numbers.end());
  std::sort(sorted.strings.begin(), sorted.strings.end());
  return sorted;
}

// Walks the sorted `primary` and `own` in step, one key (`key_of` of an element) at a time:
// calls `group(primary_from, primary_to, own_from, own_to)` with the indices of the key's
// elements in each; the distinct keys of `primary`.
template <class Element, class KeyOf, class Group>
int64_t ForEachKeyGroup(const std::vector<Element>& primary, const std::vector<Element>& own,
                        const KeyOf& key_of, const Group& group) {
  int64_t distinct = 0;
  size_t i = 0;
  size_t j = 0;
  while (i < primary.size() || j < own.size()) {
    const auto& key = j == own.size() || (i < primary.size() && key_of(primary[i]) < key_of(own[j]))
                          ? key_of(primary[i])
                          : key_of(own[j]);
    const size_t primary_from = i;
    const size_t own_from = j;
    while (i < primary.size() && key_of(primary[i]) == key) ++i;
    while (j < own.size() && key_of(own[j]) == key) ++j;
    distinct += i > primary_from;
    group(primary_from, i, own_from, j);
  }
  return distinct;
}

// Calls `differ(key, primary_rows, own_rows)` for every key whose rows in the sorted lists
// `primary` and `own` differ in number; the distinct keys of `primary`.
template <class Key, class Differ>
int64_t Differences(const std::vector<Key>& primary, const std::vector<Key>& own,
                    const Differ& differ) {
  return ForEachKeyGroup(
      primary, own, [](const Key& key) -> const Key& { return key; },
      [&](size_t i_from, size_t i_to, size_t j_from, size_t j_to) {
        if (i_to - i_from == j_to - j_from) return;
        const Key& key = j_to > j_from ? own[j_from] : primary[i_from];
        differ(key, static_cast<int64_t>(i_to - i_from), static_cast<int64_t>(j_to - j_from));
      });
}

// Calls `row(ids, i)` for every row of every batch of `reader`.
arrow::Status ForEachId(arrow::RecordBatchReader& reader,
                        const std::function<arrow::Status(const arrow::Array&, int64_t)>& row) {
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (!batch) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(*batch));
    for (int64_t i = 0; i < ids->length(); ++i) ARROW_RETURN_NOT_OK(row(*ids, i));
  }
}

// The ticket of a local_only scan of `name` with `extra` keys.
std::string ScanTicket(const std::string& name, Json extra = Json::object()) {
  extra["dataset"] = name;
  extra["local_only"] = true;
  return extra.dump();
}

// Cancelled once this node stops (env.stopping).
arrow::Status CheckNotStopping(const ShardCopyEnv& env) {
  if (env.stopping && env.stopping->load()) {
    return arrow::Status::Cancelled("the copy of ", env.name, " stopped: this node is stopping");
  }
  return arrow::Status::OK();
}

// This node's local_only scan of its copy with `extra` keys (ScanTicket); nullopt when it does
// not hold the dataset.
arrow::Result<std::optional<ScanPart>> OwnScan(const ShardCopyEnv& env, Json extra) {
  auto own = env.own(ScanTicket(env.name, std::move(extra)), env.timeout);
  if (own.ok()) return std::optional<ScanPart>(std::move(*own));
  if (own.status().IsKeyError()) return std::nullopt;
  return own.status().WithMessage("reading this node's own copy: ", own.status().message());
}

// This node's scan of its id column, and of its whole copy (every column).
arrow::Result<std::optional<ScanPart>> OwnIds(const ShardCopyEnv& env) {
  return OwnScan(env, {{"columns", {"id"}}});
}
arrow::Result<std::optional<ScanPart>> OwnRows(const ShardCopyEnv& env) {
  return OwnScan(env, Json::object());
}

// The rows of `batch` whose ids `held` does not account for (each id's count taken down by the
// rows of it that are held already); null when there are none.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> Unheld(
    const std::shared_ptr<arrow::RecordBatch>& batch, IdCounts* held) {
  ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(*batch));
  arrow::Int64Builder rows;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    ARROW_ASSIGN_OR_RAISE(std::string key, IdKey(*ids, row));
    auto it = held->find(key);
    if (it != held->end() && it->second > 0) {
      --it->second;
      continue;
    }
    ARROW_RETURN_NOT_OK(rows.Append(row));
  }
  if (rows.length() == 0) return nullptr;
  if (rows.length() == batch->num_rows()) return batch;
  ARROW_ASSIGN_OR_RAISE(auto indices, rows.Finish());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(batch, indices));
  return taken.record_batch();
}

// The ids of `env.name` deleted on this node at or after `since`, by key.
std::unordered_set<std::string> DeletedSince(const ShardCopyEnv& env,
                                             ShardDeletes::Clock::time_point since) {
  std::unordered_set<std::string> keys;
  if (!env.deletes) return keys;
  for (const Json& id : env.deletes->Since(env.name, since)) keys.insert(ShardDeletes::KeyOf(id));
  return keys;
}

// Ids per filter or delete: well under the limit on `in` lists (protocol.md).
constexpr size_t kIdsPerCall = 10000;

// `ids` in calls of at most kIdsPerCall.
std::vector<Json> Chunks(const std::vector<Json>& ids) {
  std::vector<Json> chunks;
  for (size_t at = 0; at < ids.size(); at += kIdsPerCall) {
    const size_t end = std::min(ids.size(), at + kIdsPerCall);
    chunks.emplace_back(Json(std::vector<Json>(ids.begin() + at, ids.begin() + end)));
  }
  return chunks;
}

// `ids` (JSON, of Arrow type `type`: "int64", "uint64" or "string"; null: no ids), sorted.
arrow::Result<SortedIds> SortJsonIds(const Json& type, const Json& ids) {
  SortedIds sorted;
  if (type.is_null()) return sorted;
  const std::string name = type.is_string() ? type.get<std::string>() : "";
  if (name == "int64" || name == "uint64") {
    sorted.type = name == "int64" ? arrow::Type::INT64 : arrow::Type::UINT64;
  } else if (name == "string") {
    sorted.type = arrow::Type::STRING;
  } else {
    return arrow::Status::Invalid("a shard digest's ids are of an unknown type ",
                                  JsonForMessage(type));
  }
  if (!ids.is_array()) return arrow::Status::Invalid("a shard digest's ids are not an array");
  for (const Json& id : ids) {
    if (*sorted.type == arrow::Type::STRING ? !id.is_string() : !id.is_number_integer()) {
      return arrow::Status::Invalid("a shard digest's ids of type ", name, " hold ",
                                    JsonForMessage(id));
    }
    if (*sorted.type == arrow::Type::STRING) {
      sorted.strings.push_back(id.get<std::string>());
    } else {
      // Two's complement, as ShardDeletes::KeyOf.
      sorted.numbers.push_back(id.is_number_unsigned() ? id.get<uint64_t>()
                                                       : static_cast<uint64_t>(id.get<int64_t>()));
    }
  }
  std::sort(sorted.numbers.begin(), sorted.numbers.end());
  std::sort(sorted.strings.begin(), sorted.strings.end());
  return sorted;
}

// Whether the primary refused a digest as a node of a build before digests: an unknown action
// or, with --auth-tokens, an action its policy does not allow the cluster token. Every id is
// compared then.
bool WithoutDigests(const arrow::Status& status) {
  return status.IsNotImplemented() ||
         status.message().find(std::string("not action '") + kShardDigestAction + "'") !=
             std::string::npos;
}

// One row of a copy in a bucket that differs, by content: its id's key (ShardDeletes::KeyOf),
// the id, and its content hash (shard_digest.h, version 2).
struct ContentRow {
  std::string key;
  Json id;
  uint64_t hash = 0;

  bool operator<(const ContentRow& other) const {
    return key != other.key ? key < other.key : hash < other.hash;
  }
};

// `ids` and `hashes` (JSON arrays of a version 2 ids_of answer, or of IdsInBuckets), sorted.
arrow::Result<std::vector<ContentRow>> SortContentRows(const Json& ids, const Json& hashes) {
  if (!ids.is_array() || !hashes.is_array() || ids.size() != hashes.size()) {
    return arrow::Status::Invalid("a shard digest's ids and hashes are not arrays of one length");
  }
  std::vector<ContentRow> rows;
  rows.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!hashes[i].is_number_integer() || !(ids[i].is_string() || ids[i].is_number_integer())) {
      return arrow::Status::Invalid("a shard digest's row is malformed: ", JsonForMessage(ids[i]),
                                    " ", JsonForMessage(hashes[i]));
    }
    const uint64_t hash = hashes[i].is_number_unsigned()
                              ? hashes[i].get<uint64_t>()
                              : static_cast<uint64_t>(hashes[i].get<int64_t>());
    rows.push_back({ShardDeletes::KeyOf(ids[i]), ids[i], hash});
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Calls `differ(key, id, primary_rows, own_rows)` for every id whose rows' content hashes in
// the sorted `primary` and `own` differ (as multisets); the distinct ids of `primary`.
template <class Differ>
int64_t ContentDifferences(const std::vector<ContentRow>& primary,
                           const std::vector<ContentRow>& own, const Differ& differ) {
  const auto hash = [](const ContentRow& row) { return row.hash; };
  return ForEachKeyGroup(
      primary, own, [](const ContentRow& row) -> const std::string& { return row.key; },
      [&](size_t i_from, size_t i_to, size_t j_from, size_t j_to) {
        // Sorted by hash within a key: equal multisets are equal sequences.
        const auto theirs = std::span(primary).subspan(i_from, i_to - i_from);
        const auto ours = std::span(own).subspan(j_from, j_to - j_from);
        if (std::ranges::equal(theirs, ours, {}, hash, hash)) return;
        const ContentRow& first = ours.empty() ? theirs.front() : ours.front();
        differ(first.key, first.id, static_cast<int64_t>(theirs.size()),
               static_cast<int64_t>(ours.size()));
      });
}

// This node's digest answer (shard_digest.h, of `version`) of its copy: its bucket table
// (`ids_of` null) or the ids (with version 2, and their content hashes) of the buckets
// `ids_of`; nullopt when it holds no copy. From env.own_digest (its hashes kept per segment),
// else over a scan (of its ids, or its whole rows).
arrow::Result<std::optional<Json>> OwnDigest(const ShardCopyEnv& env,
                                             const std::vector<int32_t>* ids_of, int32_t version) {
  if (env.own_digest) {
    auto answer = env.own_digest(ids_of, version, env.timeout);
    if (!answer.ok() && answer.status().IsKeyError()) return std::nullopt;
    ARROW_RETURN_NOT_OK(answer.status());
    return std::optional<Json>(std::move(*answer));
  }
  ARROW_ASSIGN_OR_RAISE(auto own_scan,
                        version == kDigestVersionContent ? OwnRows(env) : OwnIds(env));
  if (!own_scan) return std::nullopt;
  ShardDigestRequest request;
  request.dataset = env.name;
  request.buckets = env.digest_buckets;
  request.version = version;
  if (ids_of) request.ids_of.emplace(ids_of->begin(), ids_of->end());
  ARROW_ASSIGN_OR_RAISE(Json answer, AnswerShardDigest(request, *own_scan->reader));
  return std::optional<Json>(std::move(answer));
}

// The two copies' bucket tables (version 1 or 2, env.content) and the buckets that differ.
struct TableComparison {
  std::vector<int32_t> differing;
  int64_t own_rows = 0;
};
arrow::Result<TableComparison> CompareTables(const ShardCopyEnv& env, Reconciled* done,
                                             const Json& answer) {
  const auto own_started = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(BucketTable theirs, BucketTable::FromJson(answer));
  const int32_t version = env.content ? kDigestVersionContent : kDigestVersionIds;
  if (theirs.buckets() != env.digest_buckets || theirs.version() != version) {
    return arrow::Status::Invalid("the primary's digest of ", env.name, " has ", theirs.buckets(),
                                  " buckets of version ", theirs.version(), ", not ",
                                  env.digest_buckets, " of version ", version);
  }
  done->source_table_seconds = answer.value("seconds", 0.0);
  done->source_table_cache = answer.value("cache", Json());
  BucketTable ours(env.digest_buckets, version);
  ARROW_ASSIGN_OR_RAISE(auto own, OwnDigest(env, nullptr, version));
  if (own) {
    ARROW_ASSIGN_OR_RAISE(ours, BucketTable::FromJson(*own));
    done->own_table_cache = own->value("cache", Json());
  }
  done->own_table_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - own_started).count();
  TableComparison compared{theirs.Differing(ours), ours.rows()};
  done->buckets = env.digest_buckets;
  done->buckets_differ = static_cast<int32_t>(compared.differing.size());
  return compared;
}

// With digests: compares the bucket tables of the primary's copy and of this node's, and reads
// into `primary` and `own` the ids of the buckets that differ (`done` counts the buckets); with
// env.content, into `primary_rows` and `own_rows` their rows' content hashes too.
// False when the env has no digests or too many buckets differ: the caller reads every id
// (never with env.content: every differing bucket is read).
arrow::Result<bool> ReadDifferingIds(const ShardCopyEnv& env, Reconciled* done, SortedIds* primary,
                                     SortedIds* own, std::vector<ContentRow>* primary_rows,
                                     std::vector<ContentRow>* own_rows) {
  const auto& digest = env.content ? env.source_content_digest : env.source_digest;
  if (!digest) {
    if (env.content) return arrow::Status::Invalid("a content reconcile without content digests");
    return false;
  }
  const auto started = std::chrono::steady_clock::now();
  auto answer = digest(nullptr, env.timeout);
  if (!env.content && !answer.ok() && WithoutDigests(answer.status())) return false;
  ARROW_RETURN_NOT_OK(answer.status());
  ARROW_ASSIGN_OR_RAISE(TableComparison compared, CompareTables(env, done, *answer));
  const std::vector<int32_t>& differing = compared.differing;
  done->digest_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!env.content &&
      differing.size() > static_cast<size_t>(env.digest_buckets / kMostDifferingShare)) {
    return false;
  }
  if (differing.empty()) return true;
  ARROW_ASSIGN_OR_RAISE(Json ids, digest(&differing, env.timeout));
  if (env.content) {
    ARROW_ASSIGN_OR_RAISE(*primary_rows,
                          SortContentRows(ids.value("ids", Json()), ids.value("hashes", Json())));
    ARROW_ASSIGN_OR_RAISE(auto mine, OwnDigest(env, &differing, kDigestVersionContent));
    if (mine) {
      ARROW_ASSIGN_OR_RAISE(
          *own_rows, SortContentRows(mine->value("ids", Json()), mine->value("hashes", Json())));
    }
    return true;
  }
  ARROW_ASSIGN_OR_RAISE(*primary, SortJsonIds(ids.value("type", Json()), ids.value("ids", Json())));
  ARROW_ASSIGN_OR_RAISE(auto mine, OwnDigest(env, &differing, kDigestVersionIds));
  if (mine) {
    ARROW_ASSIGN_OR_RAISE(*own,
                          SortJsonIds(mine->value("type", Json()), mine->value("ids", Json())));
  }
  return true;
}

// Whether segment `received`'s local `row`, live on the primary, is deleted at once in this
// node's copy: its id was deleted here lately (`held` at kNeverCopied), or this node holds a
// row of it that no row of the primary's before it was matched to (`matched` counts those this
// segment matched). Rows not deleted here count in `seen` (as `matched` ones do, by the caller).
arrow::Result<bool> DeletedOnAdoption(const arrow::Array& ids, int64_t row, const IdCounts& held,
                                      IdCounts* matched, IdCounts* seen) {
  ARROW_ASSIGN_OR_RAISE(std::string key, IdKey(ids, row));
  auto it = held.find(key);
  const int64_t have = it == held.end() ? 0 : it->second;
  if (have >= kNeverCopied / 2) return true;
  ++(*seen)[key];
  if (have == 0) return false;
  int64_t& taken = (*matched)[key];
  if (have - taken > 0) {
    ++taken;
    return true;
  }
  return false;
}

// Adopts one segment fetched from the primary: under the gate, its rows whose ids are held or
// were deleted here are marked deleted, and the segment appended whole. The primary's rows are
// matched to this node's in one pass, in the primary's row order (the adopted segments', then
// the row scan's): a held row matched to a row of the segment leaves `held`, and every row of
// the segment live on the primary (kept or matched) counts in the segment's entry appended to
// `seen`, what a row scan that starts before the segment meets again (OpenBulkScan's fallback).
arrow::Status AdoptOne(const ShardCopyEnv& env, ReceivedSegment received, const SegmentRef& ref,
                       ShardDeletes::Clock::time_point since, IdCounts* held,
                       std::vector<IdCounts>* seen, Adopted* adopted) {
  WriterLock gate(env.fence->gate());
  for (const std::string& key : DeletedSince(env, since)) (*held)[key] = kNeverCopied;
  SegmentMutation segment{std::move(received.batches), std::move(received.graph),
                          std::move(received.deleted)};
  IdCounts matched;
  IdCounts seen_here;
  int64_t local = 0;
  for (const auto& batch : segment.batches) {
    ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(*batch));
    for (int64_t row = 0; row < batch->num_rows(); ++row, ++local) {
      if (segment.deleted.contains(static_cast<uint32_t>(local))) continue;
      ARROW_ASSIGN_OR_RAISE(bool deleted,
                            DeletedOnAdoption(*ids, row, *held, &matched, &seen_here));
      if (deleted) segment.deleted.add(static_cast<uint32_t>(local));
    }
  }
  ARROW_ASSIGN_OR_RAISE(const int64_t rows, env.local.adopt(env.name, segment));
  for (const auto& [key, count] : matched) (*held)[key] -= count;
  seen->push_back(std::move(seen_here));
  adopted->refs.push_back(ref);
  adopted->rows += rows;
  adopted->rows_deleted += static_cast<int64_t>(segment.deleted.cardinality());
  return arrow::Status::OK();
}

// Adopts the primary's sealed, linked segments in order; stops at the first failure (its
// reason in adopted->fallback), leaving the rest to the row scan.
void AdoptSegments(const ShardCopyEnv& env, ShardDeletes::Clock::time_point since, IdCounts* held,
                   std::vector<IdCounts>* seen, Adopted* adopted) {
  if (!env.source_segments || !env.source_segment || !env.local.adopt) {
    adopted->fallback = "this node adopts no segments";
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  auto segments = env.source_segments(env.timeout);
  if (!segments.ok()) {
    adopted->fallback = "the primary lists no segments (" + segments.status().message() + ")";
    return;
  }
  for (const SegmentRef& ref : *segments) {
    if (!CheckNotStopping(env).ok()) {
      adopted->fallback = "this node is stopping";
      break;
    }
    auto received = env.source_segment(ref, env.timeout);
    arrow::Status status = received.status();
    if (received.ok())
      status = AdoptOne(env, std::move(*received), ref, since, held, seen, adopted);
    if (!status.ok()) {
      adopted->fallback = "segment from row " + std::to_string(ref.first_row) + " not adopted (" +
                          status.message() + ")";
      break;
    }
  }
  adopted->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

arrow::Result<ScanPart> ScanAfter(const ShardCopyEnv& env, const SegmentRef& segment) {
  return env.source(ScanTicket(env.name, {{"after_segment", SegmentRefJson(segment)}}),
                    env.timeout);
}

// Of the adopted segments before the last, the latest that the primary still lists as it was
// (a merge replaced only the ones after it), and the scan after it; nullopt when none is
// (a compaction renumbered them, the primary restarted, or it lists none).
std::optional<std::pair<size_t, ScanPart>> ScanAfterEarlier(const ShardCopyEnv& env,
                                                            const Adopted& adopted) {
  if (!env.source_segments || adopted.refs.size() < 2) return std::nullopt;
  auto listed = env.source_segments(env.timeout);
  if (!listed.ok()) return std::nullopt;
  for (size_t s = adopted.refs.size() - 1; s-- > 0;) {
    if (std::find(listed->begin(), listed->end(), adopted.refs[s]) == listed->end()) continue;
    auto after = ScanAfter(env, adopted.refs[s]);
    if (!after.ok()) return std::nullopt;
    return std::make_pair(s, std::move(*after));
  }
  return std::nullopt;
}

// The row scan of the bulk pass: after the last segment adopted when the primary still holds
// it (its rows before are those adopted); else after the latest adopted segment it still holds
// as it was (a merge replaced the last ones), else the whole shard, `held` then counting again
// the rows of the adopted segments after its start that it meets (`seen`, one entry per
// adopted segment).
arrow::Result<ScanPart> OpenBulkScan(const ShardCopyEnv& env, const Adopted& adopted,
                                     const std::vector<IdCounts>& seen, IdCounts* held,
                                     BulkScan* scan) {
  const SegmentRef* last = adopted.last();
  if (!last) return env.source(ScanTicket(env.name), env.timeout);
  auto tail = ScanAfter(env, *last);
  if (tail.ok()) {
    scan->from_row = last->end_row();
    return tail;
  }
  scan->fallback = tail.status().message();
  auto earlier = ScanAfterEarlier(env, adopted);
  const size_t met_from = earlier ? earlier->first + 1 : 0;  // the adopted segments it meets
  for (size_t s = met_from; s < seen.size(); ++s) {
    for (const auto& [key, count] : seen[s]) (*held)[key] += count;
  }
  if (!earlier) return env.source(ScanTicket(env.name), env.timeout);
  scan->from_row = adopted.refs[earlier->first].end_row();
  scan->fallback += "; scanned after adopted segment " + std::to_string(earlier->first + 1) +
                    " of " + std::to_string(adopted.refs.size()) + " instead";
  return std::move(earlier->second);
}

}  // namespace

Json Adopted::ToJson() const {
  return {{"segments", segments()},       {"rows", rows},
          {"rows_deleted", rows_deleted}, {"seconds", seconds},
          {"fallback", fallback},         {"last", last() ? SegmentRefJson(*last()) : Json()}};
}

Json BulkScan::ToJson() const {
  return {{"from_row", from_row},   {"rows", rows},       {"bytes", bytes},
          {"rows_kept", rows_kept}, {"seconds", seconds}, {"fallback", fallback}};
}

arrow::Result<int64_t> CopyBulk(const ShardCopyEnv& env, Adopted* adopted, BulkScan* scanned) {
  // Every id deleted here from kRetention before the pass on stays known until it ends.
  const DeletesPinned pinned(env.deletes, env.name);
  if (env.start_delay.count() > 0) std::this_thread::sleep_for(env.start_delay);
  IdCounts held;
  ARROW_ASSIGN_OR_RAISE(auto own, OwnIds(env));
  if (own) {
    ARROW_RETURN_NOT_OK(ForEachId(*own->reader, [&](const arrow::Array& ids, int64_t row) {
      ARROW_ASSIGN_OR_RAISE(std::string key, IdKey(ids, row));
      ++held[key];
      return arrow::Status::OK();
    }));
  }
  Adopted adopted_here;
  Adopted& done = adopted ? *adopted : adopted_here;
  BulkScan scanned_here;
  BulkScan& scan = scanned ? *scanned : scanned_here;
  std::vector<IdCounts> seen;  // per adopted segment
  AdoptSegments(env, pinned.since(), &held, &seen, &done);
  if (env.scan_delay.count() > 0) std::this_thread::sleep_for(env.scan_delay);
  const auto started = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(ScanPart part, OpenBulkScan(env, done, seen, &held, &scan));
  ARROW_ASSIGN_OR_RAISE(scan.unique_ids, UniqueIdOption(*part.reader->schema()));
  // With unique ids, a scanned row of an id this node holds is older than the held one (the
  // scan reads the primary as it was when it began; every put since reached this node too):
  // it is left out rather than replacing the newer row.
  std::unique_ptr<PutSink> sink =
      env.local.open(env.name, scan.unique_ids ? HeldIds::kKeep : HeldIds::kReplace);
  int64_t copied = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(part.reader->ReadNext(&batch));
    if (!batch) break;
    scan.rows += batch->num_rows();
    scan.bytes += arrow::util::TotalBufferSize(*batch);
    if (env.bulk_batch_delay.count() > 0) std::this_thread::sleep_for(env.bulk_batch_delay);
    ARROW_RETURN_NOT_OK(CheckNotStopping(env));
    // The ids deleted here so far, read and the batch stored while no delete runs here.
    WriterLock gate(env.fence->gate());
    for (const std::string& key : DeletedSince(env, pinned.since())) held[key] = kNeverCopied;
    ARROW_ASSIGN_OR_RAISE(auto missing, Unheld(batch, &held));
    if (!missing) continue;
    ARROW_ASSIGN_OR_RAISE(Json ack, sink->Append(missing));
    const int64_t stored = ack.value("rows", missing->num_rows());
    copied += stored;
    scan.rows_kept += missing->num_rows() - stored;
  }
  ARROW_RETURN_NOT_OK(sink->Finish(*part.reader->schema()));
  scan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return copied;
}

Json Reconciled::ToJson() const {
  return {{"ids_compared", ids},
          {"ids_read", ids_read},
          {"buckets", buckets},
          {"buckets_differ", buckets_differ},
          {"ids_replaced", differ},
          {"rows_copied", copied},
          {"rows_removed", removed},
          {"seconds", seconds},
          {"digest_seconds", digest_seconds},
          {"source_table_seconds", source_table_seconds},
          {"own_table_seconds", own_table_seconds},
          {"source_table_cache", source_table_cache},
          {"own_table_cache", own_table_cache}};
}

arrow::Result<Reconciled> Reconcile(const ShardCopyEnv& env, bool fenced) {
  // Before the fences, the ids deleted here from kRetention before the pass on stay known
  // until it ends (as the bulk pass's).
  const DeletesPinned pinned(fenced ? nullptr : env.deletes, env.name);
  // Ids deleted here lately may still be deleted on the primary: this node's rows of them
  // (received as writes since it became a replica) are right, the primary's may not be.
  const std::unordered_set<std::string> deleted =
      DeletedSince(env, ShardDeletes::Clock::now() - ShardDeletes::kRetention);
  const auto started = std::chrono::steady_clock::now();
  Reconciled done;
  SortedIds primary;
  SortedIds own;
  std::vector<ContentRow> primary_rows;
  std::vector<ContentRow> own_rows;
  ARROW_ASSIGN_OR_RAISE(bool by_digest,
                        ReadDifferingIds(env, &done, &primary, &own, &primary_rows, &own_rows));
  if (!by_digest) {
    ARROW_ASSIGN_OR_RAISE(ScanPart primary_scan,
                          env.source(ScanTicket(env.name, {{"columns", {"id"}}}), env.timeout));
    ARROW_ASSIGN_OR_RAISE(primary, ReadSortedIds(*primary_scan.reader));
    ARROW_ASSIGN_OR_RAISE(auto own_scan, OwnIds(env));
    if (own_scan) {
      ARROW_ASSIGN_OR_RAISE(own, ReadSortedIds(*own_scan->reader));
    }
  }
  done.ids_read =
      primary.size() + own.size() + static_cast<int64_t>(primary_rows.size() + own_rows.size());
  const auto type = primary.type ? primary.type : own.type;
  if (primary.type && own.type && *primary.type != *own.type) {
    return arrow::Status::Invalid("the ids of ", env.name, " are of another type here than on ",
                                  "the primary");
  }
  std::vector<Json> remove;
  std::vector<Json> copy;
  // An id whose rows differ: this node's go, the primary's come.
  auto replace = [&](const std::string& key, Json id, int64_t primary_rows, int64_t own_rows) {
    if (deleted.contains(key)) return;
    ++done.differ;
    if (own_rows > 0) remove.push_back(id);
    if (primary_rows > 0) copy.push_back(std::move(id));
  };
  if (env.content) {
    done.ids =
        ContentDifferences(primary_rows, own_rows,
                           [&](const std::string& key, const Json& id, int64_t primary_count,
                               int64_t own_count) { replace(key, id, primary_count, own_count); });
  } else if (type == arrow::Type::STRING) {
    done.ids = Differences(primary.strings, own.strings,
                           [&](const std::string& key, int64_t primary_rows, int64_t own_rows) {
                             replace(key, key, primary_rows, own_rows);
                           });
  } else {
    done.ids = Differences(
        primary.numbers, own.numbers, [&](uint64_t value, int64_t primary_rows, int64_t own_rows) {
          const std::string key(reinterpret_cast<const char*>(&value), sizeof(value));
          Json id = type == arrow::Type::UINT64 ? Json(value) : Json(static_cast<int64_t>(value));
          replace(key, std::move(id), primary_rows, own_rows);
        });
  }
  if (!remove.empty() && !env.local.remove) {
    return arrow::Status::NotImplemented("this node cannot delete rows of ", env.name);
  }
  for (const Json& ids : Chunks(remove)) {
    ARROW_ASSIGN_OR_RAISE(int64_t removed, env.local.remove(env.name, ids));
    done.removed += removed;
  }
  // This node's rows of the ids copied were removed above; in a dataset whose ids are unique,
  // a row of one of them held when the primary's is stored came as a put since (the newer), and
  // stays (with ids repeated on purpose, every row is stored).
  std::unique_ptr<PutSink> sink = env.local.open(env.name, HeldIds::kKeep);
  std::shared_ptr<arrow::Schema> schema;
  for (const Json& ids : Chunks(copy)) {
    const Json filters = Json::array({{{"field", "id"}, {"op", "in"}, {"value", ids}}});
    ARROW_ASSIGN_OR_RAISE(ScanPart part,
                          env.source(ScanTicket(env.name, {{"filters", filters}}), env.timeout));
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(part.reader->ReadNext(&batch));
      if (!batch) break;
      if (batch->num_rows() == 0) continue;
      if (fenced) {
        ARROW_RETURN_NOT_OK(sink->Append(batch).status());
        done.copied += batch->num_rows();
        continue;
      }
      // Writes go on: stored while no delete runs here, none whose id was deleted here since
      // the pass began (as the bulk pass's).
      WriterLock gate(env.fence->gate());
      IdCounts never;
      for (const std::string& key : DeletedSince(env, pinned.since())) never[key] = kNeverCopied;
      ARROW_ASSIGN_OR_RAISE(auto kept, Unheld(batch, &never));
      if (!kept) continue;
      ARROW_RETURN_NOT_OK(sink->Append(kept).status());
      done.copied += kept->num_rows();
    }
    schema = part.reader->schema();
  }
  if (schema) ARROW_RETURN_NOT_OK(sink->Finish(*schema));
  done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return done;
}

Json KeptPlan::ToJson() const {
  return {{"kept", keep}, {"buckets", buckets}, {"buckets_differ", buckets_differ},
          {"rows", rows}, {"seconds", seconds}, {"reason", reason}};
}

namespace {

// The primary's content digest answer for `ids_of` (null: the whole table), or nullopt, saying
// why in `why_not`, when this node or the primary compares no content digests.
arrow::Result<std::optional<Json>> SourceContentDigest(const ShardCopyEnv& env,
                                                       const std::vector<int32_t>* ids_of,
                                                       std::string* why_not) {
  if (!env.source_content_digest) {
    *why_not = "this node compares no content digests";
    return std::nullopt;
  }
  auto answer = env.source_content_digest(ids_of, env.timeout);
  if (!answer.ok() &&
      (WithoutDigests(answer.status()) || IsWithoutContentDigests(answer.status()))) {
    *why_not = "the primary has no content digests (" + answer.status().message() + ")";
    return std::nullopt;
  }
  ARROW_RETURN_NOT_OK(answer.status());
  return std::move(*answer);
}

}  // namespace

arrow::Result<std::optional<Json>> SourceContentTable(const ShardCopyEnv& env,
                                                      std::string* why_not) {
  return SourceContentDigest(env, nullptr, why_not);
}

arrow::Result<bool> SourceOffersContentDigests(const ShardCopyEnv& env, std::string* why_not) {
  const std::vector<int32_t> no_bucket;
  ARROW_ASSIGN_OR_RAISE(std::optional<Json> answer, SourceContentDigest(env, &no_bucket, why_not));
  return answer.has_value();
}

arrow::Result<KeptPlan> PlanKeptCopy(const ShardCopyEnv& env) {
  const auto started = std::chrono::steady_clock::now();
  KeptPlan plan;
  ARROW_ASSIGN_OR_RAISE(std::optional<Json> answer, SourceContentTable(env, &plan.reason));
  if (!answer) return plan;
  ShardCopyEnv content = env;
  content.content = true;
  Reconciled compared;
  ARROW_ASSIGN_OR_RAISE(TableComparison tables, CompareTables(content, &compared, *answer));
  plan.buckets = compared.buckets;
  plan.buckets_differ = compared.buckets_differ;
  plan.rows = tables.own_rows;
  plan.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The rows that differ, estimated from the share of buckets that differ (d of B buckets
  // hit by k changed ids: d = B (1 - e^(-k/B)), so k = -B ln(1 - d/B)).
  const double share = static_cast<double>(plan.buckets_differ) / std::max(plan.buckets, 1);
  plan.rows_differ = share >= 1
                         ? plan.rows + 1
                         : static_cast<int64_t>(std::ceil(-plan.buckets * std::log1p(-share)));
  if (plan.rows_differ > plan.rows / kMostDifferingShareToKeep) {
    plan.reason = "too far behind: about " + std::to_string(plan.rows_differ) + " of " +
                  std::to_string(plan.rows) + " rows differ (" +
                  std::to_string(plan.buckets_differ) + " of " + std::to_string(plan.buckets) +
                  " buckets)";
    return plan;
  }
  plan.keep = true;
  return plan;
}

arrow::Result<int64_t> PurgeCopy(const ShardCopyEnv& env) {
  if (!env.local.remove) {
    return arrow::Status::NotImplemented("this node cannot delete rows of ", env.name);
  }
  WriterLock gate(env.fence->gate());
  ARROW_ASSIGN_OR_RAISE(auto own, OwnIds(env));
  if (!own) return 0;
  std::vector<Json> ids;
  ARROW_RETURN_NOT_OK(ForEachId(*own->reader, [&](const arrow::Array& column, int64_t row) {
    ids.push_back(IdJson(column, row));
    return arrow::Status::OK();
  }));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  int64_t removed = 0;
  for (const Json& chunk : Chunks(ids)) {
    ARROW_ASSIGN_OR_RAISE(int64_t rows, env.local.remove(env.name, chunk));
    removed += rows;
  }
  return removed;
}

}  // namespace arbalest
