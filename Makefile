# The two commands: `make test` and `make train`. Both set up a fresh Debian machine first.
JOBS ?= $(shell nproc)
PRESET ?= default
TRAIN_ARGS ?=

.PHONY: all bootstrap build test sanitize train clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
sanitize:
	@$(MAKE) --no-print-directory test PRESET=sanitize

train: build
	@build/examples/fashion_mnist $(TRAIN_ARGS)

clean:
	rm -rf build build-sanitize
