// One put stream to a peer (put_streams.h has the protocol and the pool): a DoPut that carries
// many slices, a writer thread that sends the queued slices in order and a reader thread that
// hands each answer to the slice waiting for it. Its call can be cancelled (put_call.h), so that
// closing a stream to a hung peer takes a bounded time.
#pragma once

#include <arrow/flight/client.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cluster/put_call.h"
#include "cluster/shard_put_hop.h"
#include "common/json_util.h"
#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class PutStream {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens the DoPut of `command` with `schema` to `address` on `transport` (PeerClients'),
  // with `call`'s headers and deadline.
  static arrow::Result<std::unique_ptr<PutStream>> Open(
      std::shared_ptr<arrow::flight::internal::ClientTransport> transport,
      const arrow::flight::FlightCallOptions& call, const std::string& command,
      const std::shared_ptr<arrow::Schema>& schema, std::string address);
  ~PutStream();  // Close()
  PutStream(const PutStream&) = delete;
  PutStream& operator=(const PutStream&) = delete;

  // Queues `batch` with `hop` and waits, at most `timeout`, for the peer's answer. Nullopt
  // when the stream takes no slice any more (nothing was sent: send it on another stream).
  // After a timeout the stream takes no more slices.
  std::optional<arrow::Result<Json>> Send(const ShardPutHop& hop,
                                          const std::shared_ptr<arrow::RecordBatch>& batch,
                                          std::chrono::milliseconds timeout);

  // Whether it takes slices: not broken, not timed out, not closing, not older than `max_age`.
  bool Usable(Clock::time_point now, std::chrono::milliseconds max_age) const;
  bool broken() const;
  int64_t outstanding() const;
  Clock::time_point last_used() const;
  const std::string& address() const { return address_; }
  // Why the call ended, once it has (waiting for its final status, which comes promptly once
  // the call is over); OK while it goes on.
  arrow::Status end_status() const;

  // Takes no more slices, sends those queued, ends the call once the peer answered them (or
  // the call failed), and waits for its threads. A peer that has not ended the call within
  // `wait` (hung: stopped, or too slow) has it cancelled: its waiting slices fail with
  // UNAVAILABLE, and Close returns at once after.
  void Close(std::chrono::milliseconds wait = std::chrono::milliseconds(1000));
  // Close in two halves, so that many streams close in one wait: StartClose takes no more
  // slices and lets the queued ones go; FinishClose waits for the call's end until `deadline`,
  // cancels it then, and joins the threads. Called once each, in that order, by one thread.
  void StartClose();
  void FinishClose(Clock::time_point deadline);
  // Whether Close had to cancel the call.
  bool cancelled() const;

 private:
  struct Queued {
    int64_t seq;
    std::shared_ptr<arrow::Buffer> metadata;
    std::shared_ptr<arrow::RecordBatch> batch;
  };

  PutStream(std::unique_ptr<PutCall> call, std::string address);
  void WriteLoop();
  void ReadLoop();
  // Fails every waiting slice with `status` (the stream ended).
  void FailAll(const arrow::Status& status);

  const std::string address_;
  const Clock::time_point opened_ = Clock::now();
  // Written by the writer thread, read by the reader thread, which finishes the call; Close
  // may cancel it.
  const std::unique_ptr<PutCall> call_;
  mutable Mutex mutex_;
  mutable CondVar queue_changed_;
  std::deque<Queued> queue_ GUARDED_BY(mutex_);
  std::map<int64_t, std::promise<arrow::Result<Json>>> waiting_ GUARDED_BY(mutex_);
  int64_t next_seq_ GUARDED_BY(mutex_) = 0;
  bool ended_ GUARDED_BY(mutex_) = false;     // the reader saw the call end
  bool unusable_ GUARDED_BY(mutex_) = false;  // a write failed, or a slice timed out
  bool closing_ GUARDED_BY(mutex_) = false;
  bool failed_ GUARDED_BY(mutex_) = false;       // ended with slices waiting, or not by Close
  bool writer_done_ GUARDED_BY(mutex_) = false;  // the writer thread is done writing
  bool cancelled_ GUARDED_BY(mutex_) = false;    // Close cancelled the call
  std::optional<arrow::Status> end_ GUARDED_BY(mutex_);  // set by FailAll
  Clock::time_point last_used_ GUARDED_BY(mutex_) = Clock::now();
  std::thread writer_thread_;
  std::thread reader_thread_;
  bool closed_ = false;  // StartClose's own (called by one thread: the pool's owner)
};

}  // namespace arbalest
