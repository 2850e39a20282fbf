// Record batches to and from Parquet files, as snapshots store a dataset's rows: zstd pages,
// no dictionary encoding (vectors never repeat, and plain pages decode fastest), row groups
// sized by the caller, and the Arrow schema stored in the file.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <string>

namespace arrow::io {
class OutputStream;
}
namespace parquet::arrow {
class FileWriter;
}

namespace arbalest {

// Not thread-safe.
class ParquetBatchWriter {
 public:
  // Creates `path` for batches of `schema`; a row group is cut every `row_group_rows` rows.
  // IOError names the file.
  static arrow::Result<std::unique_ptr<ParquetBatchWriter>> Open(
      const std::string& path, const std::shared_ptr<arrow::Schema>& schema,
      int64_t row_group_rows);
  ~ParquetBatchWriter();

  // Appends `batch`, whose schema must be the file's.
  arrow::Status Write(const arrow::RecordBatch& batch);
  // Writes the footer and closes the file. Must be called for the file to be readable.
  arrow::Status Close();

 private:
  ParquetBatchWriter(std::string path, std::shared_ptr<arrow::io::OutputStream> sink,
                     std::unique_ptr<parquet::arrow::FileWriter> writer);

  const std::string path_;
  std::shared_ptr<arrow::io::OutputStream> sink_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
};

struct ParquetBatches {
  std::shared_ptr<arrow::RecordBatchReader> reader;  // one batch per row group
  int64_t num_rows = 0;                              // from the footer
};

// Opens a file written by ParquetBatchWriter, reading its batches under `schema` (the schema
// the file was written with: Parquet does not keep every detail, such as the name of a list's
// item field). IOError when the file cannot be read; Invalid, naming the file and the column,
// when it is not Parquet or its columns do not match `schema`.
arrow::Result<ParquetBatches> ReadParquetBatches(const std::string& path,
                                                 const std::shared_ptr<arrow::Schema>& schema);

}  // namespace arbalest
