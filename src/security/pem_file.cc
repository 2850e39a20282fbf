#include "security/pem_file.h"

#include <arrow/status.h>

#include <fstream>
#include <sstream>

namespace arbalest {

arrow::Result<std::string> ReadPemFile(const std::string& path, std::string_view flag) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return arrow::Status::IOError(flag, ": cannot read ", path);
  std::stringstream text;
  text << file.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return arrow::Status::Invalid(flag, ": ", path, " holds no PEM block (-----BEGIN ...)");
  }
  return text.str();
}

}  // namespace arbalest
