// The WAL reader and replay (persist/wal_reader.h, DecodePayload, store/recovery.h): an input
// describes a directory of segment files (wal_input.h), written to disk and recovered into an
// empty store as a restart does; every dataset recovered is then scanned to the end. Every
// input must end in a recovered store or an error Status, never a crash.
#include <arrow/record_batch.h>

#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "store/recovery.h"
#include "store/scan.h"
#include "store/vector_store.h"
#include "wal_input.h"

namespace arbalest::fuzz {
namespace {

arrow::Status Recover(const std::string& wal_dir, bool skip_corrupt) {
  VectorStore store(/*max_memory_bytes=*/int64_t{256} << 20);
  RecoveryOptions options{wal_dir, "", WalReadOptions{skip_corrupt}};
  ARROW_RETURN_NOT_OK(arbalest::Recover(store, options).status());
  for (const auto& dataset : store.List()) {
    ARROW_ASSIGN_OR_RAISE(auto reader, ScanSnapshot(dataset->Snapshot(), {}));
    ARROW_RETURN_NOT_OK(reader->ToTable().status());
  }
  return arrow::Status::OK();
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("wal");
  scratch.Clear();
  const uint8_t options = arbalest::fuzz::WriteWalDirectory(data, size, scratch.path().string());
  (void)arbalest::fuzz::Recover(scratch.path().string(),
                                (options & arbalest::fuzz::kSkipCorruptOption) != 0);
  return 0;
}
