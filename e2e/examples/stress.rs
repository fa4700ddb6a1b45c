//! Stress: many evaluations in one host process, each on a fresh instance as
//! policy-server does, reporting resident memory as it goes, so that a leak in
//! the host or growth in the engine shows as a rising column.
//!
//! `cargo run --profile host -p policy-host --example stress -- [MODULE] [EVALUATIONS]`
//! (defaults: the repository root's annotated-policy.wasm, 10000).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use policy_host::{AdmissionRequest, Evaluator, EvaluatorOptions, ReplaySession};

/// Resident set size of this process, in KiB (Linux).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = std::env::args().skip(1);
    let module_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("annotated-policy.wasm"));
    let evaluations: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);

    let module = std::fs::read(&module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    let evaluator = Evaluator::new(
        &module,
        EvaluatorOptions {
            allow_context_aware: true,
            ..EvaluatorOptions::default()
        },
    )?;
    // The context-aware path on the real-cluster request: a Service and the
    // StorageClass list per evaluation, replayed.
    let request = AdmissionRequest::from_path(&root.join("e2e/requests/real-cluster-create.json"))?;
    let session_text =
        std::fs::read_to_string(root.join("e2e/sessions/service-nginx-and-storage-classes.yml"))?;
    let settings = json!({
        "storage": {"storageClassMustExist": true, "allowedStorageClasses": ["my-storage-class"]},
        "defaults": {"podManagementPolicy": "Parallel"}
    });

    println!(
        "{:>11} {:>12} {:>14}",
        "evaluations", "RSS (KiB)", "µs/evaluation"
    );
    let start = Instant::now();
    let mut since = Instant::now();
    let mut first_rss = None;
    for n in 1..=evaluations {
        let session = ReplaySession::from_yaml_str(&session_text)?;
        let evaluation = evaluator
            .instantiate(Some(session))?
            .validate(&request, &settings);
        // Refused (the class is not among the replayed ones) after the full path:
        // decode, mutate, both look-ups, every check. Never a 500.
        let code = evaluation.response.status.as_ref().and_then(|s| s.code);
        ensure!(
            code != Some(500),
            "evaluation {n}: {:?}",
            evaluation.response.status
        );
        ensure!(
            evaluation.host_calls == 2,
            "evaluation {n}: {} host calls",
            evaluation.host_calls
        );
        if n % (evaluations / 10).max(1) == 0 {
            let rss = resident_kib().unwrap_or(0);
            first_rss.get_or_insert(rss);
            let per = since.elapsed().as_micros() as f64 / (evaluations / 10).max(1) as f64;
            println!("{n:>11} {rss:>12} {per:>14.0}");
            since = Instant::now();
        }
    }
    let last = resident_kib().unwrap_or(0);
    println!(
        "{evaluations} evaluations in {:.1} s; RSS after the first tenth {} KiB, at the end {last} KiB",
        start.elapsed().as_secs_f64(),
        first_rss.unwrap_or(0)
    );
    Ok(())
}
