# statefulset-policy: build, test and run the Kubewarden policy.
# `make demo` runs the policy on the bundled example requests; `make test` runs everything.

SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
CARGO ?= cargo
RUSTC ?= rustc
RUSTUP ?= rustup
# `make demo` and `make test` run independent builds side by side (the policy module next
# to the host, the lint and unit tests next to the end-to-end suite), sharing JOBS CPUs
# through make's jobserver, which cargo and rustc join (hence the `+` on cargo lines).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUBMAKE := $(MAKE) --no-print-directory -j$(JOBS)
# The host is built once, in one profile with one feature set, and shared by the demo, the
# e2e tests (the same `cargo build` units are reused by `cargo test`) and the benchmarks.
HOST_PROFILE := host
HOST := target/$(HOST_PROFILE)/policy-host
WASM_RELEASE := target/$(WASM_TARGET)/release
TEST_GUEST := $(WASM_RELEASE)/policy_host_test_guest.wasm
POLICY_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
TEST_GUEST_SOURCES := $(shell find e2e/test-guest/src -name '*.rs') e2e/test-guest/Cargo.toml
HOST_SOURCES := $(shell find e2e/src -name '*.rs') e2e/Cargo.toml Cargo.toml Cargo.lock
# Features rustc enables for wasm32-wasip1; older wasm-opt releases do not detect them.
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers \
	--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-mutable-globals --enable-reference-types --enable-multivalue
export POLICY_HOST_CACHE_DIR ?= $(CURDIR)/target/wasmtime-cache

.PHONY: all demo stress fuzz bench budgets test fmt fmt-check lint unit-tests lint-then-unit-tests \
	e2e-tests e2e-kwctl clean wasm-target rust-components wasm-opt host release-dry-run

all: annotated-policy.wasm

# Beyond a Rust toolchain installed with rustup, a fresh machine lacks the wasm target, the
# rustfmt and clippy components and wasm-opt: they are added on first use, wasm-opt
# (binaryen) with apt-get when run as root. Otherwise a message names what to install.
rustup-add = if command -v $(RUSTUP) >/dev/null; then $(RUSTUP) $(1) add $(2); else \
	echo "$(2) is missing and rustup is not on PATH to add it: install Rust with rustup (https://rustup.rs), then \`rustup $(1) add $(2)\`" >&2; exit 1; fi

# MAKEFLAGS unset: under make -j it names jobserver descriptors that make keeps from this
# (non-recursive) line, and rustc would warn that it cannot open them.
wasm-target:
	@[ -d "$$(MAKEFLAGS= $(RUSTC) --print sysroot)/lib/rustlib/$(WASM_TARGET)" ] || $(call rustup-add,target,$(WASM_TARGET))

rust-components:
	@$(CARGO) fmt --version >/dev/null 2>&1 || $(call rustup-add,component,rustfmt)
	@$(CARGO) clippy --version >/dev/null 2>&1 || $(call rustup-add,component,clippy)

wasm-opt:
	@command -v wasm-opt >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen; \
	  else echo "wasm-opt is missing: install binaryen (apt-get install binaryen)" >&2; exit 1; fi; }

policy.wasm: $(POLICY_SOURCES) | wasm-target
	+$(CARGO) build --release --locked --target $(WASM_TARGET) -p statefulset-policy
	cp $(WASM_RELEASE)/statefulset_policy.wasm policy.wasm

# The host tests' guest module (e2e/test-guest). Built in the same cargo run as the policy,
# after it: its dependencies then get the policy's features and are reused, where a build of
# the guest alone would compile them all again.
$(TEST_GUEST): policy.wasm $(TEST_GUEST_SOURCES)
	+$(CARGO) build --release --locked --target $(WASM_TARGET) -p statefulset-policy -p policy-host-test-guest
	@touch $@ # cargo leaves an up-to-date artifact's time stamp alone; make would run it again

# Size-optimised module: what the budgets measure and what gets annotated.
policy-optimized.wasm: policy.wasm | wasm-opt
	wasm-opt $(WASM_OPT_FLAGS) policy.wasm -o policy-optimized.wasm

$(HOST): $(HOST_SOURCES)
	@echo "Building policy-host: the first build compiles the wasm engine (wasmtime) and takes a few minutes."
	+$(CARGO) build --locked --profile $(HOST_PROFILE) -p policy-host
	@touch $@ # cargo leaves an up-to-date artifact's time stamp alone; make would run it again

host: $(HOST)

# Metadata embedded the way `kwctl annotate` does (custom section io.kubewarden.metadata).
annotated-policy.wasm: policy-optimized.wasm policy-metadata.yml README.md $(HOST)
	$(HOST) annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy-optimized.wasm

# The module and the host build side by side.
demo:
	+@$(SUBMAKE) annotated-policy.wasm
	@$(HOST) demo --settings-path examples/settings.yml --requests examples/requests \
	  --sessions examples/sessions annotated-policy.wasm

# artifacthub-pkg.yml is generated at release, not committed: Kubewarden's push-artifacthub
# action (kubewarden/github-actions v7.0.1) runs this very command, which reads metadata.yml,
# its io.kubewarden.policy.version and questions-ui.yml. Here, for a look at it (needs kwctl).
artifacthub-pkg.yml: policy-metadata.yml questions-ui.yml
	@command -v kwctl >/dev/null || { echo "kwctl is not on PATH: it generates artifacthub-pkg.yml (the release runs it)" >&2; exit 2; }
	kwctl scaffold artifacthub --output artifacthub-pkg.yml

# The release's steps that run offline (tools/release-dry-run says which): build as the
# release builds, annotate, and check the versions, the annotated module's metadata and the
# Artifact Hub files. Part of `make test`.
release-dry-run: annotated-policy.wasm
	+tools/release-dry-run $(HOST)

fmt: | rust-components
	$(CARGO) fmt --all

fmt-check: | rust-components
	$(CARGO) fmt --all -- --check

lint: | wasm-target rust-components
	+$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	+$(CARGO) clippy --locked -p statefulset-policy --target $(WASM_TARGET) -- -D warnings

# Test binaries run side by side (tools/run-test-binaries), then the doc tests.
unit-tests:
	+tools/run-test-binaries --locked -p statefulset-policy
	+$(CARGO) test --locked --doc -p statefulset-policy

# Every test of the host and of the bench crate (the budgets among them) on the built module.
e2e-tests: annotated-policy.wasm $(TEST_GUEST)
	+POLICY_MODULE=$(CURDIR)/annotated-policy.wasm \
	  tools/run-test-binaries --locked --profile $(HOST_PROFILE) -p policy-host -p policy-bench
	+$(CARGO) test --locked --doc --profile $(HOST_PROFILE) -p policy-host -p policy-bench

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
# BENCH_ARGS passes options on, e.g. BENCH_ARGS="--requests large --iterations 200".
bench: annotated-policy.wasm | wasm-target wasm-opt
	$(CARGO) run --locked --profile $(HOST_PROFILE) -p policy-bench -- \
	  --optimized policy-optimized.wasm --annotated annotated-policy.wasm \
	  --wasm-opt-flags "$(WASM_OPT_FLAGS)" $(BENCH_ARGS)

# The deterministic budgets: module size and host calls per StatefulSet.
budgets: annotated-policy.wasm
	POLICY_MODULE=$(CURDIR)/annotated-policy.wasm \
	  $(CARGO) test --locked --profile $(HOST_PROFILE) -p policy-bench --test budgets

# Formatting first (it fails in a second), then two lines side by side: the lint and the unit
# tests (native, target/debug), and the e2e suite (module, host, test binaries); then the
# release dry run, on what they built.
test: fmt-check
	+@$(SUBMAKE) e2e-tests lint-then-unit-tests
	+@$(MAKE) --no-print-directory release-dry-run

# The lint and the unit tests both build in target/debug, where cargo would make one wait
# for the other's lock: one after the other.
lint-then-unit-tests: lint
	+@$(MAKE) --no-print-directory unit-tests

clean:
	$(CARGO) clean
	rm -f policy.wasm policy-optimized.wasm annotated-policy.wasm
