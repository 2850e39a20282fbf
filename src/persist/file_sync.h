// fsync of files and directories: what makes a file's bytes, or a directory's entries (files
// created, renamed or removed in it), survive a machine crash.
#pragma once

#include <arrow/status.h>

#include <string>

namespace arbalest {

// fsyncs the file at `path`. IOError names the file.
arrow::Status SyncFile(const std::string& path);

// fsyncs the directory `dir` so that entries created or removed in it stay so after a crash.
arrow::Status SyncDirectory(const std::string& dir);

}  // namespace arbalest
