# SPDX-License-Identifier: MIT
# rams: the two commands are `make demo` and `make test` (see README.md).
# Every target first installs the missing Debian packages it needs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
ARM64_BUILD ?= build-arm64
WINDOWS_BUILD ?= build-windows
# Wall time and result of each suite of `make test`, reported at its end.
TIMES      ?= $(BUILD)/suite-times
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
# Bounded fuzzing inside `make test`: seconds per target.
FUZZ_SECONDS ?= 20

.PHONY: all build deps demo test check unit-test asan-test tsan-test fuzz-test kernel-test \
        install-test arm64-test kernel-test-arm64 windows-test test-native test-arm64 deb packaging-test bench \
        report bench-container bench-arm64 clean

# The suites of `make test`: the native ones in one lane and, beside them, the
# cross and emulated ones in a second lane, each line prefixed with its suite's
# name: the aarch64 cross-build's whole ctest suite under qemu-user
# (`arm64-test`), the module's suite in qemu-system-aarch64 -smp 4
# (`kernel-test-arm64`), the Windows client under wine against native ramsds
# (`windows-test`) and the packaging test. The long emulated runs start first,
# so that they overlap the native lane's builds.
# On an aarch64 host (a Pi 4) the native suites are the arm64 ones, and the
# cross and QEMU suites, which need an x86_64 host's toolchains and Debian
# kernel packages, are left out.
ifeq ($(shell uname -m),aarch64)
NATIVE_SUITES := unit-test install-test asan-test tsan-test fuzz-test packaging-test
ARM64_SUITES  :=
TEST_DEPS     := build deb
else
NATIVE_SUITES := unit-test install-test asan-test tsan-test fuzz-test kernel-test
ARM64_SUITES  := arm64-test kernel-test-arm64 windows-test packaging-test
TEST_DEPS     := kernel deb arm64 windows
endif

all: build

deps:
	@scripts/install-deps build

# The main build keeps line tables only (backtraces name files and lines;
# compiling takes about a third less): `make DEBUG_INFO=full` for gdb's
# variables, or a build directory of your own (full by default).
DEBUG_INFO ?= lines

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
	  -DRAMS_DEBUG_INFO=$(DEBUG_INFO) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/demo/rams-demo
	@echo
	$(BUILD)/demo/rams-remote-demo
	@echo
	$(BUILD)/demo/rams-hosts-demo
	@echo
	sh demo/fss_run_demo.sh $(BUILD)/fss/fss

test: build
	@scripts/install-deps $(TEST_DEPS)
	@rm -rf $(TIMES) && mkdir -p $(TIMES) && date +%s >$(TIMES)/.start
	@$(MAKE) --no-print-directory -j2 test-native test-arm64; rc=$$?; \
	  scripts/time-suite report $(TIMES); exit $$rc

test-native:
	@rc=0; for s in $(NATIVE_SUITES); do \
	  scripts/time-suite $(TIMES) $$s $(MAKE) --no-print-directory $$s || rc=1; done; exit $$rc

test-arm64:
	@rc=0; for s in $(ARM64_SUITES); do RAMS_SUITE_PREFIX="[$$s] " \
	  scripts/time-suite $(TIMES) $$s $(MAKE) --no-print-directory $$s || rc=1; done; exit $$rc

# The quick inner loop: the g++ build and the fast unit tests.
check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 120 -L unit

# Each ctest suite ends with scripts/check-skips: a skip whose reason
# tests/SKIPS.md does not list fails it.
unit-test:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600 --output-junit ctest.xml
	scripts/check-skips native $(BUILD)/ctest.xml

install-test:
	tests/install/run $(BUILD)

# The Debian packages (dpkg-buildpackage -us -uc -b on a copy of the tree).
deb:
	@scripts/install-deps build deb
	scripts/build-deb build-deb

# Builds the packages, runs lintian, installs them into a scratch root and
# uses them (tests/packaging/run); built with line tables only
# (dpkg-buildflags' DEB_*_APPEND), which `make deb` leaves at -g. It runs in
# the second lane of `make test`, beside the native suites, after the arm64
# ones.
packaging-test:
	@scripts/install-deps build deb
	DEB_CFLAGS_APPEND=-g1 DEB_CXXFLAGS_APPEND=-g1 tests/packaging/run build-deb

asan-test:
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_SANITIZE=address,undefined -DRAMS_BUILD_BENCH=OFF -DRAMS_DEBUG_INFO=lines -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -LE no-asan --output-junit ctest.xml
	scripts/check-skips asan $(ASAN_BUILD)/ctest.xml

# TSan runs only the `threads` tests: threads_tests builds just those (and
# the programs they start).
tsan-test:
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_SANITIZE=thread -DRAMS_BUILD_BENCH=OFF -DRAMS_DEBUG_INFO=lines -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target threads_tests
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -L threads --output-junit ctest.xml
	scripts/check-skips tsan $(TSAN_BUILD)/ctest.xml

fuzz-test:
	@cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_FUZZ=ON -DRAMS_BUILD_TESTS=OFF -DRAMS_BUILD_BENCH=OFF -DRAMS_DEBUG_INFO=lines >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The amd64 guest's C++ programs come from the main build.
kernel-test: build
	RAMS_DYN_BUILD=$(BUILD) scripts/kernel-test build-kernel
	scripts/check-skips kernel-amd64 build-kernel/serial.log

# aarch64 (Raspberry Pi 4): the cross-build's whole ctest suite under
# qemu-user, and the module's suite in qemu-system-aarch64 -smp 4.
arm64-test:
	@scripts/install-deps arm64
	scripts/arm64-test $(ARM64_BUILD)

# The Windows client (mingw-w64 cross-build) under wine against native
# Linux ramsds on loopback, and the remote demo with Windows workers.
windows-test: build
	@scripts/install-deps windows
	scripts/windows-test $(WINDOWS_BUILD) $(BUILD)

# The guest's C++ programs come from the arm64-test cross-build (up to date
# already when `make test` has just run arm64-test in the same lane).
kernel-test-arm64:
	@scripts/install-deps kernel arm64
	scripts/arm64-test --build-only $(ARM64_BUILD)
	RAMS_KERNEL_ARCH=arm64 RAMS_DYN_BUILD=$(ARM64_BUILD) scripts/kernel-test build-kernel-arm64
	scripts/check-skips kernel-arm64 build-kernel-arm64/serial.log

# Each run lands in $(BUILD)/bench/runs/<date>-<commit>/ (earlier runs are
# kept; bench/compare A B sets two side by side). `make report` renders the
# plots of the newest run into docs/figures/ and regenerates the generated
# blocks of docs/BENCHMARKS.md.
bench: build
	@scripts/install-deps bench
	bench/run $(BUILD)

report:
	@scripts/install-deps bench
	/usr/bin/python3 bench/report.py --run $(BUILD)/bench/latest

# The suite in a Debian 12 container under rootful podman (or a named skip).
bench-container: build
	@scripts/install-deps container
	scripts/bench-container $(BUILD)

# The matrix multiplication and IPC benchmarks of the aarch64 cross-build
# under qemu-user, as a functional check (no timings judged).
bench-arm64:
	@scripts/install-deps arm64
	scripts/bench-arm64 $(ARM64_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(ARM64_BUILD) $(WINDOWS_BUILD) build-kernel \
	  build-kernel-arm64 build-deb
