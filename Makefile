# danube-cpp: a thin wrapper over CMake and CTest for the everyday tasks. The build itself is
# CMakeLists.txt (CMakePresets.json has the same configurations for IDEs and `cmake --preset`).
#
#   make deps          install the missing Debian packages the build needs (apt-get; root or sudo)
#   make demo          build and run examples/quickstart.cpp (example_quickstart)
#   make test          build everything and run the CTest suite but the soak (ctest -j2)
#   make bench         build and briefly run the bench programs (CTest label `bench`), then
#                      bench/compile_cost.sh (what including danube-cpp costs a user's file)
#   make format        clang-format the sources in place        make format-check  check only
#   make tidy          clang-tidy a few translation units       make clean         remove the build dir
#   make test-asan     the suite (but the soak) built with ASan+UBSan in build-asan/ (CI runs it)
#   make test-tsan     the unit tests with ThreadSanitizer in build-tsan/ (optional; docs/testing.md)
#   make soak          a long seeded chaos soak (SOAK_DURATION=1800 s; docs/reliability.md)
#   make soak-ci       the short soak and its self-tests (label `soak`), plain and ASan (CI runs it)
#   make soak-tsan     a short soak under ThreadSanitizer in build-tsan/ (optional)
#   make fuzz          build the libFuzzer targets of fuzz/     make fuzz-smoke / fuzz-run   run them
#
# Variables: BUILD_DIR=build  BUILD_TYPE=RelWithDebInfo  JOBS=$(nproc)  CTEST_JOBS=2
#            CMAKE_ARGS="-D..." (extra configure arguments)  TIDY_FILES="tests/unit/x.cpp ..."
#            SOAK_DURATION=1800  SOAK_ARGS="--seed N --exclude a,b ..." (danube_soak --help)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
GENERATOR ?= Ninja
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
# Per-test limit for tests that set no TIMEOUT of their own.
CTEST_TIMEOUT ?= 300
CMAKE_ARGS ?=
TIDY_FILES ?= $(sort $(wildcard tests/unit/*.cpp))

# What building and testing needs on Debian 12 (python3-protobuf: the `wire facts` tests).
DEPS := libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libfmt-dev libssl-dev \
        doctest-dev cmake ninja-build g++ ccache python3-protobuf unicode-data time

CONFIGURE := cmake -S . -B $(BUILD_DIR) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
             -DCMAKE_EXPORT_COMPILE_COMMANDS=ON $(CMAKE_ARGS)
CTEST := ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout $(CTEST_TIMEOUT)

.PHONY: help deps configure build demo test bench format format-check tidy clean test-asan test-tsan fuzz \
        fuzz-smoke fuzz-run soak soak-ci soak-tsan

help:
	@sed -n '4,21p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

deps:
	@bash scripts/deps.sh $(DEPS)

configure: deps
	$(CONFIGURE)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: configure
	@if [[ ! -f examples/quickstart.cpp ]]; then \
	  echo "make demo: examples/quickstart.cpp does not exist yet, so there is no example_quickstart to run" >&2; \
	  exit 1; \
	fi
	cmake --build $(BUILD_DIR) -j $(JOBS) --target example_quickstart
	./$(BUILD_DIR)/examples/example_quickstart

# The soak (label `soak`) is its own step: `make soak-ci`.
test: build
	$(CTEST) -j $(CTEST_JOBS) --no-tests=error -LE '^soak$$'

# bench/CMakeLists.txt registers each bench program's short smoke run as a CTest test labelled
# `bench` (against the embedded broker); they run one at a time so their numbers mean something.
bench:
	@if [[ ! -f bench/CMakeLists.txt ]]; then \
	  echo "make bench: no bench programs yet (bench/CMakeLists.txt is absent); nothing to run"; \
	  exit 0; \
	fi; \
	$(MAKE) --no-print-directory configure CMAKE_ARGS='$(CMAKE_ARGS) -DDANUBE_BUILD_BENCH=ON'; \
	cmake --build $(BUILD_DIR) -j $(JOBS); \
	$(CTEST) -L '^bench$$' -V --no-tests=error; \
	bash bench/compile_cost.sh

format:
	@bash scripts/format.sh fix

format-check:
	@bash scripts/format.sh check

# clang-tidy (.clang-tidy) on TIDY_FILES, with flags from $(BUILD_DIR)/compile_commands.json.
tidy: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target danube_proto
	@bash scripts/tidy.sh $(BUILD_DIR) $(TIDY_FILES)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (Debug, build-asan/): every
# test, example and tool, leak checking on, gRPC's own allocations suppressed by
# tests/sanitizers/lsan.supp. The bench programs are not built.
ASAN_BUILD_DIR ?= build-asan
SANITIZER_CONFIGURE = cmake -S . -G $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
                      -DDANUBE_BUILD_BENCH=OFF $(CMAKE_ARGS)
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:abort_on_error=0 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: deps
	$(SANITIZER_CONFIGURE) -B $(ASAN_BUILD_DIR) -DCMAKE_CXX_FLAGS="$(ASAN_FLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(ASAN_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(ASAN_FLAGS)"
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	$(ASAN_ENV) ctest --test-dir $(ASAN_BUILD_DIR) --output-on-failure --timeout $(CTEST_TIMEOUT) -j $(CTEST_JOBS) \
	  --no-tests=error -LE '^soak$$'

# ThreadSanitizer (build-tsan/). Optional and not in CI: Debian's gRPC is not instrumented, so TSan
# cannot see its synchronisation (docs/testing.md). By default the unit tests (the library's own
# thread primitives, no gRPC) are built and run; TSAN_TARGETS=all TSAN_CTEST_ARGS= runs everything,
# with tests/sanitizers/tsan.supp silencing what happens inside gRPC, Abseil and protobuf.
TSAN_BUILD_DIR ?= build-tsan
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
TSAN_ENV = TSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1
TSAN_TARGETS ?= danube_unit_tests
TSAN_CTEST_ARGS ?= -L unit
test-tsan: deps
	$(SANITIZER_CONFIGURE) -B $(TSAN_BUILD_DIR) -DCMAKE_CXX_FLAGS="$(TSAN_FLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(TSAN_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(TSAN_FLAGS)"
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	$(TSAN_ENV) ctest --test-dir $(TSAN_BUILD_DIR) --output-on-failure --timeout $(CTEST_TIMEOUT) -j $(CTEST_JOBS) \
	  --no-tests=error $(TSAN_CTEST_ARGS)

# The seeded chaos soak (tests/soak/, docs/reliability.md "Chaos soak"). `make soak` runs one for
# SOAK_DURATION seconds of chaos in the normal build and prints its figures; a failure prints the
# seed and the command that reproduces it. `make soak-ci` runs the CTest soak (label `soak`: a
# short soak with a random seed and the checkers' self-tests) in $(BUILD_DIR)/ (built by `make
# test`) and, when it exists, in $(ASAN_BUILD_DIR)/ (built by `make test-asan`). `make soak-tsan`
# builds the soak alone with ThreadSanitizer, runs SOAK_TSAN_DURATION seconds of it and sorts the
# reports (tests/soak/tsan_triage.py): it fails on any race between threads TSan fully sees.
SOAK_DURATION ?= 1800
SOAK_ARGS ?=
SOAK_TSAN_DURATION ?= 30
soak: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target danube_soak
	nice -n 10 ./$(BUILD_DIR)/tests/soak/danube_soak --duration $(SOAK_DURATION) $(SOAK_ARGS)

soak-ci:
	$(CTEST) -j $(CTEST_JOBS) -L '^soak$$' --no-tests=error
	@if [[ -d $(ASAN_BUILD_DIR) ]]; then \
	  $(ASAN_ENV) ctest --test-dir $(ASAN_BUILD_DIR) --output-on-failure --timeout $(CTEST_TIMEOUT) -j $(CTEST_JOBS) \
	    -L '^soak$$' \
	    --no-tests=error; \
	else \
	  echo "make soak-ci: no $(ASAN_BUILD_DIR)/ (make test-asan builds it): the ASan soak did not run"; \
	fi

soak-tsan: deps
	$(SANITIZER_CONFIGURE) -B $(TSAN_BUILD_DIR) -DCMAKE_CXX_FLAGS="$(TSAN_FLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(TSAN_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(TSAN_FLAGS)"
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target danube_soak
	rm -f $(TSAN_BUILD_DIR)/soak-tsan.*
	TSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/tsan.supp:halt_on_error=0:exitcode=0:log_path=$(CURDIR)/$(TSAN_BUILD_DIR)/soak-tsan \
	  ./$(TSAN_BUILD_DIR)/tests/soak/danube_soak --duration $(SOAK_TSAN_DURATION) $(SOAK_ARGS)
	python3 tests/soak/tsan_triage.py $(TSAN_BUILD_DIR)/soak-tsan.*

# libFuzzer targets (fuzz/run.sh; clang 16, installed when missing).
fuzz:
	@bash fuzz/run.sh build
fuzz-smoke:
	@bash fuzz/run.sh smoke
fuzz-run:
	@bash fuzz/run.sh run

clean:
	rm -rf $(BUILD_DIR)
