# ossa: run `make help` for the targets.
GO        ?= go
PKGS      ?= ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/ossa-platform/ossa/internal/cli.Version=$(VERSION)
BENCHTIME ?= 2s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## run every service in one process on :3000 (SQLite under ./data)
	$(GO) run ./cmd/ossa serve

.PHONY: build
build: ## build bin/ossa
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ossa ./cmd/ossa

.PHONY: test
test: ## run every test (PostgreSQL/Redis suites run when OSSA_TEST_POSTGRES_URL / OSSA_TEST_REDIS_URL are set, A2A interop after npm ci --prefix interop/a2a)
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

.PHONY: bench
bench: ## run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

.PHONY: fuzz
fuzz: ## fuzz the manifest parser for 60s
	$(GO) test -run '^$$' -fuzz FuzzValidate -fuzztime 60s ./internal/manifest

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)

.PHONY: clean
clean: ## remove build output and the embedded data directory
	rm -rf bin data
