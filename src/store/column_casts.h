// The type conversions a put may rely on: a later batch whose column has a narrower or
// differently encoded type than the dataset's (string where the dataset has large_string,
// int32 where it has int64, float32 where it has float64, a dictionary-encoded column, a
// variable-size list of vector elements) is converted with Arrow's safe casts rather than
// refused. Conversions that could change a value are refused, naming the column and both types.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <memory>
#include <string_view>

namespace arbalest {

// The conversions accepted, for messages and docs.
inline constexpr std::string_view kSafeConversions =
    "utf8 <-> large_utf8, binary <-> large_binary, integers to integers (values must fit), "
    "float16/float32 to wider floats, integers of up to 16 bits to float32 and of up to 32 bits "
    "to float64, dictionary-encoded to its value type's conversions";

// OK when a column of `put` type can be stored as `stored` (equal, or a conversion above).
// Invalid naming `column`, both types and `dataset` otherwise.
arrow::Status CheckConvertible(std::string_view column, const arrow::DataType& put,
                               const arrow::DataType& stored, std::string_view dataset);

// `array` (of a type CheckConvertible accepted) as `stored`; the array itself when the types are
// equal. Invalid naming the column and both types when a value does not fit (an int64 past
// int32's range, a large_utf8 column past 2 GiB of text).
arrow::Result<std::shared_ptr<arrow::Array>> ConvertColumn(
    const std::shared_ptr<arrow::Array>& array, std::string_view column,
    const std::shared_ptr<arrow::DataType>& stored, std::string_view dataset);

// True for list<T> and large_list<T>: a vector column sent without a fixed width, which a put
// into an existing dataset converts to fixed_size_list<T, dim> (VectorsToFixedSize).
bool IsVariableSizeList(const arrow::DataType& type);

// `array` (list or large_list) as fixed_size_list<its value type, dim>. Invalid naming the
// column when a vector does not have `dim` elements.
arrow::Result<std::shared_ptr<arrow::Array>> VectorsToFixedSize(
    const std::shared_ptr<arrow::Array>& array, std::string_view column, int32_t dim);

}  // namespace arbalest
