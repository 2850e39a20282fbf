#include "persist/parquet_file.h"

#include <arrow/array.h>
#include <arrow/io/file.h>
#include <arrow/status.h>
#include <arrow/type.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/properties.h>

#include <algorithm>

namespace arbalest {
namespace {

// Gives the batches of a Parquet reader the exact types of `schema` (zero-copy views).
class RetypingReader : public arrow::RecordBatchReader {
 public:
  RetypingReader(std::string path, std::shared_ptr<arrow::Schema> schema,
                 std::unique_ptr<parquet::arrow::FileReader> file,
                 std::unique_ptr<arrow::RecordBatchReader> source)
      : path_(std::move(path)),
        schema_(std::move(schema)),
        file_(std::move(file)),
        source_(std::move(source)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::shared_ptr<arrow::RecordBatch> batch;
    if (arrow::Status status = source_->ReadNext(&batch); !status.ok()) {
      return status.WithMessage("cannot read ", path_, ": ", status.message());
    }
    if (!batch) {
      out->reset();
      return arrow::Status::OK();
    }
    arrow::ArrayVector columns = batch->columns();
    for (int i = 0; i < schema_->num_fields(); ++i) {
      const auto& type = schema_->field(i)->type();
      if (columns[i]->type()->Equals(*type)) continue;
      auto view = columns[i]->View(type);
      if (!view.ok()) {
        return arrow::Status::Invalid(
            "Parquet file ", path_, ": column '", schema_->field(i)->name(), "' holds ",
            columns[i]->type()->ToString(), ", expected ", type->ToString());
      }
      columns[i] = std::move(*view);
    }
    *out = arrow::RecordBatch::Make(schema_, batch->num_rows(), std::move(columns));
    return arrow::Status::OK();
  }

 private:
  const std::string path_;
  const std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<parquet::arrow::FileReader> file_;  // outlives source_, which reads from it
  std::unique_ptr<arrow::RecordBatchReader> source_;
};

}  // namespace

ParquetBatchWriter::ParquetBatchWriter(std::string path,
                                       std::shared_ptr<arrow::io::OutputStream> sink,
                                       std::unique_ptr<parquet::arrow::FileWriter> writer)
    : path_(std::move(path)), sink_(std::move(sink)), writer_(std::move(writer)) {}

ParquetBatchWriter::~ParquetBatchWriter() = default;

arrow::Result<std::unique_ptr<ParquetBatchWriter>> ParquetBatchWriter::Open(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, int64_t row_group_rows) {
  auto sink = arrow::io::FileOutputStream::Open(path);
  if (!sink.ok())
    return sink.status().WithMessage("cannot create ", path, ": ", sink.status().message());
  auto properties = parquet::WriterProperties::Builder()
                        .compression(parquet::Compression::ZSTD)
                        ->disable_dictionary()
                        ->max_row_group_length(std::max<int64_t>(row_group_rows, 1))
                        ->build();
  auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  auto writer = parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), *sink,
                                                 properties, arrow_properties);
  if (!writer.ok()) {
    return writer.status().WithMessage("cannot write Parquet file ", path, ": ",
                                       writer.status().message());
  }
  return std::unique_ptr<ParquetBatchWriter>(
      new ParquetBatchWriter(path, std::move(*sink), std::move(*writer)));
}

arrow::Status ParquetBatchWriter::Write(const arrow::RecordBatch& batch) {
  arrow::Status status = writer_->WriteRecordBatch(batch);
  if (!status.ok()) return status.WithMessage("cannot write ", path_, ": ", status.message());
  return arrow::Status::OK();
}

arrow::Status ParquetBatchWriter::Close() {
  arrow::Status status = writer_->Close();
  if (status.ok()) status = sink_->Close();
  if (!status.ok()) return status.WithMessage("cannot write ", path_, ": ", status.message());
  return arrow::Status::OK();
}

arrow::Result<ParquetBatches> ReadParquetBatches(const std::string& path,
                                                 const std::shared_ptr<arrow::Schema>& schema) {
  auto file = arrow::io::ReadableFile::Open(path);
  if (!file.ok())
    return file.status().WithMessage("cannot open ", path, ": ", file.status().message());
  std::unique_ptr<parquet::ParquetFileReader> parquet_reader;
  try {
    parquet_reader = parquet::ParquetFileReader::Open(*file);
  } catch (const parquet::ParquetException& e) {
    return arrow::Status::Invalid("Parquet file ", path, " is unreadable: ", e.what());
  }
  const auto metadata = parquet_reader->metadata();
  int64_t largest_group = 1;
  for (int i = 0; i < metadata->num_row_groups(); ++i) {
    largest_group = std::max(largest_group, metadata->RowGroup(i)->num_rows());
  }
  parquet::ArrowReaderProperties properties;
  properties.set_batch_size(largest_group);
  properties.set_pre_buffer(true);
  properties.set_use_threads(true);
  auto reader = parquet::arrow::FileReader::Make(arrow::default_memory_pool(),
                                                 std::move(parquet_reader), properties);
  if (!reader.ok()) {
    return arrow::Status::Invalid("Parquet file ", path,
                                  " is unreadable: ", reader.status().message());
  }
  std::shared_ptr<arrow::Schema> file_schema;
  ARROW_RETURN_NOT_OK((*reader)->GetSchema(&file_schema));
  if (file_schema->num_fields() != schema->num_fields()) {
    return arrow::Status::Invalid("Parquet file ", path, " has ", file_schema->num_fields(),
                                  " columns, expected ", schema->num_fields());
  }
  for (int i = 0; i < schema->num_fields(); ++i) {
    if (file_schema->field(i)->name() != schema->field(i)->name()) {
      return arrow::Status::Invalid("Parquet file ", path, ": column ", i, " is '",
                                    file_schema->field(i)->name(), "', expected '",
                                    schema->field(i)->name(), "'");
    }
  }
  auto batches = (*reader)->GetRecordBatchReader();
  if (!batches.ok()) {
    return arrow::Status::Invalid("Parquet file ", path,
                                  " is unreadable: ", batches.status().message());
  }
  return ParquetBatches{
      std::make_shared<RetypingReader>(path, schema, std::move(*reader), std::move(*batches)),
      metadata->num_rows()};
}

}  // namespace arbalest
