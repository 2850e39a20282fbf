# The two commands of the README: `make run` and `make test`.
# Everything else is a step they use, or a developer convenience.
BUILD_DIR ?= build/release
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
# The integration tests mostly wait (leases, timeouts, SIGKILL rounds): their servers keep the
# cores about a third busy, so one more worker than cores finishes sooner (on 2 cores: 365 s
# with 3 workers, 390 s with 4, 631 s with 2; docs/development.md).
TEST_WORKERS ?= $(shell echo $$(( $(JOBS) + 1 )))
ARGS ?=

.PHONY: run test build bootstrap unit integration python-test sanitize format clean tsan \
  fuzz-smoke thread-safety dist dist-test

run: build
	$(BUILD_DIR)/arbalest serve $(ARGS)

test: build
	$(MAKE) --no-print-directory unit integration python-test

bootstrap:
	@scripts/bootstrap.sh

$(BUILD_DIR)/CMakeCache.txt: | bootstrap
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DARBALEST_PYTHON=$(CURDIR)/.venv/bin/python

build: bootstrap $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

unit:
	ctest --test-dir $(BUILD_DIR) -j $(JOBS) --output-on-failure

integration:
	ARBALEST_BIN=$(CURDIR)/$(BUILD_DIR)/arbalest .venv/bin/python -m pytest -n $(TEST_WORKERS) --durations=15 tests/integration

# The Python client package (python/): its tests against the real server, the README
# quickstart, and a wheel built and installed offline (docs/python.md).
python-test:
	ARBALEST_BIN=$(CURDIR)/$(BUILD_DIR)/arbalest .venv/bin/python -m pytest -n $(JOBS) python/tests

# A relocatable release tarball (dist/): the binary, the Arrow libraries it needs and a README
# (docs/install.md); dist-test unpacks it in a clean temporary directory and serves from it.
dist: build
	BUILD_DIR=$(BUILD_DIR) scripts/make_dist.sh

dist-test: dist
	scripts/test_dist.sh

# The index engine's concurrency under ThreadSanitizer, on a small dataset, the tests split in
# one shard per core (about 40x slower than the release build's run).
tsan: bootstrap
	cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARBALEST_SANITIZE=thread \
	  -DARBALEST_PYTHON=$(CURDIR)/.venv/bin/python
	cmake --build build/tsan -j $(JOBS) --target index_test
	ARBALEST_INDEX_TEST_ROWS=2000 scripts/gtest_shards.sh $(JOBS) build/tsan/tests/index/index_test

# The fuzz targets (clang, ASan + UBSan, build/fuzz): every regression input replayed, then each
# target ~7 s from its seed corpus. Long runs: scripts/fuzz.sh (docs/fuzzing.md).
fuzz-smoke: bootstrap
	BUILD_JOBS=$(JOBS) scripts/fuzz.sh --smoke

# Everything built with clang, whose -Wthread-safety checks the annotated locks (GUARDED_BY,
# REQUIRES; common/mutex.h). The fuzz build CI runs is a clang build too, so CI checks them.
thread-safety: bootstrap
	CXX=clang++ cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DARBALEST_PYTHON=$(CURDIR)/.venv/bin/python
	cmake --build build/clang -j $(JOBS)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' \
	  'fuzz/*.cc' 'fuzz/*.h')

clean:
	rm -rf build dist
