#include "cluster/put_stream.h"

#include <arrow/flight/types.h>
#include <arrow/status.h>

#include <utility>
#include <vector>

#include "cluster/put_streams.h"

namespace arbalest {

namespace fl = arrow::flight;

arrow::Result<std::unique_ptr<PutStream>> PutStream::Open(
    std::shared_ptr<fl::internal::ClientTransport> transport, const fl::FlightCallOptions& call,
    const std::string& command, const std::shared_ptr<arrow::Schema>& schema, std::string address) {
  ARROW_ASSIGN_OR_RAISE(auto put, PutCall::Open(std::move(transport), call,
                                                fl::FlightDescriptor::Command(command), schema));
  std::unique_ptr<PutStream> stream(new PutStream(std::move(put), std::move(address)));
  stream->writer_thread_ = std::thread([raw = stream.get()] { raw->WriteLoop(); });
  stream->reader_thread_ = std::thread([raw = stream.get()] { raw->ReadLoop(); });
  return stream;
}

PutStream::PutStream(std::unique_ptr<PutCall> call, std::string address)
    : address_(std::move(address)), call_(std::move(call)) {}

PutStream::~PutStream() { Close(); }

std::optional<arrow::Result<Json>> PutStream::Send(const ShardPutHop& hop,
                                                   const std::shared_ptr<arrow::RecordBatch>& batch,
                                                   std::chrono::milliseconds timeout) {
  std::future<arrow::Result<Json>> answer;
  int64_t seq = 0;
  {
    MutexLock lock(&mutex_);
    if (ended_ || unusable_ || closing_) return std::nullopt;
    seq = next_seq_++;
    Json metadata = hop.FieldsJson();
    metadata["seq"] = seq;
    answer = waiting_[seq].get_future();
    queue_.push_back(Queued{seq, JsonBuffer(metadata), batch});
    last_used_ = Clock::now();
    queue_changed_.SignalAll();
  }
  if (answer.wait_for(timeout) == std::future_status::ready) return answer.get();
  {
    MutexLock lock(&mutex_);
    unusable_ = true;  // a peer this slow gets a fresh stream for the next slice
    if (waiting_.erase(seq) > 0) {
      return fl::MakeFlightError(fl::FlightStatusCode::TimedOut,
                                 "no answer from " + address_ + " on its put stream within " +
                                     std::to_string(timeout.count()) + " ms");
    }
  }
  return answer.get();  // answered meanwhile: the reader is setting it
}

bool PutStream::Usable(Clock::time_point now, std::chrono::milliseconds max_age) const {
  MutexLock lock(&mutex_);
  return !ended_ && !unusable_ && !closing_ && now - opened_ < max_age;
}

bool PutStream::broken() const {
  MutexLock lock(&mutex_);
  return failed_ || unusable_;
}

int64_t PutStream::outstanding() const {
  MutexLock lock(&mutex_);
  return static_cast<int64_t>(waiting_.size());
}

PutStream::Clock::time_point PutStream::last_used() const {
  MutexLock lock(&mutex_);
  return last_used_;
}

arrow::Status PutStream::end_status() const {
  MutexLock lock(&mutex_);
  if (!ended_) return arrow::Status::OK();
  while (!end_) queue_changed_.Wait(&mutex_);
  return *end_;
}

void PutStream::WriteLoop() {
  while (true) {
    Queued next;
    {
      MutexLock lock(&mutex_);
      while (queue_.empty() && !closing_ && !ended_ && !unusable_) queue_changed_.Wait(&mutex_);
      if (ended_ || queue_.empty()) break;  // the reader failed what waits; or closing
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    const arrow::Status written = call_->Write(*next.batch, next.metadata);
    if (!written.ok()) {
      // The call ended (the peer's own status comes to the reader) or the batch could not be
      // written: no more slices; the peer answers what it got once this side is done.
      MutexLock lock(&mutex_);
      unusable_ = true;
      queue_.clear();  // their slices still wait: the reader fails them at the end
      break;
    }
  }
  ARROW_UNUSED(call_->DoneWriting());
  MutexLock lock(&mutex_);
  writer_done_ = true;
  queue_changed_.SignalAll();
}

void PutStream::ReadLoop() {
  arrow::Status end;
  bool answered_all = false;  // the stream ended without an error of its own
  while (true) {
    std::shared_ptr<arrow::Buffer> metadata;
    const arrow::Status read = call_->ReadMetadata(&metadata);
    if (!read.ok()) {
      const std::string message = "the put stream to " + address_ + " broke: " + read.message();
      // A call the peer's shutdown cancelled: the peer is going away.
      const auto detail = fl::FlightStatusDetail::UnwrapStatus(read);
      const bool cancelled =
          read.IsCancelled() || (detail && detail->code() == fl::FlightStatusCode::Cancelled);
      end = cancelled ? fl::MakeFlightError(fl::FlightStatusCode::Unavailable, message)
                      : read.WithMessage(message);
      break;
    }
    if (!metadata) {
      answered_all = true;
      end = fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                "the put stream to " + address_ + " ended before answering");
      break;
    }
    auto parsed = ParseJson(metadata->ToString(), "a put stream's answer");
    auto answer = parsed.ok()
                      ? ParseSliceAnswer(*parsed)
                      : arrow::Result<std::pair<int64_t, arrow::Result<Json>>>(parsed.status());
    if (!answer.ok()) {
      end = fl::MakeFlightError(
          fl::FlightStatusCode::Unavailable,
          "the put stream to " + address_ +
              " answered what is not a slice's answer: " + answer.status().message());
      break;
    }
    std::promise<arrow::Result<Json>> waiter;
    {
      MutexLock lock(&mutex_);
      auto it = waiting_.find(answer->first);
      if (it == waiting_.end()) continue;  // its slice timed out
      waiter = std::move(it->second);
      waiting_.erase(it);
    }
    waiter.set_value(std::move(answer->second));
  }
  // The call is over: once the writer thread is done with it, its final status is the peer's
  // word on why (a stream it refused ends without an answer, its error comes with the end).
  {
    MutexLock lock(&mutex_);
    ended_ = true;
    queue_changed_.SignalAll();
    while (!writer_done_) queue_changed_.Wait(&mutex_);
  }
  const arrow::Status finished = call_->Finish();
  if (!finished.ok() && answered_all) {
    end = finished.WithMessage("the put stream to " + address_ + " ended: " + finished.message());
  }
  FailAll(end);
}

void PutStream::FailAll(const arrow::Status& status) {
  std::map<int64_t, std::promise<arrow::Result<Json>>> waiting;
  {
    MutexLock lock(&mutex_);
    ended_ = true;
    end_ = status;
    waiting.swap(waiting_);
    failed_ = failed_ || !closing_ || !waiting.empty();
    queue_.clear();
    queue_changed_.SignalAll();
  }
  for (auto& [seq, waiter] : waiting) waiter.set_value(status);
}

void PutStream::Close(std::chrono::milliseconds wait) {
  StartClose();
  FinishClose(Clock::now() + wait);
}

void PutStream::StartClose() {
  if (closed_) return;
  closed_ = true;
  MutexLock lock(&mutex_);
  closing_ = true;
  queue_changed_.SignalAll();
}

void PutStream::FinishClose(Clock::time_point deadline) {
  {
    MutexLock lock(&mutex_);
    // The peer ends the call once it has answered what it got; one that does not by
    // `deadline` is hung (or gone without a word): the call is cancelled, which ends both
    // threads' blocked reads and writes at once.
    while (!end_ && queue_changed_.WaitUntil(&mutex_, deadline)) {
    }
    if (!end_) {
      cancelled_ = true;
      call_->Cancel();
    }
  }
  if (writer_thread_.joinable()) writer_thread_.join();
  if (reader_thread_.joinable()) reader_thread_.join();  // it finished the call
}

bool PutStream::cancelled() const {
  MutexLock lock(&mutex_);
  return cancelled_;
}

}  // namespace arbalest
