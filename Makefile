# crproxy build targets. `make` alone builds dist/.
#
#   make build     compile TypeScript to dist/ (version and build time stamped
#                  into lib/build-info.ts by scripts/stamp.mjs)
#   make test      build, type-check and run the tap suite
#   make bench     benchmarks against distribution and nginx (bench/run.mjs)
#   make image     this machine's image, IMAGE:TAG (default crproxy:local),
#                  with the docker CLI at DOCKER_HOST; builds the base offline
#                  when it cannot be pulled (scripts/offline-base.sh)
#   make docker    multi-arch image with buildx (PLATFORMS, IMAGE, PUSH=1)
#   make release   release/crproxy-<version>.tar.gz: dist/ + bin/ + production
#                  dependencies; plus a single-file executable (Node SEA) for
#                  this platform when SEA=1
#   make clean     remove build output
VERSION     := $(shell node -p "require('./package.json').version")
IMAGE       ?= crproxy
PLATFORMS   ?= linux/amd64,linux/arm64
RELEASE_DIR ?= release
PKG         := crproxy-$(VERSION)
SEA         ?= 0
TAG         ?= local
DOCKER      ?= docker
NODE_MAJOR  := $(shell sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)

.PHONY: all build test bench image docker release sea clean

all: build

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

build: node_modules
	npm run build

test: node_modules
	npm test

# Loopback benchmark against distribution (direct and proxy mode) and nginx;
# a few minutes. Knobs (BENCH_ROUNDS, BENCH_BLOB_MIB, …): docs/benchmarks.md.
bench: build
	node bench/run.mjs

# --network host: the build's `npm ci` reaches the registry however the host
# does (a daemon may have no bridge network, as CI's has not).
# DOCKER_BUILDKIT=0: the classic builder needs neither the buildx plugin nor
# a frontend image from Docker Hub.
image:
	DOCKER="$(DOCKER)" scripts/offline-base.sh node:$(NODE_MAJOR)-bookworm-slim
	DOCKER_BUILDKIT=0 $(DOCKER) build --network host -t $(IMAGE):$(TAG) .
	@$(DOCKER) image inspect --format '$(IMAGE):$(TAG) {{.Size}} bytes' $(IMAGE):$(TAG)

# buildx builds every platform in one go; without PUSH=1 the result stays in
# the build cache (a multi-platform image cannot be loaded into `docker images`).
docker:
	docker buildx build --platform $(PLATFORMS) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest \
		$(if $(filter 1,$(PUSH)),--push,) .

# A tarball of dist/ with production dependencies only. Unpack anywhere with
# Node >= 20 and run <dir>/bin/crproxy.
release: build
	rm -rf $(RELEASE_DIR)/$(PKG) $(RELEASE_DIR)/$(PKG).tar.gz
	mkdir -p $(RELEASE_DIR)/$(PKG)
	cp -r bin dist registrymap.json package.json package-lock.json README.md $(RELEASE_DIR)/$(PKG)/
	cp -r deploy $(RELEASE_DIR)/$(PKG)/
	cd $(RELEASE_DIR)/$(PKG) && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	tar -C $(RELEASE_DIR) -czf $(RELEASE_DIR)/$(PKG).tar.gz $(PKG)
	@echo "release: $(RELEASE_DIR)/$(PKG).tar.gz"
	$(if $(filter 1,$(SEA)),$(MAKE) sea,)

# Single-file executable (Node SEA, --experimental-sea-config): esbuild bundles
# dist/ into one CommonJS file, postject injects it into a copy of this node
# binary. Both come from npm on demand (npx); see scripts/sea.mjs.
sea: build
	node scripts/sea.mjs $(RELEASE_DIR) $(PKG)

clean:
	rm -rf dist release .tap
