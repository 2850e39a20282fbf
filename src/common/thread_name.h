// Names the calling thread, so that `top -H`, `perf report --sort comm`, gdb and
// /proc/<pid>/task/*/comm tell the server's threads apart (arb-wal, arb-index, ...). Linux keeps
// at most 15 characters; longer names are cut. Failing to set it only loses the name.
#pragma once

#include <string_view>

namespace arbalest {

void SetCurrentThreadName(std::string_view name);

}  // namespace arbalest
