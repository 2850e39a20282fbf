// The snapshot manifest reader (persist/snapshot_format.h ReadManifest): an input is the text
// of a MANIFEST.json, written into a snapshot directory and read back; a manifest that reads
// has its files checked as recovery checks them (here they are missing: an IOError). Every
// input must end in a manifest or an error Status, never a crash.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "persist/snapshot_format.h"

namespace arbalest::fuzz {
namespace {

arrow::Status ReadSnapshotManifest(const std::string& dir) {
  ARROW_ASSIGN_OR_RAISE(SnapshotManifest manifest, ReadManifest(dir));
  if (manifest.data) (void)VerifySnapshotFile(dir, *manifest.data);
  for (const RowFile& row_file : manifest.row_files) (void)VerifySnapshotFile(dir, row_file.file);
  for (const SegmentGraphFile& segment : GraphSegments(manifest)) {
    (void)VerifySnapshotFile(dir, segment.graph);
    if (segment.deleted) (void)VerifySnapshotFile(dir, *segment.deleted);  // version 5
  }
  if (manifest.tombstones) (void)VerifySnapshotFile(dir, *manifest.tombstones);
  return arrow::Status::OK();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("manifest");
  arbalest::fuzz::WriteFile(scratch / arbalest::kManifestFile, data, size);
  (void)arbalest::fuzz::ReadSnapshotManifest(scratch.path().string());
  return 0;
}
