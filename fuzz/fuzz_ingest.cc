// The DoPut ingest path without the transport: an input is an Arrow IPC stream (what a Flight
// client's DoPut sends: a schema, then record batches), decoded and fed batch by batch through
// IngestStream (flight/ingest_stream.h) into a real store logging to a real WAL, as
// FlightService::DoPut does; the first error ends the stream, as it ends the call. The rows
// stored are then indexed, scanned and searched, and the WAL is replayed into a second store,
// which must hold every acked row: nothing acknowledged is ever lost. Every input must end in
// acks or an error Status, never a crash.
#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/record_batch.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "flight/ingest_stream.h"
#include "fuzz_util.h"
#include "persist/wal_writer.h"
#include "store/recovery.h"
#include "store/scan.h"
#include "store/search.h"
#include "store/vector_store.h"

namespace arbalest::fuzz {
namespace {

constexpr char kDataset[] = "fuzz";
constexpr int64_t kMaxMemory = int64_t{64} << 20;

arrow::Result<std::unique_ptr<VectorStore>> OpenStore(const std::string& wal_dir) {
  auto store = std::make_unique<VectorStore>(kMaxMemory);
  ARROW_ASSIGN_OR_RAISE(auto recovered, Recover(*store, {wal_dir, "", WalReadOptions{}}));
  WalOptions wal;
  wal.dir = wal_dir;
  wal.fsync = FsyncPolicy::kNone;  // a process crash is all the replay below stands for
  ARROW_ASSIGN_OR_RAISE(auto writer, WalWriter::Open(wal, recovered.next_lsn));
  store->AttachWal(std::move(writer));
  return store;
}

// DoPut's loop: the stream's schema, then each batch appended and acked until the first error.
// Returns the rows acked.
int64_t Put(VectorStore& store, const uint8_t* data, size_t size) {
  auto input = std::make_shared<arrow::io::BufferReader>(
      std::make_shared<arrow::Buffer>(data, static_cast<int64_t>(size)));
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input);
  if (!reader.ok()) return 0;
  IngestStream stream(store, kDataset, /*null_sink=*/false);
  int64_t acked = 0;
  while (true) {
    auto batch = (*reader)->Next();
    if (!batch.ok()) return acked;
    if (*batch == nullptr) break;
    auto ack = stream.Append(*batch);
    if (!ack.ok()) return acked;
    acked += (*ack)["rows"].get<int64_t>();
  }
  (void)stream.Finish(*(*reader)->schema());
  return acked;
}

// Rows indexed per input: enough for SQ8 training (longbow.index.training_rows may be small)
// and for searches to meet graph and unindexed rows both; more would spend the fuzzer's time
// building graphs.
constexpr int64_t kIndexedRows = 64;

// Indexes, scans and searches what was stored, as index workers and clients would.
arrow::Status Use(Dataset& dataset) {
  ARROW_RETURN_NOT_OK(
      dataset.CatchUpIndex(kIndexedRows, /*threads=*/1, [] { return false; }).status());
  ARROW_ASSIGN_OR_RAISE(auto reader, ScanSnapshot(dataset.Snapshot(), {}));
  ARROW_RETURN_NOT_OK(reader->ToTable().status());
  // A client sends its query vector; the harness makes one at the dataset's width, which a
  // schema-only put may declare as a billion (no row of it fits an input): past 64Ki
  // dimensions that would only measure the allocator.
  if (dataset.layout().vector.dim > 65536) return arrow::Status::OK();
  SearchRequest request;
  request.query.assign(static_cast<size_t>(dataset.layout().vector.dim), 0.5f);
  request.k = 3;
  ARROW_RETURN_NOT_OK(SearchDataset(dataset, request).status());
  request.text_query = "a";
  return SearchDataset(dataset, request).status();
}

// The stored rows of the dataset, or -1 when there is none.
int64_t StoredRows(const VectorStore& store) {
  auto dataset = store.Get(kDataset);
  return dataset.ok() ? (*dataset)->Snapshot().num_rows : -1;
}

void Ingest(const ScratchDir& scratch, const uint8_t* data, size_t size) {
  const std::string wal_dir = scratch / "wal";
  int64_t acked = 0;
  {
    auto store = OpenStore(wal_dir);
    if (!store.ok()) std::abort();
    acked = Put(**store, data, size);
    if (auto dataset = (*store)->Get(kDataset); dataset.ok()) (void)Use(**dataset);
  }
  auto replayed = OpenStore(wal_dir);
  if (!replayed.ok() || std::max<int64_t>(StoredRows(**replayed), 0) != acked) {
    std::fprintf(stderr, "fuzz_ingest: %lld rows acked, the WAL replays to %s\n",
                 static_cast<long long>(acked),
                 replayed.ok() ? std::to_string(StoredRows(**replayed)).c_str()
                               : replayed.status().ToString().c_str());
    std::abort();
  }
}

}  // namespace
}  // namespace arbalest::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbalest::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbalest::fuzz::ScratchDir scratch("ingest");
  scratch.Clear();
  arbalest::fuzz::Ingest(scratch, data, size);
  return 0;
}
