#!/usr/bin/env bash
# Installs what building and testing Arbalest needs, and nothing that is already there.
#   - Debian packages for the C++ dependencies, the status page's build (node, npm) and its
#     test (chromium) (apt-get, only the missing ones).
#   - A project-local virtualenv (.venv) with the pinned pyarrow, whose wheel carries the
#     Arrow C++ headers and shared libraries (Flight, IPC, compute, Parquet) we build against.
# Idempotent and silent when nothing is missing. Not root and packages missing: prints the
# apt-get command to run and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  g++ cmake ninja-build pkg-config python3-venv
  libhwy-dev            # SIMD kernels with runtime dispatch
  libspdlog-dev libfmt-dev  # logging
  libcli11-dev          # command line and ARBALEST_* env flags
  nlohmann-json3-dev    # JSON tickets, actions and replies
  libroaring-dev        # row bitmaps
  libxxhash-dev         # hashing
  libicu-dev            # Unicode word boundaries and case folding (full-text search)
  prometheus-cpp-dev    # metrics registry and text exposition format
  libmicrohttpd-dev     # embedded HTTP server (epoll): /metrics, /healthz, /readyz, status page
  libcurl4-openssl-dev  # HTTP client of etcd's v3 JSON gateway (cluster membership, --cluster-etcd)
  libsodium-dev         # token hashes (BLAKE2b), constant-time compare, random tokens (--auth-tokens)
  libgtest-dev libgmock-dev libbenchmark-dev  # tests and microbenchmarks
  clang libclang-rt-14-dev llvm  # fuzz targets: clang's libFuzzer, ASan, UBSan, symbolizer
  etcd-server           # tests only: the etcd a cluster test's nodes join (test_cluster.py)
  prometheus            # promtool: checks and unit-tests deploy/prometheus/alerts.yml
  nodejs                # build time only: `npm ci` and esbuild bundle the status page (web/status)
  chromium              # tests only: the status page opened headless (test_status_page.py)
)
# npm: Debian's package, unless an npm is there already (NodeSource's nodejs carries its own and
# conflicts with Debian's npm).
command -v npm >/dev/null || APT_PACKAGES+=(npm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing Debian packages; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is rebuilt only when python/requirements.txt changed since it was made.
if [[ ! -x .venv/bin/python ]] || ! cmp -s python/requirements.txt .venv/.requirements.txt; then
  echo "bootstrap: creating .venv from python/requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
  cp python/requirements.txt .venv/.requirements.txt
fi
