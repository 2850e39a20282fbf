#include "flight/log_sink.h"

#include <filesystem>
#include <system_error>

#include "persist/wal_format.h"
#include "store/value_checks.h"

namespace arbalest {

class LogSink::Stream : public PutSink {
 public:
  Stream(LogSink& sink, std::string dataset) : sink_(sink), dataset_(std::move(dataset)) {}

  arrow::Result<Json> Append(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::RecordBatch> checked, CheckClientBatch(batch));
    const int64_t first_row = sink_.logged_rows_.fetch_add(checked->num_rows());
    ARROW_ASSIGN_OR_RAISE(WalPayload payload, EncodeAppend(dataset_, *checked, first_row));
    ARROW_ASSIGN_OR_RAISE(const uint64_t lsn, sink_.wal_->Append(std::move(payload)));
    ++batches_;
    return Json{{"status", "acked"}, {"rows", checked->num_rows()}, {"seq", lsn}};
  }

  arrow::Status Finish(const arrow::Schema&) override { return arrow::Status::OK(); }

  int64_t batches() const override { return batches_; }

 private:
  LogSink& sink_;
  const std::string dataset_;
  int64_t batches_ = 0;
};

arrow::Result<std::shared_ptr<LogSink>> LogSink::Open(WalOptions options) {
  std::error_code error;
  std::filesystem::remove_all(options.dir, error);
  if (error) {
    return arrow::Status::IOError("--log-sink: cannot clear ", options.dir, ": ", error.message());
  }
  ARROW_ASSIGN_OR_RAISE(auto wal, WalWriter::Open(std::move(options), /*next_lsn=*/1));
  return std::shared_ptr<LogSink>(new LogSink(std::move(wal)));
}

std::unique_ptr<PutSink> LogSink::OpenStream(std::string dataset) {
  return std::make_unique<Stream>(*this, std::move(dataset));
}

}  // namespace arbalest
