#include "doc_batches.h"

#include <arrow/util/key_value_metadata.h>
#include <arrow/util/logging.h>

namespace arbalest::testing {

std::shared_ptr<arrow::RecordBatch> DocBatch(
    int64_t first_id, const std::vector<Doc>& docs,
    std::shared_ptr<const arrow::KeyValueMetadata> metadata) {
  const int32_t dim = static_cast<int32_t>(docs.at(0).vector.size());
  arrow::Int64Builder ids;
  arrow::FloatBuilder values;
  arrow::StringBuilder bodies;
  arrow::Int32Builder groups;
  for (size_t i = 0; i < docs.size(); ++i) {
    ARROW_CHECK_OK(ids.Append(first_id + static_cast<int64_t>(i)));
    ARROW_CHECK_OK(values.AppendValues(docs[i].vector));
    ARROW_CHECK_OK(docs[i].body ? bodies.Append(*docs[i].body) : bodies.AppendNull());
    ARROW_CHECK_OK(groups.Append(docs[i].group));
  }
  auto vector_type = arrow::fixed_size_list(arrow::float32(), dim);
  auto vectors =
      arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(), vector_type).ValueOrDie();
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("vector", vector_type),
                     arrow::field("body", arrow::utf8()), arrow::field("group", arrow::int32())},
                    std::move(metadata));
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(docs.size()),
                                  {ids.Finish().ValueOrDie(), vectors, bodies.Finish().ValueOrDie(),
                                   groups.Finish().ValueOrDie()});
}

std::shared_ptr<const arrow::KeyValueMetadata> TextColumnsMetadata(const std::string& columns) {
  return arrow::key_value_metadata({"longbow.text.columns"}, {columns});
}

}  // namespace arbalest::testing
