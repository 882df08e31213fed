# The two commands: `make test` and `make train`. On a machine without make, run
# scripts/bootstrap first (the README's `scripts/bootstrap && make test`), which installs it.
# Both set up the machine first with scripts/bootstrap too (quiet when there is nothing to do).
JOBS ?= $(shell nproc)
PRESET ?= default
TRAIN_ARGS ?=
# The tests run with build/venv first on PATH: its python3 has the reference safetensors.
TEST_ENV = PATH="$(CURDIR)/build/venv/bin:$$PATH"

.PHONY: all bootstrap build test sanitize train consumer fuzz clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset $(PRESET)
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@$(TEST_ENV) ctest --preset $(PRESET) -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests (CPU backend).
sanitize:
	@$(MAKE) --no-print-directory test PRESET=sanitize

train: build
	@build/examples/fashion_mnist $(TRAIN_ARGS)

# volt used from another CMake project: installed (CPU only and with CUDA), as a subdirectory,
# through pkg-config (tests/consumer/run).
consumer: build
	@tests/consumer/run build

# Each libFuzzer target for FUZZ_SECONDS under ASan + UBSan (scripts/fuzz).
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build build-sanitize build-fuzz
