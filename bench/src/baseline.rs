//! The comparison modules, built for wasm32-wasip1 with the policy's release
//! profile and optimised with the Makefile's wasm-opt flags:
//! - [`Guest::Baseline`] (`bench/baseline-guest`): decodes the request as the
//!   SDK and k8s-openapi do, then accepts;
//! - [`Guest::Floor`] (`bench/floor-guest`): accepts without reading the request.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths;

/// The Makefile's `WASM_OPT_FLAGS`, used when the caller passes none.
pub const DEFAULT_WASM_OPT_FLAGS: &str = "-Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-mutable-globals --enable-reference-types --enable-multivalue";

const WASM_TARGET: &str = "wasm32-wasip1";

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {what}: {command:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): {command:?}");
    }
    Ok(())
}

/// The `key = value` lines of the repository's `[profile.release]`, as TOML
/// text: the profile the policy is built with.
pub fn policy_release_profile() -> Result<Vec<(String, String)>> {
    let path = paths::repository_root().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut in_section = false;
    let mut settings = Vec::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            in_section = line == "[profile.release]";
        } else if let (true, Some((key, value))) = (in_section, line.split_once('=')) {
            settings.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if settings.is_empty() {
        bail!("{} has no [profile.release]", path.display());
    }
    Ok(settings)
}

/// A comparison module of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    Baseline,
    Floor,
}

impl Guest {
    /// The crate's folder under `bench/`, which is also its package name.
    fn crate_name(self) -> &'static str {
        match self {
            Guest::Baseline => "baseline-guest",
            Guest::Floor => "floor-guest",
        }
    }
}

/// Builds and optimises `guest` with the policy's release profile (`profile`,
/// from [`policy_release_profile`]); returns the optimised module's path.
pub fn build(guest: Guest, wasm_opt_flags: &str, profile: &[(String, String)]) -> Result<PathBuf> {
    let target_dir = paths::target_dir();
    let name = guest.crate_name();
    let manifest = paths::repository_root().join(format!("bench/{name}/Cargo.toml"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--release", "--locked", "--target", WASM_TARGET]);
    // The guest's own manifest holds the same profile; these keep it in step
    // when the policy's changes.
    for (key, value) in profile {
        command
            .arg("--config")
            .arg(format!("profile.release.{key}={value}"));
    }
    run(
        command
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            // `cargo run` exports variables for the bench binary that must not
            // leak into the guest's build (its own workspace, its own profile).
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
        &format!("building {name}"),
    )?;
    let built = target_dir
        .join(WASM_TARGET)
        .join(format!("release/{}.wasm", name.replace('-', "_")));
    let out_dir = target_dir.join("bench");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let optimized = out_dir.join(format!("{name}-optimized.wasm"));
    optimize(&built, &optimized, wasm_opt_flags)?;
    Ok(optimized)
}

/// `wasm-opt FLAGS input -o output`, as the Makefile's policy-optimized.wasm rule.
pub fn optimize(input: &Path, output: &Path, wasm_opt_flags: &str) -> Result<()> {
    run(
        Command::new("wasm-opt")
            .args(wasm_opt_flags.split_whitespace())
            .arg(input)
            .arg("-o")
            .arg(output),
        "wasm-opt on a comparison guest",
    )
}
