//! `policy-bench` (`make bench`): module sizes, evaluation time and host calls
//! of statefulset-policy, next to a decode-only baseline built from the same SDK.
//!
//! ```text
//! policy-bench [--optimized policy-optimized.wasm] [--annotated annotated-policy.wasm]
//!              [--settings examples/policy-server/policies.yml] [--iterations 1000]
//!              [--warmup 50] [--wasm-opt-flags "-Oz ..."] [--baseline MODULE.wasm]
//!              [--floor MODULE.wasm] [--requests small,real-cluster,large]
//! ```
//!
//! `--requests` measures only the named requests (all three by default); the
//! ratio lines whose rows were not measured are left out.
//!
//! Settings of the policy rows:
//! - `operator`: `--settings`, by default the settings an operator deploys with
//!   policy-server (`examples/policy-server/policies.yml`): allow-listed classes
//!   that must exist, access modes, sizes, a default class, the Service checks;
//! - `platform`: `examples/settings.yml`, the profile `make demo` uses, which also
//!   sets every default (on the real-cluster request it mutates, then denies);
//! - `default`: `{}` (the Service checks only);
//! - `all look-ups`: every look-up check on (real-cluster request only).
//!
//! The baseline and floor rows get the operator settings (they ignore them).
//! The last lines printed are the ratios of medians:
//! - `ratio-platform: X.XX`: the policy with the platform settings (every default,
//!   so the real-cluster CREATE is mutated) over the baseline, real-cluster request;
//! - `ratio-large-platform: X.XX`: the same on the large request;
//! - `ratio-to-floor: X.XX`: the policy with the operator settings over the floor
//!   module, which accepts without reading the request, real-cluster request;
//! - last, `ratio-to-baseline: X.XX`: the policy with the operator settings over
//!   the baseline, real-cluster request.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use policy_bench::baseline::{self, Guest};
use policy_bench::cluster::{session_for, Lookups};
use policy_bench::measure::{measure, Measured, Row};
use policy_bench::stats::micros;
use policy_bench::{all_lookups_settings, large, paths, read_json, read_settings};
use policy_host::{AdmissionRequest, Evaluator, EvaluatorOptions};
use serde_json::{json, Value};

struct Options {
    optimized: PathBuf,
    annotated: PathBuf,
    settings: PathBuf,
    iterations: usize,
    warmup: usize,
    wasm_opt_flags: String,
    baseline: Option<PathBuf>,
    floor: Option<PathBuf>,
    requests: Option<Vec<String>>,
}

const USAGE: &str = "usage: policy-bench [--optimized FILE] [--annotated FILE] [--settings FILE] \
[--iterations N] [--warmup N] [--wasm-opt-flags FLAGS] [--baseline FILE] [--floor FILE] \
[--requests LABEL,...]";

fn parse_options() -> Result<Options> {
    let mut options = Options {
        optimized: "policy-optimized.wasm".into(),
        annotated: "annotated-policy.wasm".into(),
        settings: "examples/policy-server/policies.yml".into(),
        iterations: 1000,
        warmup: 50,
        wasm_opt_flags: baseline::DEFAULT_WASM_OPT_FLAGS.into(),
        baseline: None,
        floor: None,
        requests: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .with_context(|| format!("{flag}: not a count: {v}"))
        };
        match flag.as_str() {
            "--optimized" => options.optimized = value.into(),
            "--annotated" => options.annotated = value.into(),
            "--settings" => options.settings = value.into(),
            "--iterations" => options.iterations = number(&value)?,
            "--warmup" => options.warmup = number(&value)?,
            "--wasm-opt-flags" => options.wasm_opt_flags = value,
            "--baseline" => options.baseline = Some(value.into()),
            "--floor" => options.floor = Some(value.into()),
            "--requests" => {
                options.requests = Some(value.split(',').map(|l| l.trim().to_string()).collect())
            }
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    if options.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    Ok(options)
}

fn file_size(path: &std::path::Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| {
            format!(
                "cannot read {} (run make annotated-policy.wasm)",
                path.display()
            )
        })?
        .len())
}

fn load_evaluator(path: &std::path::Path, allow_context_aware: bool) -> Result<Evaluator> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Evaluator::new(
        &bytes,
        EvaluatorOptions {
            allow_context_aware,
            compilation_cache_dir: std::env::var_os(policy_host::CACHE_DIR_ENV).map(PathBuf::from),
            ..EvaluatorOptions::default()
        },
    )
    .with_context(|| format!("cannot load {}", path.display()))
}

/// A request of the table: its label, the AdmissionRequest JSON, its size.
struct Request {
    label: &'static str,
    json: Value,
}

impl Request {
    fn admission_request(&self) -> Result<AdmissionRequest> {
        AdmissionRequest::from_json(&self.json)
    }

    fn bytes(&self) -> usize {
        self.json.to_string().len()
    }
}

fn run() -> Result<()> {
    let options = parse_options()?;
    let root = paths::repository_root();
    let optimized = paths::resolve(&options.optimized);
    let annotated = paths::resolve(&options.annotated);
    let settings_path = paths::resolve(&options.settings);

    let profile = baseline::policy_release_profile()?;
    let guest_path = |given: &Option<PathBuf>, guest: Guest| match given {
        Some(path) => Ok(paths::resolve(path)),
        None => baseline::build(guest, &options.wasm_opt_flags, &profile),
    };
    let baseline_path = guest_path(&options.baseline, Guest::Baseline)?;
    let floor_path = guest_path(&options.floor, Guest::Floor)?;
    let optimized_size = file_size(&optimized)?;
    let annotated_size = file_size(&annotated)?;
    let baseline_size = file_size(&baseline_path)?;
    let floor_size = file_size(&floor_path)?;

    let policy = load_evaluator(&annotated, true)?;
    let baseline = load_evaluator(&baseline_path, false)?;
    let floor = load_evaluator(&floor_path, false)?;

    let operator = read_settings(&settings_path)?;
    let platform = read_settings(&root.join("examples/settings.yml"))?;
    let default = json!({});
    let lookups = all_lookups_settings();
    for (label, settings) in [("operator", &operator), ("platform", &platform)] {
        let validation = policy.validate_settings(settings)?;
        if !validation.valid {
            bail!(
                "{label} settings are not valid: {}",
                validation.message.unwrap_or_default()
            );
        }
    }

    let requests = [
        Request {
            label: "small",
            json: read_json(&root.join("e2e/requests/web-create.json"))?,
        },
        Request {
            label: "real-cluster",
            json: read_json(&root.join("e2e/requests/real-cluster-create.json"))?,
        },
        Request {
            label: "large",
            json: large::request(),
        },
    ];

    let requests: Vec<Request> = match &options.requests {
        None => requests.into(),
        Some(wanted) => {
            if let Some(unknown) = wanted
                .iter()
                .find(|w| !requests.iter().any(|r| r.label == w.as_str()))
            {
                bail!("--requests: no request labelled {unknown} (small, real-cluster, large)");
            }
            requests
                .into_iter()
                .filter(|r| wanted.iter().any(|w| w == r.label))
                .collect()
        }
    };

    let mut rows = Vec::new();
    for request in &requests {
        let admission = request.admission_request()?;
        let policy_row = |settings_label: &str, settings: &Value, looked_up: Lookups| Row {
            request_label: request.label.into(),
            module_label: "policy".into(),
            settings_label: settings_label.into(),
            evaluator: &policy,
            request: admission.clone(),
            settings: settings.clone(),
            session: Some(session_for(&request.json, looked_up)),
        };
        rows.push(policy_row(
            "operator",
            &operator,
            Lookups::ServiceAndStorageClasses,
        ));
        rows.push(policy_row(
            "platform",
            &platform,
            Lookups::ServiceAndStorageClasses,
        ));
        rows.push(policy_row("default", &default, Lookups::Service));
        if request.label == "real-cluster" {
            rows.push(policy_row("all look-ups", &lookups, Lookups::All));
        }
        for (module_label, evaluator) in [("baseline", &baseline), ("floor", &floor)] {
            rows.push(Row {
                request_label: request.label.into(),
                module_label: module_label.into(),
                settings_label: "operator".into(),
                evaluator,
                request: admission.clone(),
                settings: operator.clone(),
                session: None,
            });
        }
    }

    eprintln!(
        "policy-bench: {} rows x ({} warm-up + {} timed) evaluations, interleaved...",
        rows.len(),
        options.warmup,
        options.iterations
    );
    let mut measured = Vec::with_capacity(rows.len());
    for request in &requests {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|row| row.request_label == request.label)
            .collect();
        measured.extend(measure(&group, options.warmup, options.iterations)?);
    }

    println!("statefulset-policy bench");
    println!(
        "each row: {} evaluations, fresh instance + validate + drop (as policy-server per request), \
after {} untimed rounds; rows interleaved round-robin",
        options.iterations, options.warmup
    );
    println!(
        "settings: operator = {} (policy-server's), platform = examples/settings.yml (make demo's), \
default = {{}}, all look-ups = {lookups}; the baseline and the floor get the operator settings",
        options.settings.display()
    );
    println!();
    println!("| module | bytes |");
    println!("|---|---:|");
    println!(
        "| {} (optimized) | {optimized_size} |",
        options.optimized.display()
    );
    println!(
        "| {} (annotated) | {annotated_size} |",
        options.annotated.display()
    );
    println!("| baseline (optimized) | {baseline_size} |");
    println!("| floor (optimized) | {floor_size} |");
    println!();
    let profile: Vec<String> = profile.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    match &options.baseline {
        None => println!(
            "both modules: [profile.release] {}; wasm-opt {}",
            profile.join(", "),
            options.wasm_opt_flags
        ),
        Some(path) => println!("baseline: {} (given)", path.display()),
    }
    if let Some(path) = &options.floor {
        println!("floor: {} (given)", path.display());
    }
    println!();
    println!("| request | bytes | module | settings | host calls | verdict | median µs | p99 µs |");
    println!("|---|---:|---|---|---:|---|---:|---:|");
    for (row, Measured { outcome, summary }) in rows.iter().zip(&measured) {
        let bytes = requests
            .iter()
            .find(|r| r.label == row.request_label)
            .map_or(0, Request::bytes);
        println!(
            "| {} | {bytes} | {} | {} | {} | {} | {} | {} |",
            row.request_label,
            row.module_label,
            row.settings_label,
            outcome.host_calls,
            outcome.verdict,
            micros(summary.median),
            micros(summary.p99)
        );
    }

    let median = |request: &str, module: &str, settings: &str| {
        rows.iter()
            .zip(&measured)
            .find(|(r, _)| {
                r.request_label == request
                    && r.module_label == module
                    && r.settings_label == settings
            })
            .map(|(_, m)| m.summary.median.as_secs_f64())
    };
    // A ratio of two rows, when both were measured.
    let ratio = |over: (&str, &str, &str), under: (&str, &str, &str)| {
        Some(median(over.0, over.1, over.2)? / median(under.0, under.1, under.2)?)
    };
    let baseline_row = ("real-cluster", "baseline", "operator");
    println!();
    for settings in ["operator", "platform", "default", "all look-ups"] {
        if let Some(r) = ratio(("real-cluster", "policy", settings), baseline_row) {
            println!("real-cluster median over the baseline's, {settings} settings: {r:.2}");
        }
    }
    let ratios = [
        (
            "ratio-platform",
            ("real-cluster", "policy", "platform"),
            baseline_row,
        ),
        (
            "ratio-large-platform",
            ("large", "policy", "platform"),
            ("large", "baseline", "operator"),
        ),
        (
            "ratio-to-floor",
            ("real-cluster", "policy", "operator"),
            ("real-cluster", "floor", "operator"),
        ),
        (
            "ratio-to-baseline",
            ("real-cluster", "policy", "operator"),
            baseline_row,
        ),
    ];
    for (label, over, under) in ratios {
        if let Some(r) = ratio(over, under) {
            println!("{label}: {r:.2}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
