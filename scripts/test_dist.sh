#!/usr/bin/env bash
# `make dist-test`: the dist tarball (argument, else the newest in dist/) unpacked in a clean
# temporary directory and served as a user would: its binary must resolve every library from
# its own lib/ or the system (never from the source tree or its .venv), start with an empty
# environment, take a put and answer a search from pyarrow (the client side comes from the
# project's .venv, or $PYTHON), log the SIMD target it picked, and exit 0 on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tarball=${1:-$(ls -t dist/arbalest-*.tar.gz 2>/dev/null | head -1)}
[ -n "$tarball" ] || { echo "test_dist: no tarball in dist/ (make dist)" >&2; exit 1; }
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
tar -C "$work" -xzf "$tarball"
root=$(echo "$work"/arbalest-*)
libs=$(env -i ldd "$root/bin/arbalest")
if grep -q "not found" <<<"$libs"; then
  echo "test_dist: missing libraries:" >&2; grep "not found" <<<"$libs" >&2; exit 1
fi
if grep -F "$repo" <<<"$libs" >&2; then
  echo "test_dist: the binary resolves libraries from the source tree" >&2; exit 1
fi
grep -q "$root/bin/../lib/libarrow_flight" <<<"$libs" || { echo "test_dist: Arrow not from lib/" >&2; exit 1; }

read -r port meta metrics < <("$python" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
cd "$work"
env -i HOME="$work" PATH=/usr/bin:/bin "$root/bin/arbalest" serve --port "$port" \
  --meta-port "$meta" --metrics-port "$metrics" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
"$python" - "$port" <<'PY'
import json, sys, time
import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

client = flight.connect(f"grpc://127.0.0.1:{sys.argv[1]}")
deadline = time.time() + 30
while True:
    try:
        list(client.list_actions())
        break
    except flight.FlightError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
n, dim = 1000, 32
vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
table = pa.table({"id": pa.array(np.arange(n), pa.int64()),
                  "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)},
                 metadata={"metric": "cosine"})
writer, _ = client.do_put(flight.FlightDescriptor.for_path("dist"), table.schema)
writer.write_table(table)
writer.close()
query = {"search": {"dataset": "dist", "vector": vectors[7].tolist(), "k": 3}}
found = client.do_get(flight.Ticket(json.dumps(query).encode())).read_all()
assert found.column("id")[0].as_py() == 7, found
print(f"test_dist: put {n} rows, search found row 7 first")
PY
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=
if [ "$code" != 0 ]; then
  echo "test_dist: the server exited $code on SIGTERM" >&2; cat "$work/server.log" >&2; exit 1
fi
grep -o "SIMD [A-Za-z0-9_]*" "$work/server.log" | head -1 | sed 's/^/test_dist: /'
echo "test_dist: $(basename "$tarball") OK"
