// Keeps file descriptors free for the WAL, snapshots and checkpoints (--fd-reserve): once
// fewer than the reserve are free, every listener of the process (the Flight ports, the
// metrics port) closes each connection it accepts at once instead of keeping it, so that idle
// client connections can never take the descriptors a WAL rotation or a snapshot needs. The
// clients see the connection closed (UNAVAILABLE over gRPC: retry later); the server logs why.
//
// How: gRPC is built into Arrow Flight's library without its own symbols or headers, so
// neither its listener nor its channel arguments are reachable. This file defines accept()
// and accept4(), which the executable's definitions take over from libc for every library in
// the process (ELF symbol interposition, like an LD_PRELOAD shim). They accept as libc does
// (through the system call) and apply the reserve; with no reserve set they only accept.
#pragma once

#include <cstdint>

namespace arbalest {

// Keeps `reserve` descriptors free of connections (0: no reserve, the default). Call before
// the listeners start.
void SetFdReserve(int64_t reserve);

int64_t FdReserve();

// Connections to `listener` (the metrics port) are refused only once fewer than half the
// reserve is free, so that health probes and scrapes still answer while idle clients hold the
// Flight ports at the reserve. One listener; the latest call wins.
void LetProbesUseHalfTheReserve(int listener);

// Connections closed at accept because the reserve was reached, since the process started.
int64_t RefusedConnections();

}  // namespace arbalest
