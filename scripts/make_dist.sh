#!/usr/bin/env bash
# `make dist`: the release build installed into a relocatable tree and packed as
# dist/arbalest-<version>-linux-<arch>.tar.gz: bin/arbalest (stripped), lib/ (the Arrow shared
# libraries of the pyarrow wheel it was built against) and README.md (packaging/README.md: how
# to run it, the Debian packages it still needs). The binary finds lib/ through its RUNPATH
# $ORIGIN/../lib, checked here: nothing points into the source tree or its .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
version=$(sed -n 's/^project(arbalest VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
name="arbalest-${version}-linux-$(uname -m)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cmake --install "$BUILD_DIR" --prefix "$stage/$name" --strip >/dev/null
cp packaging/README.md "$stage/$name/README.md"
runpath=$(readelf -d "$stage/$name/bin/arbalest" | sed -n 's/.*(RU\{0,1\}N\{0,1\}PATH).*\[\(.*\)\]/\1/p')
if [ "$runpath" != '$ORIGIN/../lib' ]; then
  echo "make_dist: bin/arbalest has RUNPATH '$runpath', want '\$ORIGIN/../lib'" >&2
  exit 1
fi
for lib in libarrow libarrow_compute libarrow_flight libparquet; do
  if ! ls "$stage/$name/lib/$lib".so.* >/dev/null 2>&1; then
    echo "make_dist: lib/$lib.so.* missing (a system Arrow build ships none: build against the wheel)" >&2
    exit 1
  fi
done
mkdir -p dist
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
echo "dist/$name.tar.gz ($(du -h "dist/$name.tar.gz" | cut -f1))"
