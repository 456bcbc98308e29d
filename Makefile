# FlowLens. `make demo` runs the product; `make test` runs every test.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build demo test test-short vet fuzz bench generate clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/flowlens ./cmd/flowlens
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/flowlens-agent ./cmd/flowlens-agent

# The server on a temporary embedded store, the example topology and a
# simulated fleet; prints the URL and the token.
demo: build
	$(BIN)/flowlens demo

# Every test: unit, golden, conformance, end to end. Integration tests that
# need root, network namespaces, eBPF, ClickHouse or Chromium skip with the
# reason when those are missing; CI (.ci/run) installs them.
test: vet
	$(GO) test -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . ; echo "gofmt needed"; exit 1)
	$(GO) vet ./...

# Run each fuzz target for a while (FUZZTIME=1m make fuzz).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./wire -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./topology -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./publisher -run '^$$' -fuzz FuzzSpoolRecord -fuzztime $(FUZZTIME)
	$(GO) test ./geoip -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internet -run '^$$' -fuzz FuzzParseFilter -fuzztime $(FUZZTIME)
	$(GO) test ./monitor -run '^$$' -fuzz FuzzConfig -fuzztime $(FUZZTIME)
	$(GO) test ./metricfilter -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./metricfilter -run '^$$' -fuzz FuzzRegexPrefilter -fuzztime $(FUZZTIME)
	$(GO) test ./flowlog -run '^$$' -fuzz FuzzParseRecord -fuzztime $(FUZZTIME)
	$(GO) test ./flowlog -run '^$$' -fuzz FuzzParseFormat -fuzztime $(FUZZTIME)
	$(GO) test ./flowlog -run '^$$' -fuzz '^FuzzScanner$$' -fuzztime $(FUZZTIME)
	$(GO) test ./flowlog -run '^$$' -fuzz FuzzFileTime -fuzztime $(FUZZTIME)
	$(GO) test ./web -run '^$$' -fuzz FuzzParseUsers -fuzztime $(FUZZTIME)
	$(GO) test ./web -run '^$$' -fuzz FuzzSafeNext -fuzztime $(FUZZTIME)
	$(GO) test ./logquery -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./topology -run '^$$' -fuzz '^FuzzResource$$' -fuzztime $(FUZZTIME)
	$(GO) test ./topology -run '^$$' -fuzz '^FuzzImportAWS$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alarm -run '^$$' -fuzz FuzzAllowlist -fuzztime $(FUZZTIME)
	$(GO) test ./agent/sockdiag -run '^$$' -fuzz '^FuzzParseTCPInfo$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/flowlens -run '^$$' -fuzz '^FuzzParseStore$$' -fuzztime $(FUZZTIME)
	$(GO) test ./agent/sockdiag -run '^$$' -fuzz '^FuzzParseSocket$$' -fuzztime $(FUZZTIME)
	$(GO) test ./agent/sockdiag -run '^$$' -fuzz '^FuzzParseSockstat$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server -run '^$$' -fuzz '^FuzzParseAgentTokens$$' -fuzztime $(FUZZTIME)
	$(GO) test ./agent -run '^$$' -fuzz '^FuzzParseThreadStatus$$' -fuzztime $(FUZZTIME)
	$(GO) test ./diagnose/awsconfig -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./applog -run '^$$' -fuzz '^FuzzDiscover$$' -fuzztime $(FUZZTIME)

# Regenerate the protobuf code (needs protoc and protoc-gen-go) and the
# committed BPF object and Go bindings (needs clang, llvm, libbpf-dev). After a
# kernel upgrade only: bpftool btf dump file /sys/kernel/btf/vmlinux format c > agent/ebpf/bpf/vmlinux.h
generate:
	protoc --go_out=. --go_opt=module=github.com/flowlens/flowlens proto/flowlens/v1/report.proto
	$(GO) generate ./agent/ebpf/

clean:
	rm -rf $(BIN)
