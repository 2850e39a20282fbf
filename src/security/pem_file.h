// Reads a PEM file named by a flag (certificates, keys, CAs), so that a wrong path or a file that
// is not PEM stops startup with an error naming the flag and the file.
#pragma once

#include <arrow/result.h>

#include <string>
#include <string_view>

namespace arbalest {

// The text of `path`. IOError when it cannot be read; Invalid when it holds no PEM block.
arrow::Result<std::string> ReadPemFile(const std::string& path, std::string_view flag);

}  // namespace arbalest
