// The reader of a scan answered by several members: each part's batches in turn (this node's
// first), at most `limit` rows in all, every batch under one schema (the first part's, with
// the missing members in its metadata). Parts are read as the client reads, one batch at a time.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <optional>
#include <vector>

namespace arbalest {

struct ScanPart {
  std::shared_ptr<arrow::RecordBatchReader> reader;
  std::shared_ptr<void> keep_alive;  // what the reader needs (a peer's Flight client)
};

class ChainedScanReader final : public arrow::RecordBatchReader {
 public:
  // `parts` must have `schema`'s columns (its metadata aside).
  ChainedScanReader(std::shared_ptr<arrow::Schema> schema, std::vector<ScanPart> parts,
                    std::optional<int64_t> limit)
      : schema_(std::move(schema)), parts_(std::move(parts)), remaining_(limit) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override;

 private:
  const std::shared_ptr<arrow::Schema> schema_;
  std::vector<ScanPart> parts_;
  size_t next_part_ = 0;
  std::optional<int64_t> remaining_;  // rows still allowed; unset: no limit
};

}  // namespace arbalest
