# cmemu: every target installs what it needs and is safe to re-run.
#   make test   - the whole test suite
#   make demo   - the main demo
SHELL := /bin/bash
.ONESHELL:
.PHONY: all deps node native firmware build test demo bench clean bare

STAMP := build/.stamps

all: build native firmware

$(STAMP):
	mkdir -p $(STAMP)

deps: $(STAMP)/debs
$(STAMP)/debs: scripts/ensure-debs.sh | $(STAMP)
	bash scripts/ensure-debs.sh
	touch $@

node: node_modules/.package-lock.json
# npm ci first; npm 11.19 records only this platform's optional packages (rollup's) in the lock and
# then refuses its own lock in `npm ci`, so fall back to an install that follows the lock without
# rewriting it.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund || { echo "cmemu: npm ci refused the lock file; installing from it with npm install --no-save" >&2; npm install --no-save --no-audit --no-fund; }
	test -d node_modules/vitest && touch $@

native: native/build/Release/cmemu.node
native/deps/unicorn/.complete: scripts/fetch-unicorn.sh | deps
	bash scripts/fetch-unicorn.sh
native/build/Release/cmemu.node: native/deps/unicorn/.complete node_modules/.package-lock.json native/binding.gyp $(wildcard native/src/*)
	npx node-gyp rebuild --directory native --loglevel=warn

firmware: deps
	$(MAKE) -C firmware --no-print-directory

build: dist/.built
dist/.built: node_modules/.package-lock.json tsconfig.json scripts/bundle.mjs $(shell find src -name '*.ts')
	npx tsc -p tsconfig.json
	node scripts/bundle.mjs
	touch $@

test: deps build native firmware
	npx vitest run

demo: deps build native firmware
	node dist/cli/demo.js

# The bare-engine harness (native/bench/bare.c): the same libunicorn.a as the addon, no hooks.
BARE := build/bench/bare
bare: $(BARE)
$(BARE): native/bench/bare.c native/deps/unicorn/.complete
	mkdir -p $(dir $@)
	cc -O2 -Wall -Wextra -Wl,--no-relax -o $@ native/bench/bare.c -Inative/deps/unicorn/include native/deps/unicorn/lib/libunicorn.a -lpthread -lm -lrt

bench: deps build native firmware $(BARE)
	node dist/bench/run.js
	node dist/bench/world.js
	node dist/bench/gdb.js
	node dist/bench/trace.js
	node dist/bench/snapshot.js

clean:
	rm -rf dist native/build firmware/build build

# The Linux peer (docs/linux-peer.md): a Debian arm64 guest in qemu-system-aarch64 with PCI
# ivshmem-doorbell, and the demo pairing it with a cmemu board. The guest build caches itself.
.PHONY: linux-guest demo-linux
linux-guest: deps
	bash scripts/linux-guest/build.sh

demo-linux: deps build native firmware linux-guest
	node dist/cli/demo-linux.js

# Long runs with figures (issue 11): 10^6 messages each way through our server with RSS/fd
# figures, and 8 pairs (16 boards) on one server. SOAK_N, SOAK_PAIRS, SOAK_PAIR_N override.
.PHONY: soak
soak: deps build native firmware
	node dist/bench/soak.js
