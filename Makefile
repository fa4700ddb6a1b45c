# statefulset-policy: build, test and run the Kubewarden policy.
# `make demo` runs the policy on the bundled example requests; `make test` runs everything.

SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
CARGO ?= cargo
# The host is built once, optimised, and shared by the e2e tests, the demo and the benchmarks.
HOST_PROFILE := host
HOST := target/$(HOST_PROFILE)/policy-host
POLICY_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
HOST_SOURCES := $(shell find e2e/src -name '*.rs') e2e/Cargo.toml Cargo.lock
# Features rustc enables for wasm32-wasip1; older wasm-opt releases do not detect them.
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers \
	--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-mutable-globals --enable-reference-types --enable-multivalue
export POLICY_HOST_CACHE_DIR ?= $(CURDIR)/target/wasmtime-cache

.PHONY: all demo stress fuzz bench budgets test fmt fmt-check lint unit-tests e2e-tests e2e-kwctl clean wasm-target wasm-opt host

all: annotated-policy.wasm

# The wasm target and wasm-opt are added on demand, so a fresh machine needs nothing else.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

wasm-opt:
	@command -v wasm-opt >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen; \
	  else echo "wasm-opt is missing: install binaryen (apt-get install binaryen)" >&2; exit 1; fi; }

policy.wasm: $(POLICY_SOURCES) | wasm-target
	$(CARGO) build --release --locked --target $(WASM_TARGET) -p statefulset-policy
	cp target/$(WASM_TARGET)/release/statefulset_policy.wasm policy.wasm

# Size-optimised module: what the budgets measure and what gets annotated.
policy-optimized.wasm: policy.wasm | wasm-opt
	wasm-opt $(WASM_OPT_FLAGS) policy.wasm -o policy-optimized.wasm

$(HOST): $(HOST_SOURCES)
	$(CARGO) build --locked --profile $(HOST_PROFILE) -p policy-host

host: $(HOST)

# Metadata embedded the way `kwctl annotate` does (custom section io.kubewarden.metadata).
annotated-policy.wasm: policy-optimized.wasm policy-metadata.yml README.md $(HOST)
	$(HOST) annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy-optimized.wasm

demo: annotated-policy.wasm
	@$(HOST) demo --settings-path examples/settings.yml --requests examples/requests \
	  --sessions examples/sessions annotated-policy.wasm

# Kubewarden's release action regenerates the Artifact Hub package with kwctl and
# checks it is unchanged; tests/distribution.rs keeps the committed file consistent.
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
artifacthub-pkg.yml: policy-metadata.yml questions-ui.yml Cargo.toml
	@command -v kwctl >/dev/null || { echo "kwctl is not on PATH: it generates artifacthub-pkg.yml (tests/distribution.rs checks the committed one)" >&2; exit 2; }
	kwctl scaffold artifacthub --metadata-path policy-metadata.yml --version $(VERSION) \
	  --questions-path questions-ui.yml --output artifacthub-pkg.yml

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint: | wasm-target
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p statefulset-policy --target $(WASM_TARGET) -- -D warnings

unit-tests:
	$(CARGO) test --locked -p statefulset-policy

e2e-tests: annotated-policy.wasm
	POLICY_MODULE=$(CURDIR)/annotated-policy.wasm \
	  $(CARGO) test --locked --profile $(HOST_PROFILE) -p policy-host

# The very same cases through the real kwctl.
e2e-kwctl: annotated-policy.wasm
	@command -v kwctl >/dev/null || { echo "kwctl is not on PATH: install kwctl to run the e2e cases through it" >&2; exit 2; }
	POLICY_HOST_CMD=kwctl POLICY_MODULE=$(CURDIR)/annotated-policy.wasm \
	  $(CARGO) test --locked --profile $(HOST_PROFILE) -p policy-host --test cases

# Fuzzing: nightly + cargo-fuzz, each target for FUZZ_SECONDS seconds with debug
# assertions. New inputs go to fuzz/target/corpus (ignored); fuzz/corpus holds the seeds.
# Plain `cargo`: `+nightly` only works through rustup's cargo.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := validate_bytes validate_json validate_statefulset validate_settings
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@cd fuzz && for target in $(FUZZ_TARGETS); do \
	  mkdir -p target/corpus/$$target && \
	  cargo +nightly fuzz run $$target target/corpus/$$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 || exit 1; \
	done

# 10 000 evaluations in one host process, resident memory reported as it goes.
stress: annotated-policy.wasm
	$(CARGO) run --locked --profile $(HOST_PROFILE) -p policy-host --example stress -- annotated-policy.wasm 10000

# Sizes, fresh-instance evaluation times (median/p99 over 1000) and host calls, against a
# decode-only baseline module built from the same SDK; the last line is `ratio-to-baseline: X.XX`.
bench: annotated-policy.wasm | wasm-target wasm-opt
	$(CARGO) run --locked --profile $(HOST_PROFILE) -p policy-bench -- \
	  --optimized policy-optimized.wasm --annotated annotated-policy.wasm \
	  --wasm-opt-flags "$(WASM_OPT_FLAGS)"

# The deterministic budgets: module size and host calls per StatefulSet.
budgets: annotated-policy.wasm
	POLICY_MODULE=$(CURDIR)/annotated-policy.wasm \
	  $(CARGO) test --locked --profile $(HOST_PROFILE) -p policy-bench --test budgets

test: fmt-check lint unit-tests e2e-tests budgets

clean:
	$(CARGO) clean
	rm -f policy.wasm policy-optimized.wasm annotated-policy.wasm
