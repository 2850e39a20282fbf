// Server-assigned ids for the rows of sharded datasets put without an `id` column
// (docs/cluster.md, "Server-assigned ids"). A node takes blocks of 2^32 ids from a counter in
// etcd (/<cluster>/id_block, bumped by a transaction that compares on the key's revision, so
// two nodes never take the same block), and numbers rows from its current block without asking
// anyone else: id = block << 32 | offset. One etcd transaction per 4 billion rows (and one per
// node start: a block is never reused, even partly), no coordination per put. The router then
// sends each row to the shard its id hashes to (ShardsOfIds), exactly as for a client's ids, so
// an assigned id "carries" its shard: a delete or a lookup by that id finds the shard by the
// same hash.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/etcd_client.h"
#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class IdBlocks {
 public:
  static constexpr int kOffsetBits = 32;
  static constexpr uint64_t kBlockSize = uint64_t{1} << kOffsetBits;

  IdBlocks(std::vector<std::string> etcd_endpoints, std::chrono::milliseconds etcd_timeout,
           etcd::ClientTls etcd_tls, const std::string& cluster)
      : etcd_(std::move(etcd_endpoints), etcd_timeout, std::move(etcd_tls)),
        key_("/" + cluster + "/id_block") {}

  // The first of `count` consecutive ids (1 to kBlockSize) no node of the cluster handed out
  // before. UNAVAILABLE-worthy IOError when a new block is needed and etcd does not answer.
  arrow::Result<uint64_t> Take(int64_t count);

 private:
  // A block number no node took before (1, 2, ...), taken in etcd.
  arrow::Result<uint64_t> NewBlock();

  etcd::Client etcd_;
  const std::string key_;
  Mutex mutex_;
  uint64_t next_ GUARDED_BY(mutex_) = 0;  // the next id of the current block
  uint64_t end_ GUARDED_BY(mutex_) = 0;   // one past the current block's last id (0: none yet)
};

}  // namespace arbalest
