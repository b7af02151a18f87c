# crproxy build targets. `make` alone builds dist/.
VERSION := $(shell node -p "require('./package.json').version")
IMAGE   ?= crproxy
PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: all build test bench docker release clean

all: build

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

build: node_modules
	npm run build

test: node_modules
	npm test

bench: build
	node bench/run.mjs

docker:
	docker buildx build --platform $(PLATFORMS) -t $(IMAGE):$(VERSION) .

# A tarball of dist/ with production dependencies only.
release: build
	rm -rf release && mkdir -p release/crproxy-$(VERSION)
	cp -r bin dist registrymap.json package.json package-lock.json README.md release/crproxy-$(VERSION)/
	cd release/crproxy-$(VERSION) && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	tar -C release -czf release/crproxy-$(VERSION).tar.gz crproxy-$(VERSION)

clean:
	rm -rf dist release .tap
