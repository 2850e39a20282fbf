#include "store/value_checks.h"

#include <arrow/memory_pool.h>
#include <arrow/util/align_util.h>
#include <arrow/util/float16.h>
#include <arrow/util/utf8.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace arbalest {
namespace {

// Which values of `strings` (utf8 or large_utf8) are valid UTF-8 (null ones count as valid);
// nullopt when its offsets are broken, so that the values cannot be read.
template <class StringArray>
std::optional<std::vector<bool>> Utf8Validity(const StringArray& strings) {
  if (!strings.Validate().ok()) return std::nullopt;  // buffer sizes: the offsets can be read
  arrow::util::InitializeUTF8();
  const auto* offsets = strings.raw_value_offsets();
  const int64_t data_size = strings.value_data() ? strings.value_data()->size() : 0;
  std::vector<bool> valid(static_cast<size_t>(strings.length()), true);
  for (int64_t i = 0; i < strings.length(); ++i) {
    if (strings.IsNull(i)) continue;
    const int64_t begin = offsets[i];
    const int64_t end = offsets[i + 1];
    if (begin < 0 || end < begin || end > data_size) return std::nullopt;
    valid[i] = arrow::util::ValidateUTF8(strings.raw_data() + begin, end - begin);
  }
  return valid;
}

std::optional<std::vector<bool>> Utf8ValidityOf(const arrow::Array& strings) {
  switch (strings.type_id()) {
    case arrow::Type::STRING:
      return Utf8Validity(static_cast<const arrow::StringArray&>(strings));
    case arrow::Type::LARGE_STRING:
      return Utf8Validity(static_cast<const arrow::LargeStringArray&>(strings));
    default:
      return std::nullopt;
  }
}

arrow::Status NotUtf8(std::string_view name, int64_t row, std::string_view what = "value") {
  return arrow::Status::Invalid("column '", name, "' row ", row, ": ", what, " is not valid UTF-8");
}

// Invalid naming the first row of `column` (utf8, large_utf8, or a dictionary of them) whose
// value is not valid UTF-8; OK when there is none or the column is of another type or too
// broken to read, and Arrow's message is all there is to say.
arrow::Status LocateBadUtf8(const arrow::Array& column, std::string_view name) {
  if (column.type_id() != arrow::Type::DICTIONARY) {
    const auto valid = Utf8ValidityOf(column);
    if (!valid) return arrow::Status::OK();
    const auto bad = std::find(valid->begin(), valid->end(), false);
    if (bad == valid->end()) return arrow::Status::OK();
    return NotUtf8(name, bad - valid->begin());
  }
  // Buffer sizes first: the indices are read below.
  if (!column.Validate().ok()) return arrow::Status::OK();
  const auto& dictionary = static_cast<const arrow::DictionaryArray&>(column);
  const auto entries = Utf8ValidityOf(*dictionary.dictionary());
  if (!entries) return arrow::Status::OK();
  const auto entry_count = static_cast<int64_t>(entries->size());
  for (int64_t row = 0; row < dictionary.length(); ++row) {
    if (dictionary.IsNull(row)) continue;
    const int64_t entry = dictionary.GetValueIndex(row);
    if (entry >= 0 && entry < entry_count && !(*entries)[entry]) {
      return NotUtf8(name, row, "value (dictionary entry " + std::to_string(entry) + ")");
    }
  }
  const auto bad = std::find(entries->begin(), entries->end(), false);
  if (bad == entries->end()) return arrow::Status::OK();
  return arrow::Status::Invalid("column '", name, "': dictionary entry ", bad - entries->begin(),
                                " is not valid UTF-8 (no row uses it)");
}

// The first element of `bits` (IEEE 754 floats viewed as unsigned integers of their width)
// whose exponent bits are all set, i.e. NaN or infinite; `n` when there is none. Each block is
// scanned without branches, which the compiler vectorizes; only a block with a hit is scanned
// again for its position.
template <class Bits>
int64_t FirstNonFinite(const Bits* bits, int64_t n, Bits exponent_mask) {
  constexpr int64_t kBlock = 1024;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    Bits hit = 0;
    for (int64_t i = start; i < end; ++i) {
      hit |= static_cast<Bits>((bits[i] & exponent_mask) == exponent_mask);
    }
    if (hit == 0) continue;
    for (int64_t i = start; i < end; ++i) {
      if ((bits[i] & exponent_mask) == exponent_mask) return i;
    }
  }
  return n;
}

// What element `index` of `values` is, for the message: NaN, infinite, or beyond float32.
std::string DescribeNonFinite(const arrow::Array& values, int64_t index) {
  double value = 0;
  switch (values.type_id()) {
    case arrow::Type::DOUBLE:
      value = static_cast<const arrow::DoubleArray&>(values).Value(index);
      break;
    case arrow::Type::FLOAT:
      value = static_cast<const arrow::FloatArray&>(values).Value(index);
      break;
    case arrow::Type::HALF_FLOAT:
      value = arrow::util::Float16::FromBits(
                  static_cast<const arrow::HalfFloatArray&>(values).Value(index))
                  .ToDouble();
      break;
    default:
      break;
  }
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  const auto end = std::to_chars(text, text + sizeof(text), value).ptr;
  return std::string(text, end) + ", beyond the float32 range it is stored in";
}

}  // namespace

arrow::Status CheckColumnValues(const arrow::Array& column, std::string_view name) {
  const arrow::Status valid = column.ValidateFull();
  if (valid.ok()) return valid;
  ARROW_RETURN_NOT_OK(LocateBadUtf8(column, name));
  return arrow::Status::Invalid("column '", name, "': ", valid.message());
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CheckClientBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  // Buffer sizes and counts first: aligning copies buffers whole, and nothing below reads past
  // them once they hold what their types say.
  if (arrow::Status structural = batch->Validate(); !structural.ok()) {
    return arrow::Status::Invalid("malformed batch: ", structural.message());
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::RecordBatch> aligned,
                        arrow::util::EnsureAlignment(batch, arrow::util::kValueAlignment,
                                                     arrow::default_memory_pool()));
  const arrow::Status valid = aligned->ValidateFull();
  if (valid.ok()) return aligned;
  arrow::util::InitializeUTF8();
  for (int i = 0; i < aligned->num_columns(); ++i) {
    const std::string& name = aligned->schema()->field(i)->name();
    if (!arrow::util::ValidateUTF8(name)) continue;
    if (arrow::Status checked = CheckColumnValues(*aligned->column(i), name); !checked.ok()) {
      return arrow::Status::Invalid("malformed batch: ", checked.message());
    }
  }
  return arrow::Status::Invalid("malformed batch: ", valid.message());
}

arrow::Status CheckFiniteVectors(const arrow::Array& stored, const arrow::Array& put, int32_t dim,
                                 std::string_view column) {
  int64_t first = stored.length();
  if (stored.type_id() == arrow::Type::FLOAT) {
    const auto* bits = reinterpret_cast<const uint32_t*>(
        static_cast<const arrow::FloatArray&>(stored).raw_values());
    first = FirstNonFinite<uint32_t>(bits, stored.length(), 0x7F800000u);
  } else if (stored.type_id() == arrow::Type::HALF_FLOAT) {
    const uint16_t* bits = static_cast<const arrow::HalfFloatArray&>(stored).raw_values();
    first = FirstNonFinite<uint16_t>(bits, stored.length(), 0x7C00u);
  }
  if (first == stored.length()) return arrow::Status::OK();
  return arrow::Status::Invalid("vector column '", column, "' row ", first / dim, ": element ",
                                first % dim, " is ", DescribeNonFinite(put, first),
                                "; vector elements must be finite");
}

}  // namespace arbalest
