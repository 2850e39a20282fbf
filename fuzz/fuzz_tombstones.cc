// The snapshot tombstones reader (persist/snapshot_format.h ReadTombstones): an input is the
// content of a tombstones.roaring file; a bitmap that reads is then used the way a restored
// dataset uses its deleted rows (store/tombstones.h: counts over row ranges, a delete added,
// the deleted rows dropped from a batch) and written back. Every input must end in a bitmap
// or an error Status, never a crash.
#include <arrow/api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "persist/snapshot_format.h"
#include "store/tombstones.h"

namespace arbalest::fuzz {
namespace {

// A batch of rows [first_row, first_row + 64) of a one-column dataset.
std::shared_ptr<arrow::RecordBatch> RowBatch() {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < 64; ++i) (void)builder.Append(i);
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::int64())}), 64,
                                  {builder.Finish().ValueOrDie()});
}

arrow::Status UseTombstones(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(Roaring rows, ReadTombstones(path));
  const int64_t last = rows.isEmpty() ? 0 : static_cast<int64_t>(rows.maximum());
  const TombstoneSet deleted(rows);
  if (deleted.CountIn(0, last + 1) != deleted.size()) __builtin_trap();
  auto more = deleted.With(Roaring::bitmapOf(3, 0, 63, 1u << 20));
  static const auto batch = RowBatch();
  for (int64_t first_row : {int64_t{0}, last - 32, last}) {
    if (first_row < 0) continue;
    ARROW_ASSIGN_OR_RAISE(auto kept, more->DropDeleted(batch, first_row));
    if (kept->num_rows() != 64 - static_cast<int64_t>(more->CountIn(first_row, first_row + 64))) {
      __builtin_trap();
    }
  }
  std::string bytes(rows.getSizeInBytes(/*portable=*/true), '\0');
  rows.write(bytes.data(), /*portable=*/true);
  return arrow::Status::OK();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("tombstones");
  const std::string path = scratch / arbalest::kSnapshotTombstonesFile;
  arbalest::fuzz::WriteFile(path, data, size);
  (void)arbalest::fuzz::UseTombstones(path);
  return 0;
}
