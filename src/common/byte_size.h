// Parsing of human byte sizes ("512MiB", "8GB", "0") used by --max-memory and friends.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string_view>

namespace arbalest {

// Parses a non-negative byte count with an optional unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB,
// T/TB/TiB (case-insensitive). Decimal units are powers of 1000, binary (…iB) and bare
// letters powers of 1024. Fractions are allowed ("1.5GiB"). Returns Invalid naming the text
// when it does not parse or overflows.
arrow::Result<int64_t> ParseByteSize(std::string_view text);

}  // namespace arbalest
