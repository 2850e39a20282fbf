#include "cluster/shard_digest.h"

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <arrow/status.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace arbalest {
namespace {

// Not the shard hash's (shard_map.cc, unseeded): the ids of one shard spread over every bucket.
constexpr XXH64_hash_t kBucketSeed = 0x9e3779b97f4a7c15ULL;

RowHash HashBytes(const void* bytes, size_t size) {
  const XXH128_hash_t hash = XXH3_128bits_withSeed(bytes, size, kBucketSeed);
  return RowHash{hash.low64, hash.high64};
}

// An integer's 8 bytes as ShardDeletes::KeyOf's (the two's complement of an int64).
RowHash HashInteger(uint64_t value) { return HashBytes(&value, sizeof(value)); }

IdHash InBuckets(const RowHash& hash, int32_t buckets) {
  return IdHash{BucketOfPlace(hash.place, buckets), hash.digest};
}

// Calls `each(batch)` for every batch of `reader`.
template <class Each>
arrow::Status ForEachBatch(arrow::RecordBatchReader& reader, const Each& each) {
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (!batch) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(each(*batch));
  }
}

// Calls `each(ids)` for the id column of every batch of `reader`.
template <class Each>
arrow::Status ForEachIdColumn(arrow::RecordBatchReader& reader, const Each& each) {
  return ForEachBatch(reader, [&](const arrow::RecordBatch& batch) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(batch));
    return each(*ids);
  });
}

constexpr uint64_t kNullHash = 0x6e756c6c2d726f77ULL;  // a null value's

uint64_t Mix(uint64_t a, uint64_t b) {
  const uint64_t both[2] = {a, b};
  return XXH3_64bits(both, sizeof(both));
}

uint64_t HashOf(const void* bytes, size_t size) { return XXH3_64bits(bytes, size); }

// The bytes of element `index` of the fixed-width values `data` (its offset applied); null when
// its type's width is not whole bytes (booleans).
const uint8_t* FixedBytes(const arrow::ArrayData& data, int64_t index, int* width) {
  const auto* fixed = dynamic_cast<const arrow::FixedWidthType*>(data.type.get());
  if (!fixed || fixed->bit_width() % 8 != 0 || data.buffers.size() < 2 || !data.buffers[1]) {
    return nullptr;
  }
  *width = fixed->bit_width() / 8;
  return data.buffers[1]->data() + (data.offset + index) * *width;
}

// The hash of `length` elements of `values` from `start` (a list's), by their bytes when they
// are fixed-width without nulls, else element by element.
uint64_t HashElements(const arrow::Array& values, int64_t start, int64_t length);

// The hash of the value at `row` of `column`.
uint64_t HashValue(const arrow::Array& column, int64_t row) {
  if (column.IsNull(row)) return kNullHash;
  switch (column.type_id()) {
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanArray&>(column).Value(row) ? 1 : 2;
    case arrow::Type::STRING:
    case arrow::Type::BINARY: {
      const std::string_view bytes = static_cast<const arrow::BinaryArray&>(column).GetView(row);
      return HashOf(bytes.data(), bytes.size());
    }
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY: {
      const std::string_view bytes =
          static_cast<const arrow::LargeBinaryArray&>(column).GetView(row);
      return HashOf(bytes.data(), bytes.size());
    }
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& list = static_cast<const arrow::FixedSizeListArray&>(column);
      return HashElements(*list.values(), list.value_offset(row), list.value_length(row));
    }
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(column);
      return HashElements(*list.values(), list.value_offset(row), list.value_length(row));
    }
    case arrow::Type::LARGE_LIST: {
      const auto& list = static_cast<const arrow::LargeListArray&>(column);
      return HashElements(*list.values(), list.value_offset(row), list.value_length(row));
    }
    default:
      break;
  }
  int width = 0;
  if (const uint8_t* bytes = FixedBytes(*column.data(), row, &width)) return HashOf(bytes, width);
  // Any other type (structs, maps, dictionaries): its value's text, slower but exact enough.
  auto scalar = column.GetScalar(row);
  const std::string text = scalar.ok() ? (*scalar)->ToString() : std::string();
  return HashOf(text.data(), text.size());
}

uint64_t HashElements(const arrow::Array& values, int64_t start, int64_t length) {
  int width = 0;
  const uint8_t* bytes = FixedBytes(*values.data(), start, &width);
  if (bytes && (values.null_count() == 0)) {
    return Mix(static_cast<uint64_t>(length), HashOf(bytes, static_cast<size_t>(length * width)));
  }
  uint64_t hash = static_cast<uint64_t>(length);
  for (int64_t i = 0; i < length; ++i) hash = Mix(hash, HashValue(values, start + i));
  return hash;
}

arrow::Status CheckBuckets(int64_t buckets) {
  if (buckets < 1 || buckets > kMaxDigestBuckets) {
    return arrow::Status::Invalid(kShardDigestAction, ": buckets must be in [1, ",
                                  kMaxDigestBuckets, "], got ", buckets);
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Array>> IdColumnOf(const arrow::RecordBatch& batch) {
  auto ids = batch.GetColumnByName("id");
  if (!ids) return arrow::Status::Invalid("a shard dataset's rows without an id column");
  if (ids->null_count() > 0) return arrow::Status::Invalid("a shard dataset's row without an id");
  return ids;
}

Json IdJson(const arrow::Array& ids, int64_t row) {
  switch (ids.type_id()) {
    case arrow::Type::INT64:
      return static_cast<const arrow::Int64Array&>(ids).Value(row);
    case arrow::Type::UINT64:
      return static_cast<const arrow::UInt64Array&>(ids).Value(row);
    default:
      return std::string(static_cast<const arrow::StringArray&>(ids).GetView(row));
  }
}

arrow::Result<std::string> IdTypeName(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT64:
      return "int64";
    case arrow::Type::UINT64:
      return "uint64";
    case arrow::Type::STRING:
      return "string";
    default:
      return arrow::Status::Invalid("ids of type ", type.ToString(),
                                    " cannot be sharded (int64, uint64 or utf8)");
  }
}

namespace {

// The hash of the id at `row` of `ids`, before its bucket is taken.
arrow::Result<RowHash> HashIdAt(const arrow::Array& ids, int64_t row) {
  switch (ids.type_id()) {
    case arrow::Type::INT64:
      return HashInteger(
          static_cast<uint64_t>(static_cast<const arrow::Int64Array&>(ids).Value(row)));
    case arrow::Type::UINT64:
      return HashInteger(static_cast<const arrow::UInt64Array&>(ids).Value(row));
    case arrow::Type::STRING: {
      const std::string_view id = static_cast<const arrow::StringArray&>(ids).GetView(row);
      return HashBytes(id.data(), id.size());
    }
    default:
      return IdTypeName(*ids.type()).status();
  }
}

arrow::Result<std::string> TypeName(const arrow::Array& ids) { return IdTypeName(*ids.type()); }

}  // namespace

arrow::Result<IdHash> HashId(const arrow::Array& ids, int64_t row, int32_t buckets) {
  ARROW_ASSIGN_OR_RAISE(RowHash hash, HashIdAt(ids, row));
  return InBuckets(hash, buckets);
}

arrow::Result<std::vector<IdHash>> RowDigests(const arrow::RecordBatch& batch, int32_t buckets) {
  ARROW_ASSIGN_OR_RAISE(std::vector<RowHash> hashes, RowHashes(batch));
  std::vector<IdHash> rows(hashes.size());
  for (size_t row = 0; row < hashes.size(); ++row) rows[row] = InBuckets(hashes[row], buckets);
  return rows;
}

arrow::Result<std::vector<RowHash>> IdRowHashes(const arrow::Array& ids) {
  std::vector<RowHash> rows(static_cast<size_t>(ids.length()));
  for (int64_t row = 0; row < ids.length(); ++row) {
    ARROW_ASSIGN_OR_RAISE(rows[row], HashIdAt(ids, row));
  }
  return rows;
}

arrow::Result<std::vector<RowHash>> RowHashes(const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(batch));
  ARROW_ASSIGN_OR_RAISE(std::vector<RowHash> rows, IdRowHashes(*ids));
  // The other columns in the order of their names, each name mixed in, so that two copies
  // whose columns are stored in another order agree.
  std::vector<int> columns;
  for (int i = 0; i < batch.num_columns(); ++i) {
    if (batch.schema()->field(i)->name() != "id") columns.push_back(i);
  }
  std::sort(columns.begin(), columns.end(), [&](int a, int b) {
    return batch.schema()->field(a)->name() < batch.schema()->field(b)->name();
  });
  for (int i : columns) {
    const std::string& name = batch.schema()->field(i)->name();
    const uint64_t name_hash = HashOf(name.data(), name.size());
    const arrow::Array& column = *batch.column(i);
    for (int64_t row = 0; row < batch.num_rows(); ++row) {
      rows[row].digest = Mix(rows[row].digest ^ name_hash, HashValue(column, row));
    }
  }
  return rows;
}

BucketTable::BucketTable(int32_t buckets, int32_t version)
    : version_(version), counts_(buckets, 0), sums_(buckets, 0) {}

arrow::Status BucketTable::NoteType(const arrow::Array& ids) {
  ARROW_ASSIGN_OR_RAISE(std::string type, TypeName(ids));
  if (type_ && *type_ != type) {
    return arrow::Status::Invalid("ids of type ", type, " after ids of type ", *type_);
  }
  type_ = type;
  return arrow::Status::OK();
}

arrow::Status BucketTable::AddRows(const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(batch));
  ARROW_RETURN_NOT_OK(NoteType(*ids));
  ARROW_ASSIGN_OR_RAISE(std::vector<RowHash> rows, RowHashes(batch));
  for (const RowHash& row : rows) AddHash(row);
  return arrow::Status::OK();
}

void BucketTable::AddHash(const RowHash& row) {
  const int32_t bucket = BucketOfPlace(row.place, buckets());
  ++counts_[bucket];
  sums_[bucket] += row.digest;  // modulo 2^64
  ++rows_;
}

void BucketTable::RemoveHash(const RowHash& row) {
  const int32_t bucket = BucketOfPlace(row.place, buckets());
  --counts_[bucket];
  sums_[bucket] -= row.digest;  // modulo 2^64
  --rows_;
}

void BucketTable::AddTable(const BucketTable& other) {
  for (int32_t bucket = 0; bucket < buckets(); ++bucket) {
    counts_[bucket] += other.counts_[bucket];
    sums_[bucket] += other.sums_[bucket];  // modulo 2^64
  }
  rows_ += other.rows_;
}

arrow::Status BucketTable::NoteIdType(const arrow::DataType& type) {
  ARROW_ASSIGN_OR_RAISE(std::string name, IdTypeName(type));
  type_ = name;
  return arrow::Status::OK();
}

arrow::Status BucketTable::Add(const arrow::Array& ids) {
  ARROW_RETURN_NOT_OK(NoteType(ids));
  const int32_t buckets = this->buckets();
  for (int64_t row = 0; row < ids.length(); ++row) {
    ARROW_ASSIGN_OR_RAISE(IdHash hash, HashId(ids, row, buckets));
    ++counts_[hash.bucket];
    sums_[hash.bucket] += hash.digest;  // modulo 2^64
  }
  rows_ += ids.length();
  return arrow::Status::OK();
}

arrow::Status BucketTable::AddAll(arrow::RecordBatchReader& reader) {
  if (version_ == kDigestVersionIds) {
    return ForEachIdColumn(reader, [this](const arrow::Array& ids) { return Add(ids); });
  }
  return ForEachBatch(reader, [this](const arrow::RecordBatch& batch) { return AddRows(batch); });
}

std::vector<int32_t> BucketTable::Differing(const BucketTable& other) const {
  std::vector<int32_t> differing;
  for (int32_t bucket = 0; bucket < buckets(); ++bucket) {
    if (counts_[bucket] != other.counts_[bucket] || sums_[bucket] != other.sums_[bucket]) {
      differing.push_back(bucket);
    }
  }
  return differing;
}

Json BucketTable::ToJson() const {
  return {{"version", version_}, {"buckets", buckets()},
          {"rows", rows_},       {"type", type_ ? Json(*type_) : Json(nullptr)},
          {"counts", counts_},   {"sums", sums_}};
}

arrow::Result<BucketTable> BucketTable::FromJson(const Json& json) {
  const auto invalid = [&] {
    return arrow::Status::Invalid("a shard digest's table is malformed: ", JsonForMessage(json));
  };
  if (!json.is_object() || !json.contains("buckets") || !json["buckets"].is_number_integer() ||
      !json.contains("counts") || !json["counts"].is_array() || !json.contains("sums") ||
      !json["sums"].is_array()) {
    return invalid();
  }
  const int64_t buckets = json["buckets"].get<int64_t>();
  ARROW_RETURN_NOT_OK(CheckBuckets(buckets));
  const Json& counts = json["counts"];
  const Json& sums = json["sums"];
  if (counts.size() != static_cast<size_t>(buckets) || sums.size() != counts.size()) {
    return invalid();
  }
  const Json version = json.value("version", Json(kDigestVersionIds));
  if (version != Json(kDigestVersionIds) && version != Json(kDigestVersionContent)) {
    return invalid();
  }
  BucketTable table(static_cast<int32_t>(buckets), version.get<int32_t>());
  for (int32_t bucket = 0; bucket < table.buckets(); ++bucket) {
    if (!counts[bucket].is_number_integer() || !sums[bucket].is_number_integer()) {
      return invalid();
    }
    table.counts_[bucket] = counts[bucket].get<int64_t>();
    table.sums_[bucket] = sums[bucket].is_number_unsigned()
                              ? sums[bucket].get<uint64_t>()
                              : static_cast<uint64_t>(sums[bucket].get<int64_t>());
    table.rows_ += table.counts_[bucket];
  }
  if (json.contains("type") && json["type"].is_string()) {
    table.type_ = json["type"].get<std::string>();
  }
  return table;
}

arrow::Result<BucketIds> IdsInBuckets(arrow::RecordBatchReader& reader,
                                      const std::set<int32_t>& buckets, int32_t of,
                                      int32_t version) {
  BucketIds found;
  if (version == kDigestVersionContent) {
    ARROW_RETURN_NOT_OK(ForEachBatch(reader, [&](const arrow::RecordBatch& batch) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto ids, IdColumnOf(batch));
      ARROW_ASSIGN_OR_RAISE(found.type, TypeName(*ids));
      ARROW_ASSIGN_OR_RAISE(std::vector<IdHash> rows, RowDigests(batch, of));
      for (int64_t row = 0; row < batch.num_rows(); ++row) {
        if (!buckets.contains(rows[row].bucket)) continue;
        found.ids.push_back(IdJson(*ids, row));
        found.hashes.push_back(rows[row].digest);
      }
      return arrow::Status::OK();
    }));
    return found;
  }
  ARROW_RETURN_NOT_OK(ForEachIdColumn(reader, [&](const arrow::Array& ids) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(found.type, TypeName(ids));
    for (int64_t row = 0; row < ids.length(); ++row) {
      ARROW_ASSIGN_OR_RAISE(IdHash hash, HashId(ids, row, of));
      if (buckets.contains(hash.bucket)) found.ids.push_back(IdJson(ids, row));
    }
    return arrow::Status::OK();
  }));
  return found;
}

arrow::Result<ShardDigestRequest> ParseShardDigestRequest(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(Json json, ParseJsonObject(body, kShardDigestAction));
  ARROW_RETURN_NOT_OK(
      CheckKnownKeys(json, {"dataset", "shard", "buckets", "ids_of", "version", "local_only"},
                     kShardDigestAction));
  if (!json.contains("dataset") || !json["dataset"].is_string() || !json.contains("shard") ||
      !json["shard"].is_number_integer()) {
    return arrow::Status::Invalid(kShardDigestAction, " needs dataset (a string) and shard (an ",
                                  "integer): ", JsonForMessage(json));
  }
  ShardDigestRequest request;
  request.dataset = json["dataset"].get<std::string>();
  const int64_t shard = json["shard"].get<int64_t>();
  if (shard < 0 || shard > INT32_MAX) {
    return arrow::Status::Invalid(kShardDigestAction, ": shard must be >= 0, got ", shard);
  }
  request.shard = static_cast<int32_t>(shard);
  ARROW_ASSIGN_OR_RAISE(auto buckets, GetOptionalInt(json, "buckets", kShardDigestAction));
  if (buckets) {
    ARROW_RETURN_NOT_OK(CheckBuckets(*buckets));
    request.buckets = static_cast<int32_t>(*buckets);
  }
  ARROW_ASSIGN_OR_RAISE(auto version, GetOptionalInt(json, "version", kShardDigestAction));
  if (version) {
    if (*version != kDigestVersionIds && *version != kDigestVersionContent) {
      return arrow::Status::Invalid(kShardDigestAction, ": version must be ", kDigestVersionIds,
                                    " (ids) or ", kDigestVersionContent, " (content), got ",
                                    *version);
    }
    request.version = static_cast<int32_t>(*version);
  }
  if (json.contains("ids_of")) {
    const Json& ids_of = json["ids_of"];
    if (!ids_of.is_array()) {
      return arrow::Status::Invalid(kShardDigestAction, ": ids_of must be an array of buckets, ",
                                    "got ", JsonForMessage(ids_of));
    }
    request.ids_of.emplace();
    for (const Json& bucket : ids_of) {
      if (!bucket.is_number_integer() || bucket.get<int64_t>() < 0 ||
          bucket.get<int64_t>() >= request.buckets) {
        return arrow::Status::Invalid(kShardDigestAction, ": ids_of holds ", JsonForMessage(bucket),
                                      ", not a bucket in [0, ", request.buckets, ")");
      }
      request.ids_of->insert(bucket.get<int32_t>());
    }
  }
  return request;
}

Json ShardDigestBody(const std::string& dataset, int32_t shard, int32_t buckets,
                     const std::vector<int32_t>* ids_of, int32_t version) {
  Json body{{"dataset", dataset}, {"shard", shard}, {"buckets", buckets}, {"local_only", true}};
  if (ids_of) body["ids_of"] = *ids_of;
  if (version != kDigestVersionIds) body["version"] = version;
  return body;
}

bool IsWithoutContentDigests(const arrow::Status& status) {
  return status.IsInvalid() && status.message().find("unknown key 'version'") != std::string::npos;
}

arrow::Result<Json> AnswerShardDigest(const ShardDigestRequest& request,
                                      arrow::RecordBatchReader& rows) {
  const auto started = std::chrono::steady_clock::now();
  Json answer;
  if (request.ids_of) {
    ARROW_ASSIGN_OR_RAISE(BucketIds found,
                          IdsInBuckets(rows, *request.ids_of, request.buckets, request.version));
    answer = {{"version", request.version},
              {"type", found.type ? Json(*found.type) : Json(nullptr)},
              {"ids", std::move(found.ids)}};
    if (request.version == kDigestVersionContent) answer["hashes"] = std::move(found.hashes);
  } else {
    BucketTable table(request.buckets, request.version);
    ARROW_RETURN_NOT_OK(table.AddAll(rows));
    answer = table.ToJson();
  }
  answer["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return answer;
}

}  // namespace arbalest
