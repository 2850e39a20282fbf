#include "graph/edge_file.h"

#include <arrow/array.h>
#include <arrow/builder.h>

#include "graph/edge_batch.h"
#include "persist/file_sync.h"
#include "persist/parquet_file.h"

namespace arbalest {
namespace {

constexpr int64_t kRowGroupEdges = int64_t{1} << 20;
constexpr int64_t kBatchEdges = int64_t{1} << 16;

// Edges [begin, end) of `cut` as a canonical batch.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CutBatch(const EdgeCut& cut, int64_t begin,
                                                            int64_t end) {
  arrow::Int64Builder subjects, objects;
  arrow::StringBuilder predicates;
  arrow::FloatBuilder weights;
  for (int64_t i = begin; i < end; ++i) {
    const Edge& edge = cut.at(i);
    ARROW_RETURN_NOT_OK(subjects.Append(edge.subject));
    ARROW_RETURN_NOT_OK(objects.Append(edge.object));
    ARROW_RETURN_NOT_OK(predicates.Append((*cut.predicates)[edge.predicate]));
    ARROW_RETURN_NOT_OK(weights.Append(edge.weight));
  }
  std::shared_ptr<arrow::Array> s, p, o, w;
  ARROW_RETURN_NOT_OK(subjects.Finish(&s));
  ARROW_RETURN_NOT_OK(predicates.Finish(&p));
  ARROW_RETURN_NOT_OK(objects.Finish(&o));
  ARROW_RETURN_NOT_OK(weights.Finish(&w));
  return arrow::RecordBatch::Make(EdgeSchema(), end - begin, {s, p, o, w});
}

}  // namespace

arrow::Status WriteEdgeFile(const EdgeCut& cut, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto writer, ParquetBatchWriter::Open(path, EdgeSchema(), kRowGroupEdges));
  for (int64_t begin = 0; begin < cut.count; begin += kBatchEdges) {
    ARROW_ASSIGN_OR_RAISE(auto batch,
                          CutBatch(cut, begin, std::min(cut.count, begin + kBatchEdges)));
    ARROW_RETURN_NOT_OK(writer->Write(*batch));
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  return SyncFile(path);
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadEdgeFile(
    const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(ParquetBatches file, ReadParquetBatches(path, EdgeSchema()));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(file.reader->ReadNext(&batch));
    if (!batch) break;
    if (batch->num_rows() > 0) batches.push_back(std::move(batch));
  }
  return batches;
}

}  // namespace arbalest
