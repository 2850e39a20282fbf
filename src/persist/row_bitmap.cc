#include "persist/row_bitmap.h"

#include <arrow/status.h>

#include <bit>
#include <cstdint>

namespace arbalest {
namespace {

constexpr int32_t kBitsetWords = 65536 / 64;

bool ArrayValid(const array_container_t& array) {
  if (array.cardinality <= 0) return false;
  for (int32_t i = 1; i < array.cardinality; ++i) {
    if (array.array[i] <= array.array[i - 1]) return false;
  }
  return true;
}

bool BitsetValid(const bitset_container_t& bitset) {
  int32_t count = 0;
  for (int32_t i = 0; i < kBitsetWords; ++i) count += std::popcount(bitset.array[i]);
  return count > 0 && count == bitset.cardinality;
}

// Runs [value, value + length], in order, apart, inside the container's 64Ki values.
bool RunsValid(const run_container_t& runs) {
  if (runs.n_runs <= 0) return false;
  int64_t next = 0;  // the smallest value the next run may start at
  for (int32_t i = 0; i < runs.n_runs; ++i) {
    const int64_t start = runs.runs[i].value;
    const int64_t last = start + runs.runs[i].length;
    if (start < next || last > 0xFFFF) return false;
    next = last + 1;
  }
  return true;
}

// Keys in increasing order, and every container consistent with its cardinality.
bool ContainersValid(const roaring_bitmap_t& bitmap) {
  const roaring_array_t& containers = bitmap.high_low_container;
  for (int32_t i = 0; i < containers.size; ++i) {
    if (i > 0 && containers.keys[i] <= containers.keys[i - 1]) return false;
    const void* container = containers.containers[i];
    switch (containers.typecodes[i]) {
      case ARRAY_CONTAINER_TYPE_CODE:
        if (!ArrayValid(*static_cast<const array_container_t*>(container))) return false;
        break;
      case BITSET_CONTAINER_TYPE_CODE:
        if (!BitsetValid(*static_cast<const bitset_container_t*>(container))) return false;
        break;
      case RUN_CONTAINER_TYPE_CODE:
        if (!RunsValid(*static_cast<const run_container_t*>(container))) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

arrow::Result<Roaring> ReadRowBitmap(std::string_view bytes) {
  // The C call: Roaring::readSafe throws on malformed bytes.
  roaring_bitmap_t* read = roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size());
  if (read == nullptr) return arrow::Status::Invalid("the bytes are not a portable Roaring bitmap");
  Roaring rows(read);
  if (!ContainersValid(rows.roaring)) {
    return arrow::Status::Invalid(
        "the Roaring bitmap's containers disagree with their counts (values out of order, a "
        "wrong cardinality or a run past its range)");
  }
  if (const size_t size = rows.getSizeInBytes(/*portable=*/true); size != bytes.size()) {
    return arrow::Status::Invalid(bytes.size() - size, " bytes follow the Roaring bitmap of ", size,
                                  " bytes");
  }
  return rows;
}

}  // namespace arbalest
