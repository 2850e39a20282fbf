// Reading the write-ahead log back at startup, and checking that none of it is missing.
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace arbalest {

struct WalReadOptions {
  // Go on past damage instead of failing (--wal-skip-corrupt): a record whose header is intact
  // but whose payload fails its checksum is skipped; a corrupt header ends its segment; LSNs
  // missing from the log are logged as lost.
  bool skip_corrupt = false;
};

struct WalReadResult {
  uint64_t records = 0;
  uint64_t last_lsn = 0;         // highest LSN read (corrupt records included); 0: none
  uint64_t next_lsn = 1;         // where the log continues (after its end, or where sealed)
  int64_t truncated_bytes = 0;   // torn tail cut from the last segment
  uint64_t skipped_corrupt = 0;  // records or segment tails skipped (skip_corrupt only)
  uint64_t gaps = 0;             // runs of missing LSNs gone past (skip_corrupt only)
};

using WalVisitor = std::function<arrow::Status(uint64_t lsn, std::shared_ptr<arrow::Buffer>)>;

// Calls `visit` for every record of the log in `dir`, in LSN order, holding one record in
// memory at a time. A torn tail of the last segment is truncated with a warning: a record cut
// short by a crash, zeros past the last record, or a last record whose payload fails its
// checksum and has a 512-byte-aligned block of zeros (an unwritten block reads back as zeros).
// Any other damage fails with IOError naming the file, the byte offset and what is wrong, and
// so does any LSN missing from the log (wal_format.h, "LSN continuity": a gap between
// segments, a first segment that starts after LOG_START, a sealed last segment), naming the
// LSNs and the files around them; unless options.skip_corrupt. A visitor error stops the read
// and is returned.
arrow::Result<WalReadResult> ReadWal(const std::string& dir, const WalReadOptions& options,
                                     const WalVisitor& visit);

// Whether the segment file at `path` ends with a seal (its last whole record is one).
arrow::Result<bool> WalSegmentIsSealed(const std::string& path);

}  // namespace arbalest
