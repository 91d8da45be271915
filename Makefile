# rams: the two commands are `make demo` and `make test` (see README.md).
# Every target first installs the missing Debian packages it needs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
# Bounded fuzzing inside `make test`: seconds per target.
FUZZ_SECONDS ?= 20

.PHONY: all build deps demo test unit-test asan-test tsan-test fuzz-test kernel-test \
        install-test bench clean

all: build

deps:
	@scripts/install-deps build

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/demo/rams-demo
	@echo
	$(BUILD)/demo/rams-remote-demo

test: build
	@scripts/install-deps kernel
	$(MAKE) --no-print-directory unit-test install-test asan-test tsan-test fuzz-test kernel-test

unit-test:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

install-test:
	tests/install/run $(BUILD)

asan-test:
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_SANITIZE=address,undefined -DRAMS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -LE no-asan

tsan-test:
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_SANITIZE=thread -DRAMS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -L threads

fuzz-test:
	@cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMS_FUZZ=ON -DRAMS_BUILD_TESTS=OFF -DRAMS_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

kernel-test:
	@if [ -x scripts/kernel-test ]; then scripts/kernel-test; \
	 else echo "kernel-test: no kernel suite in this tree yet"; fi

bench: build
	@scripts/install-deps bench
	bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-kernel
