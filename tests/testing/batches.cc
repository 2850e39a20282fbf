#include "testing/batches.h"

#include <arrow/compute/api.h>
#include <arrow/util/logging.h>

namespace arbalest::testing {

std::shared_ptr<arrow::RecordBatch> MakeVectorBatch(int64_t first_id, int64_t rows, int32_t dim) {
  arrow::Int64Builder ids;
  arrow::StringBuilder tags;
  arrow::DoubleBuilder scores;
  arrow::FloatBuilder values;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t id = first_id + i;
    ARROW_CHECK_OK(ids.Append(id));
    ARROW_CHECK_OK(tags.Append("tag" + std::to_string(id % 3)));
    ARROW_CHECK_OK(scores.Append(static_cast<double>(id) / 2.0));
    for (int32_t j = 0; j < dim; ++j) {
      ARROW_CHECK_OK(values.Append(static_cast<float>(id) + static_cast<float>(j) / 1000.0f));
    }
  }
  auto vector_type = arrow::fixed_size_list(arrow::float32(), dim);
  auto vectors =
      arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(), vector_type).ValueOrDie();
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("vector", vector_type),
                     arrow::field("tag", arrow::utf8()), arrow::field("score", arrow::float64())});
  return arrow::RecordBatch::Make(schema, rows,
                                  {ids.Finish().ValueOrDie(), vectors, tags.Finish().ValueOrDie(),
                                   scores.Finish().ValueOrDie()});
}

std::shared_ptr<arrow::RecordBatch> WithoutIds(const std::shared_ptr<arrow::RecordBatch>& batch) {
  return batch->RemoveColumn(batch->schema()->GetFieldIndex("id")).ValueOrDie();
}

std::shared_ptr<arrow::Array> ConstantVectors(const std::shared_ptr<arrow::DataType>& type,
                                              int64_t rows, int32_t dim, double value) {
  auto scalar = arrow::MakeScalar(arrow::float64(), value).ValueOrDie();
  auto doubles = arrow::MakeArrayFromScalar(*scalar, rows * dim).ValueOrDie();
  auto values = arrow::compute::Cast(*doubles, type).ValueOrDie();
  return arrow::FixedSizeListArray::FromArrays(values, arrow::fixed_size_list(type, dim))
      .ValueOrDie();
}

}  // namespace arbalest::testing
