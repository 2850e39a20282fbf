// Reading the write-ahead log back at startup.
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace arbalest {

struct WalReadOptions {
  // Skip corrupt records instead of failing (--wal-skip-corrupt). A record whose header is
  // intact but whose payload fails its checksum is skipped; a corrupt header ends its segment.
  bool skip_corrupt = false;
};

struct WalReadResult {
  uint64_t records = 0;
  uint64_t last_lsn = 0;         // 0 when the log is empty
  int64_t truncated_bytes = 0;   // torn tail cut from the last segment
  uint64_t skipped_corrupt = 0;  // records or segment tails skipped (skip_corrupt only)
};

using WalVisitor = std::function<arrow::Status(uint64_t lsn, std::shared_ptr<arrow::Buffer>)>;

// Calls `visit` for every record of the log in `dir`, in LSN order, holding one record in
// memory at a time. A torn tail of the last segment (a record cut short by a crash, or zeros
// past the last record) is truncated with a warning. Any other damage fails with IOError
// naming the file, the byte offset and what is wrong, unless options.skip_corrupt. A visitor
// error stops the read and is returned.
arrow::Result<WalReadResult> ReadWal(const std::string& dir, const WalReadOptions& options,
                                     const WalVisitor& visit);

}  // namespace arbalest
