#include "store/dataset_text.h"

#include <arrow/array.h>
#include <arrow/status.h>
#include <arrow/util/key_value_metadata.h>

#include <algorithm>

#include "store/dataset_layout.h"

namespace arbalest {
namespace {

bool IsText(const arrow::DataType& type) {
  return type.id() == arrow::Type::STRING || type.id() == arrow::Type::LARGE_STRING;
}

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

// Row `row` of a utf8 or large_utf8 array; null is empty text.
std::string_view TextAt(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return {};
  if (array.type_id() == arrow::Type::LARGE_STRING) {
    return static_cast<const arrow::LargeStringArray&>(array).GetView(row);
  }
  return static_cast<const arrow::StringArray&>(array).GetView(row);
}

// The columns a `longbow.text.columns` value names.
arrow::Result<std::vector<int>> NamedTextColumns(const arrow::Schema& schema,
                                                 std::string_view list) {
  std::vector<int> columns;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string name(Trim(list.substr(0, comma)));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (name.empty()) continue;
    const int index = schema.GetFieldIndex(name);
    if (index < 0) {
      return arrow::Status::Invalid("schema metadata '", kTextColumnsKey, "' names column '", name,
                                    "', which the schema does not have");
    }
    if (!IsText(*schema.field(index)->type())) {
      return arrow::Status::Invalid("schema metadata '", kTextColumnsKey, "' names column '", name,
                                    "' of type ", schema.field(index)->type()->ToString(),
                                    "; only utf8 columns can be full-text indexed");
    }
    if (std::find(columns.begin(), columns.end(), index) != columns.end()) {
      return arrow::Status::Invalid("schema metadata '", kTextColumnsKey, "' names column '", name,
                                    "' twice");
    }
    columns.push_back(index);
  }
  std::sort(columns.begin(), columns.end());
  return columns;
}

}  // namespace

arrow::Result<std::vector<int>> TextColumnsFor(const arrow::Schema& schema) {
  if (const auto& metadata = schema.metadata()) {
    const int key = metadata->FindKey(std::string(kTextColumnsKey));
    if (key >= 0) return NamedTextColumns(schema, metadata->value(key));
  }
  std::vector<int> columns;
  for (int i = 0; i < schema.num_fields(); ++i) {
    const auto& field = *schema.field(i);
    if (IsText(*field.type()) && field.name() != kIdColumn) columns.push_back(i);
  }
  return columns;
}

arrow::Result<std::unique_ptr<DatasetText>> DatasetText::Make(const arrow::Schema& schema) {
  ARROW_ASSIGN_OR_RAISE(std::vector<int> columns, TextColumnsFor(schema));
  if (columns.empty()) return nullptr;
  std::vector<std::string> names;
  for (int column : columns) names.push_back(schema.field(column)->name());
  ARROW_ASSIGN_OR_RAISE(Tokenizer tokenizer, Tokenizer::Make());
  return std::unique_ptr<DatasetText>(new DatasetText(
      std::make_shared<Shared>(std::move(columns), std::move(names), std::move(tokenizer)),
      RowKeys()));
}

arrow::Result<std::unique_ptr<DatasetText>> DatasetText::EmptyCopy() const {
  ARROW_ASSIGN_OR_RAISE(Tokenizer tokenizer, Tokenizer::Make());
  return std::unique_ptr<DatasetText>(new DatasetText(
      std::make_shared<Shared>(shared_->columns, shared_->names, std::move(tokenizer)), RowKeys()));
}

DatasetText::Shared::Shared(std::vector<int> columns, std::vector<std::string> names,
                            Tokenizer tokenizer)
    : columns(std::move(columns)), names(std::move(names)), index(std::move(tokenizer)) {}

DatasetText::DatasetText(std::shared_ptr<Shared> shared, RowKeys keys)
    : shared_(std::move(shared)), keys_(std::move(keys)) {}

const std::vector<std::string>& DatasetText::columns() const { return shared_->names; }

std::shared_ptr<DatasetText> DatasetText::Compacted(const Roaring& dropped, int64_t rows,
                                                    uint64_t renumber_gone_keys) const {
  std::optional<RowKeys> keys = keys_.Compacted(dropped);
  if (!keys || keys->WorthRenumbering(rows, renumber_gone_keys)) return nullptr;
  return std::shared_ptr<DatasetText>(new DatasetText(shared_, std::move(*keys)));
}

arrow::Status DatasetText::Add(const arrow::RecordBatch& batch, int64_t first_row) {
  ARROW_ASSIGN_OR_RAISE(TextIndex::TokenizedRows text, Tokenize(batch));
  return Add(std::move(text), first_row);
}

arrow::Result<TextIndex::TokenizedRows> DatasetText::Tokenize(
    const arrow::RecordBatch& batch) const {
  const std::vector<int>& columns = shared_->columns;
  const size_t width = columns.size();
  std::vector<std::string_view> fields(static_cast<size_t>(batch.num_rows()) * width);
  for (size_t i = 0; i < width; ++i) {
    const arrow::Array& column = *batch.column(columns[i]);
    for (int64_t row = 0; row < batch.num_rows(); ++row) {
      fields[static_cast<size_t>(row) * width + i] = TextAt(column, row);
    }
  }
  return shared_->index.Tokenize(fields, static_cast<size_t>(batch.num_rows()));
}

arrow::Status DatasetText::Add(TextIndex::TokenizedRows text, int64_t first_row) {
  const auto first = static_cast<uint64_t>(first_row);
  // Rows are added as they are appended, above every row a compaction dropped, so their keys
  // are consecutive; rows below the last dropped one would not be.
  if (text.size() > 0 && first < keys_.first_after()) {
    return arrow::Status::Invalid("text rows ", first, "..", first + text.size() - 1,
                                  " lie below a row a compaction dropped (", keys_.first_after(),
                                  "); only appended rows can be added");
  }
  return shared_->index.Add(keys_.KeyOf(first), std::move(text));
}

bool DatasetText::Remove(uint64_t row) { return shared_->index.Remove(keys_.KeyOf(row)); }

std::vector<ScoredRow> DatasetText::Search(std::string_view query, size_t k,
                                           const RowFilter& filter, const Bm25Stats* global) const {
  if (keys_.identity()) return shared_->index.Search(query, k, &filter, global);
  // Keys and rows are in the same order, so the top k and its ties are the same in both.
  const RowFilter by_key = RowFilter::FromPredicate(
      [this, &filter](uint64_t key) { return filter.Allows(keys_.RowOf(key)); });
  std::vector<ScoredRow> hits = shared_->index.Search(query, k, &by_key, global);
  for (ScoredRow& hit : hits) hit.row = keys_.RowOf(hit.row);
  return hits;
}

}  // namespace arbalest
