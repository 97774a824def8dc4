# danube-cpp: a thin wrapper over CMake and CTest for the everyday tasks. The build itself is
# CMakeLists.txt (CMakePresets.json has the same configurations for IDEs and `cmake --preset`).
#
#   make deps          install the missing Debian packages the build needs (apt-get; root or sudo)
#   make demo          build and run examples/quickstart.cpp (example_quickstart)
#   make test          build everything and run the whole CTest suite (ctest -j2)
#   make bench         build and briefly run the bench programs (CTest label `bench`)
#   make format        clang-format the sources in place        make format-check  check only
#   make tidy          clang-tidy a few translation units       make clean         remove the build dir
#
# Variables: BUILD_DIR=build  BUILD_TYPE=RelWithDebInfo  JOBS=$(nproc)  CTEST_JOBS=2
#            CMAKE_ARGS="-D..." (extra configure arguments)  TIDY_FILES="tests/unit/x.cpp ..."

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

# What building and testing needs on Debian 12 (python3-protobuf: ../shared/tools/wire-check).
DEPS := libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libfmt-dev libssl-dev \
        doctest-dev cmake ninja-build g++ ccache python3-protobuf

CONFIGURE := cmake -S . -B $(BUILD_DIR) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
             -DCMAKE_EXPORT_COMPILE_COMMANDS=ON $(CMAKE_ARGS)
CTEST := ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout $(CTEST_TIMEOUT)

.PHONY: help deps configure build demo test bench format format-check tidy clean

help:
	@sed -n '4,13p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

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

test: build
	$(CTEST) -j $(CTEST_JOBS) --no-tests=error

# bench/CMakeLists.txt registers each bench program's short smoke run as a CTest test labelled
# `bench` (against the embedded broker); they run one at a time so their numbers mean something.
bench:
	@if [[ ! -f bench/CMakeLists.txt ]]; then \
	  echo "make bench: no bench programs yet (bench/CMakeLists.txt is absent); nothing to run"; \
	  exit 0; \
	fi; \
	$(MAKE) --no-print-directory configure CMAKE_ARGS='$(CMAKE_ARGS) -DDANUBE_BUILD_BENCH=ON'; \
	cmake --build $(BUILD_DIR) -j $(JOBS); \
	$(CTEST) -L '^bench$$' -V --no-tests=error

format:
	@bash scripts/format.sh fix

format-check:
	@bash scripts/format.sh check

# clang-tidy (.clang-tidy) on TIDY_FILES, with flags from $(BUILD_DIR)/compile_commands.json.
tidy: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target danube_proto
	@bash scripts/tidy.sh $(BUILD_DIR) $(TIDY_FILES)

clean:
	rm -rf $(BUILD_DIR)
