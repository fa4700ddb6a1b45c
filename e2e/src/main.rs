//! `policy-host` command line: `run`, `annotate`, `inspect` and `demo`, with
//! the flags of the matching kwctl commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use policy_host::demo;
use policy_host::metadata::{
    annotate, read_metadata_json, AnnotateInput, PolicyMetadata, ANNOTATION_KWCTL_VERSION,
};
use policy_host::{
    settings_object, AdmissionRequest, ContextAwareResource, Evaluator, EvaluatorOptions,
    ReplaySession, CACHE_DIR_ENV, HOST_CALLS_STDERR_PREFIX, REPLAY_PROBLEM_STDERR_PREFIX,
};

#[derive(Parser)]
#[command(
    name = "policy-host",
    version,
    about = "Offline Kubewarden policy host: kwctl-compatible `run` and `annotate`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a request with a policy, like `kwctl run`; prints the AdmissionResponse.
    Run(RunArgs),
    /// Embed metadata in a module, like `kwctl annotate`.
    Annotate(AnnotateArgs),
    /// Evaluate every example request of a folder and print the verdicts for a person.
    Demo(DemoArgs),
    /// Print the metadata embedded in a module.
    Inspect {
        /// The policy module (.wasm).
        module: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Policy settings as JSON.
    #[arg(long, conflicts_with = "settings_path")]
    settings_json: Option<String>,
    /// File with the policy settings (YAML or JSON).
    #[arg(short = 's', long)]
    settings_path: Option<PathBuf>,
    /// File with the AdmissionRequest or AdmissionReview (JSON).
    #[arg(short = 'r', long)]
    request_path: PathBuf,
    /// Let the policy read the Kubernetes resource types listed in its metadata.
    #[arg(long)]
    allow_context_aware: bool,
    /// kwctl replay session answering the policy's Kubernetes look-ups.
    #[arg(long, value_name = "SESSION_FILE")]
    replay_host_capabilities_interactions: Option<PathBuf>,
    /// Also grant this resource type (API_VERSION/KIND, e.g. storage.k8s.io/v1/StorageClass).
    #[arg(long, value_name = "API_VERSION/KIND", value_parser = parse_resource_type)]
    context_aware_resource: Vec<ContextAwareResource>,
    /// Stop the policy after this many milliseconds (policy-server's --policy-timeout).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Print the policy's log events on stderr (also enabled by RUST_LOG).
    #[arg(short = 'v', long)]
    verbose: bool,
    /// The policy module (.wasm).
    module: PathBuf,
}

#[derive(Args)]
struct DemoArgs {
    /// Settings file (YAML or JSON) used for every request.
    #[arg(short = 's', long)]
    settings_path: PathBuf,
    /// Folder of AdmissionRequest / AdmissionReview files (*.json).
    #[arg(long)]
    requests: PathBuf,
    /// Folder of replay sessions, one per request file of the same name (*.yml).
    #[arg(long)]
    sessions: PathBuf,
    /// The policy module (.wasm), annotated so that its look-ups are granted.
    module: PathBuf,
}

#[derive(Args)]
struct AnnotateArgs {
    /// metadata.yml to embed.
    #[arg(short = 'm', long)]
    metadata_path: PathBuf,
    /// README to store as the `io.kubewarden.policy.usage` annotation.
    #[arg(short = 'u', long)]
    usage_path: Option<PathBuf>,
    /// Where to write the annotated module.
    #[arg(short = 'o', long)]
    output_path: PathBuf,
    /// The module to annotate.
    module: PathBuf,
}

fn parse_resource_type(text: &str) -> Result<ContextAwareResource, String> {
    match text.rsplit_once('/') {
        Some((api_version, kind)) if !api_version.is_empty() && !kind.is_empty() => {
            Ok(ContextAwareResource {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })
        }
        _ => Err(format!(
            "expected API_VERSION/KIND (e.g. v1/Service), got {text:?}"
        )),
    }
}

fn compilation_cache_dir() -> Option<PathBuf> {
    std::env::var_os(CACHE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Writes one line on stdout. A reader that went away (`| head`) is not an
/// error worth a panic, which is what `println!` would do.
fn print_line(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn read_module(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read module {}", path.display()))
}

/// Settings the way kwctl reads them: `--settings-path` as YAML (a superset
/// of JSON), `--settings-json` as JSON, none as `{}`.
fn read_settings(args: &RunArgs) -> Result<Value> {
    let settings = if let Some(path) = &args.settings_path {
        let file = std::fs::File::open(path)
            .with_context(|| format!("Cannot open settings file {}", path.display()))?;
        serde_yaml::from_reader::<_, Value>(file)
            .with_context(|| format!("Cannot parse settings file {}", path.display()))?
    } else if let Some(json) = &args.settings_json {
        serde_json::from_str(json).context("Cannot parse settings JSON")?
    } else {
        Value::Null
    };
    settings_object(settings)
}

fn run(args: RunArgs) -> Result<()> {
    let settings = read_settings(&args)?;
    let request = AdmissionRequest::from_path(&args.request_path)?;
    let session = args
        .replay_host_capabilities_interactions
        .as_deref()
        .map(ReplaySession::from_path)
        .transpose()?;
    let module = read_module(&args.module)?;
    let evaluator = Evaluator::new(
        &module,
        EvaluatorOptions {
            timeout: Duration::from_millis(args.timeout_ms),
            allow_context_aware: args.allow_context_aware,
            extra_context_aware_resources: args.context_aware_resource.clone(),
            print_guest_logs: args.verbose || std::env::var_os("RUST_LOG").is_some(),
            compilation_cache_dir: compilation_cache_dir(),
        },
    )
    .with_context(|| format!("cannot load policy {}", args.module.display()))?;

    // One fresh instance for the whole evaluation, as the brief for this host
    // asks: protocol check, settings validation, then the request.
    let instance = evaluator.instantiate(session)?;
    instance.protocol_version()?;
    let settings_validation = instance.validate_settings(&settings);
    if !settings_validation.valid {
        return Err(anyhow!(
            "Provided settings are not valid: {:?}",
            settings_validation.message.unwrap_or_default()
        ));
    }
    let evaluation = instance.validate(&request, &settings);

    for problem in &evaluation.replay_problems {
        eprintln!("{REPLAY_PROBLEM_STDERR_PREFIX}{problem}");
    }
    if evaluation.unused_exchanges > 0 {
        eprintln!(
            "{REPLAY_PROBLEM_STDERR_PREFIX}{} recorded exchange(s) have not been replayed",
            evaluation.unused_exchanges
        );
    }
    eprintln!("{HOST_CALLS_STDERR_PREFIX}{}", evaluation.host_calls);
    print_line(
        &serde_json::to_string(&evaluation.response).context("cannot serialize the response")?,
    )
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let settings = settings_object(
        serde_yaml::from_reader::<_, Value>(
            std::fs::File::open(&args.settings_path)
                .with_context(|| format!("cannot open {}", args.settings_path.display()))?,
        )
        .with_context(|| format!("cannot parse {}", args.settings_path.display()))?,
    )?;
    let module = read_module(&args.module)?;
    let evaluator = Evaluator::new(
        &module,
        EvaluatorOptions {
            allow_context_aware: true,
            compilation_cache_dir: compilation_cache_dir(),
            ..EvaluatorOptions::default()
        },
    )
    .with_context(|| format!("cannot load policy {}", args.module.display()))?;
    let validation = evaluator.validate_settings(&settings)?;
    if !validation.valid {
        return Err(anyhow!(
            "{}: settings are not valid: {}",
            args.settings_path.display(),
            validation.message.unwrap_or_default()
        ));
    }
    print_line(&format!(
        "Evaluating {} with the settings of {}\n",
        args.requests.display(),
        args.settings_path.display()
    ))?;
    for (request_path, session_path) in demo::examples(&args.requests, &args.sessions)? {
        let request = AdmissionRequest::from_path(&request_path)?;
        let session = session_path
            .as_deref()
            .map(ReplaySession::from_path)
            .transpose()?;
        let evaluation = evaluator
            .instantiate(session)?
            .validate(&request, &settings);
        print_line(&demo::report(&request_path, &request, &evaluation)?)?;
    }
    Ok(())
}

fn run_annotate(args: AnnotateArgs) -> Result<()> {
    let module = read_module(&args.module)?;
    let metadata_yaml = std::fs::read_to_string(&args.metadata_path)
        .with_context(|| format!("cannot read metadata {}", args.metadata_path.display()))?;
    let usage = args
        .usage_path
        .as_deref()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read usage file {}", path.display()))
        })
        .transpose()?;
    // Like kwctl, ask the module itself which protocol it speaks.
    let options = EvaluatorOptions {
        compilation_cache_dir: compilation_cache_dir(),
        ..EvaluatorOptions::default()
    };
    let protocol_version = Evaluator::new(&module, options)
        .with_context(|| format!("cannot load policy {}", args.module.display()))?
        .protocol_version()?;
    let stamped_by_kwctl = PolicyMetadata::from_yaml_str(&metadata_yaml)
        .ok()
        .and_then(|m| m.annotations)
        .is_some_and(|a| a.contains_key(ANNOTATION_KWCTL_VERSION));
    if stamped_by_kwctl {
        eprintln!(
            "policy-host: dropping the {ANNOTATION_KWCTL_VERSION} annotation: this module is annotated by policy-host, not kwctl"
        );
    }
    let (annotated, _) = annotate(
        &module,
        AnnotateInput {
            metadata_yaml: &metadata_yaml,
            usage: usage.as_deref(),
            protocol_version,
        },
    )
    .with_context(|| format!("cannot annotate with {}", args.metadata_path.display()))?;
    std::fs::write(&args.output_path, annotated)
        .with_context(|| format!("cannot write {}", args.output_path.display()))?;
    Ok(())
}

fn run_inspect(module_path: &Path) -> Result<()> {
    let module = read_module(module_path)?;
    let metadata = read_metadata_json(&module)?.ok_or_else(|| {
        anyhow!(
            "{} has no io.kubewarden.metadata section: it has not been annotated",
            module_path.display()
        )
    })?;
    print_line(&serde_json::to_string_pretty(&metadata)?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Annotate(args) => run_annotate(args),
        Command::Demo(args) => run_demo(args),
        Command::Inspect { module } => run_inspect(&module),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
