# The two commands of the quick start are `make run` and `make test`.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
BIN := $(BUILD_DIR)/src/cli/mangaassist
CONFIG ?= config/mangaassist.yaml

.PHONY: all deps configure build run test test-asan bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET)

run: build
	$(BIN) serve --config $(CONFIG)

test: build
	@ctest --preset $(PRESET)

test-asan:
	@$(MAKE) --no-print-directory test PRESET=asan-ubsan

bench: build
	@bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf build
