#include "cluster/id_blocks.h"

#include <arrow/status.h>

#include <charconv>
#include <limits>

namespace arbalest {

arrow::Result<uint64_t> IdBlocks::NewBlock() {
  // Racing nodes: the one whose compare holds wins, the others read the counter again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    ARROW_ASSIGN_OR_RAISE(etcd::RangeReply reply, etcd_.Range(key_));
    uint64_t taken = 0;
    int64_t revision = 0;
    if (!reply.kvs.empty()) {
      const std::string& value = reply.kvs.front().value;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), taken);
      if (error != std::errc() || end != value.data() + value.size()) {
        return arrow::Status::IOError("etcd key ", key_, " holds '", value,
                                      "', not a block number");
      }
      revision = reply.kvs.front().mod_revision;
    }
    if (taken + 1 >= (std::numeric_limits<uint64_t>::max() >> kOffsetBits)) {
      return arrow::Status::CapacityError("every block of server-assigned ids is taken (", key_,
                                          " = ", taken, ")");
    }
    const uint64_t block = taken + 1;
    ARROW_ASSIGN_OR_RAISE(bool stored, etcd_.PutIf(key_, std::to_string(block), revision));
    if (stored) return block;
  }
  return arrow::Status::IOError("could not take a block of ids from etcd (", key_,
                                "): 100 other nodes came first");
}

arrow::Result<uint64_t> IdBlocks::Take(int64_t count) {
  if (count <= 0 || static_cast<uint64_t>(count) > kBlockSize) {
    return arrow::Status::Invalid("cannot assign ", count, " ids at once (1 to ", kBlockSize, ")");
  }
  MutexLock lock(&mutex_);
  if (end_ - next_ < static_cast<uint64_t>(count)) {
    ARROW_ASSIGN_OR_RAISE(uint64_t block, NewBlock());
    next_ = block << kOffsetBits;
    end_ = next_ + kBlockSize;
  }
  const uint64_t first = next_;
  next_ += static_cast<uint64_t>(count);
  return first;
}

}  // namespace arbalest
