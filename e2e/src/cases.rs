//! Data-driven e2e cases: one YAML file per case, run through a command line
//! that both `policy-host run` and `kwctl run` accept.
//!
//! ```yaml
//! description: text
//! request: ../requests/web-create.json      # relative to the case file
//! settings: {}                              # optional, passed as --settings-json
//! session: ../sessions/service-headless.yml # optional; adds --allow-context-aware
//! expect:
//!   settingsValid: true        # false: the run must fail, stderr must hold messageContains
//!   allowed: true
//!   code: 400
//!   messageContains: ["..."]
//!   messageExcludes: ["..."]
//!   warningsContain: ["..."]
//!   warningsCount: 2
//!   patch: [ {op: add, path: /spec/podManagementPolicy, value: Parallel} ]
//!   noPatch: true               # same as `patch: null`
//!   hostCalls: 2                # policy-host only
//! ```
//!
//! See `e2e/README.md` for the full description.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::request::AdmissionRequest;
use crate::{CACHE_DIR_ENV, HOST_CALLS_STDERR_PREFIX, REPLAY_PROBLEM_STDERR_PREFIX};

fn default_true() -> bool {
    true
}

/// Distinguishes `patch: null` (`Some(None)`) from no `patch` key (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(deserializer).map(Some)
}

/// The `expect` block of a case.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectations {
    #[serde(default = "default_true")]
    pub settings_valid: bool,
    #[serde(default)]
    pub allowed: Option<bool>,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message_contains: Vec<String>,
    #[serde(default)]
    pub message_excludes: Vec<String>,
    #[serde(default)]
    pub warnings_contain: Vec<String>,
    #[serde(default)]
    pub warnings_count: Option<usize>,
    /// `None`: not checked; `Some(None)`: no patch; `Some(Some(ops))`: exactly these ops.
    #[serde(default, deserialize_with = "present")]
    pub patch: Option<Option<Value>>,
    #[serde(default)]
    pub no_patch: bool,
    #[serde(default)]
    pub host_calls: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CaseFile {
    description: String,
    request: PathBuf,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    session: Option<PathBuf>,
    expect: Expectations,
}

/// A loaded case, with its paths resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// File name without extension.
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub request: PathBuf,
    pub settings: Option<Value>,
    pub session: Option<PathBuf>,
    pub expect: Expectations,
}

impl Case {
    pub fn from_path(file: &Path) -> Result<Case> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read case {}", file.display()))?;
        let raw: CaseFile = serde_yaml::from_str(&text)
            .with_context(|| format!("case {} is not valid", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string());
        let expect = raw.expect;
        if expect.settings_valid && expect.allowed.is_none() {
            bail!(
                "case {}: expect.allowed is required when settingsValid is true",
                file.display()
            );
        }
        if expect.no_patch && matches!(expect.patch, Some(Some(_))) {
            bail!(
                "case {}: noPatch: true contradicts a non-null patch",
                file.display()
            );
        }
        if let Some(settings) = &raw.settings {
            if !settings.is_object() {
                bail!("case {}: settings must be a map", file.display());
            }
        }
        Ok(Case {
            name,
            file: file.to_path_buf(),
            description: raw.description,
            request: base.join(raw.request),
            settings: raw.settings,
            session: raw.session.map(|s| base.join(s)),
            expect,
        })
    }

    /// True when the expectations say there must be no patch.
    fn expects_no_patch(&self) -> bool {
        self.expect.no_patch || matches!(self.expect.patch, Some(None))
    }
}

/// Every `*.yml` / `*.yaml` case in `dir`, sorted by file name.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list cases directory {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list cases directory {}", dir.display()))?
            .path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files.iter().map(|f| Case::from_path(f)).collect()
}

/// Which program evaluates the cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCommand {
    /// The `policy-host` binary at this path.
    PolicyHost(PathBuf),
    /// A kwctl executable (name on PATH or path).
    Kwctl(PathBuf),
}

impl HostCommand {
    fn is_policy_host(&self) -> bool {
        matches!(self, HostCommand::PolicyHost(_))
    }

    /// `<host> run [--settings-json J] --request-path R [--allow-context-aware
    /// --replay-host-capabilities-interactions S] MODULE`: only flags kwctl
    /// knows, so the same case runs under both.
    pub fn command(&self, case: &Case, module: &Path) -> Command {
        let program = match self {
            HostCommand::PolicyHost(path) | HostCommand::Kwctl(path) => path,
        };
        let mut command = Command::new(program);
        if self.is_policy_host() && std::env::var_os(CACHE_DIR_ENV).is_none() {
            // Every case loads the same module: compile it once, not per case.
            command.env(
                CACHE_DIR_ENV,
                std::env::temp_dir().join("policy-host-wasmtime-cache"),
            );
        }
        command.arg("run");
        if let Some(settings) = &case.settings {
            command.arg("--settings-json").arg(settings.to_string());
        }
        command.arg("--request-path").arg(&case.request);
        if let Some(session) = &case.session {
            command
                .arg("--allow-context-aware")
                .arg("--replay-host-capabilities-interactions")
                .arg(session);
        }
        command.arg(module);
        command
    }
}

impl fmt::Display for HostCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCommand::PolicyHost(path) => write!(f, "policy-host ({})", path.display()),
            HostCommand::Kwctl(path) => write!(f, "kwctl ({})", path.display()),
        }
    }
}

/// A case that did not meet its expectations.
#[derive(Clone, Debug)]
pub struct CaseFailure {
    pub case: String,
    pub description: String,
    pub command: String,
    pub problems: Vec<String>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- case `{}`: {}", self.case, self.description)?;
        writeln!(f, "    command: {}", self.command)?;
        for problem in &self.problems {
            for (index, line) in problem.lines().enumerate() {
                let bullet = if index == 0 { "  - " } else { "      " };
                writeln!(f, "{bullet}{line}")?;
            }
        }
        if !self.stdout.trim().is_empty() {
            writeln!(f, "    stdout: {}", self.stdout.trim())?;
        }
        let stderr: Vec<&str> = self.stderr.lines().collect();
        if !stderr.is_empty() {
            writeln!(f, "    stderr (last lines):")?;
            for line in &stderr[stderr.len().saturating_sub(8)..] {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

/// Runs one case; `None` when every expectation holds.
pub fn run_case(host: &HostCommand, module: &Path, case: &Case) -> Option<CaseFailure> {
    let mut command = host.command(case, module);
    let command_line = format!("{command:?}");
    let failure = |problems: Vec<String>, stdout: String, stderr: String| CaseFailure {
        case: case.name.clone(),
        description: case.description.clone(),
        command: command_line.clone(),
        problems,
        stdout,
        stderr,
    };
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => {
            return Some(failure(
                vec![format!("cannot start {host}: {e}")],
                String::new(),
                String::new(),
            ))
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let problems = check_outcome(host, case, output.status.success(), &stdout, &stderr);
    if problems.is_empty() {
        None
    } else {
        Some(failure(problems, stdout, stderr))
    }
}

fn check_outcome(
    host: &HostCommand,
    case: &Case,
    succeeded: bool,
    stdout: &str,
    stderr: &str,
) -> Vec<String> {
    let expect = &case.expect;
    let mut problems = Vec::new();

    if !expect.settings_valid {
        if succeeded {
            problems.push(
                "settingsValid: expected the run to fail on invalid settings, but it succeeded"
                    .into(),
            );
        }
        // kwctl prints `Provided settings are not valid: {:?}`, so the policy's
        // message arrives Debug-quoted (`\"` for `"`): match both spellings.
        let unquoted = undo_debug_escapes(stderr);
        let found = |fragment: &str| stderr.contains(fragment) || unquoted.contains(fragment);
        for fragment in &expect.message_contains {
            if !found(fragment) {
                problems.push(format!("messageContains: stderr lacks {fragment:?}"));
            }
        }
        for fragment in &expect.message_excludes {
            if found(fragment) {
                problems.push(format!("messageExcludes: stderr contains {fragment:?}"));
            }
        }
        return problems;
    }

    if !succeeded {
        problems.push("the run failed (non-zero exit), expected an AdmissionResponse".into());
        return problems;
    }
    let Some(response) = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .and_then(|line| serde_json::from_str::<Value>(line).ok())
    else {
        problems.push("stdout holds no AdmissionResponse JSON".into());
        return problems;
    };

    if let Some(allowed) = expect.allowed {
        let actual = response.get("allowed").and_then(Value::as_bool);
        if actual != Some(allowed) {
            problems.push(format!("allowed: expected {allowed}, got {}", show(actual)));
        }
    }
    let message = response
        .pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(code) = expect.code {
        let actual = response.pointer("/status/code").and_then(Value::as_u64);
        if actual != Some(u64::from(code)) {
            problems.push(format!("code: expected {code}, got {}", show(actual)));
        }
    }
    for fragment in &expect.message_contains {
        if !message.contains(fragment.as_str()) {
            problems.push(format!(
                "messageContains: {fragment:?} not found in message {message:?}"
            ));
        }
    }
    for fragment in &expect.message_excludes {
        if message.contains(fragment.as_str()) {
            problems.push(format!(
                "messageExcludes: {fragment:?} found in message {message:?}"
            ));
        }
    }
    let warnings: Vec<&str> = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for fragment in &expect.warnings_contain {
        if !warnings.iter().any(|w| w.contains(fragment.as_str())) {
            problems.push(format!(
                "warningsContain: no warning contains {fragment:?}; warnings: {warnings:?}"
            ));
        }
    }
    if let Some(count) = expect.warnings_count {
        if warnings.len() != count {
            problems.push(format!(
                "warningsCount: expected {count}, got {}: {warnings:?}",
                warnings.len()
            ));
        }
    }
    problems.extend(check_patch(case, &response));

    if host.is_policy_host() {
        let replay_problems: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix(REPLAY_PROBLEM_STDERR_PREFIX))
            .collect();
        for problem in replay_problems {
            problems.push(format!("replay session: {problem}"));
        }
        if let Some(expected) = expect.host_calls {
            let actual = stderr
                .lines()
                .find_map(|l| l.strip_prefix(HOST_CALLS_STDERR_PREFIX))
                .and_then(|n| n.trim().parse::<usize>().ok());
            if actual != Some(expected) {
                problems.push(format!(
                    "hostCalls: expected {expected}, got {}",
                    show(actual)
                ));
            }
        }
    }
    problems
}

/// Reverses the escapes `{:?}` applies inside a string (`\"`, `\\`, `\n`, ...).
fn undo_debug_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn show<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "nothing".to_string(), |v| v.to_string())
}

fn decode_patch(response: &Value) -> Result<Option<Value>> {
    use base64::Engine as _;
    let Some(encoded) = response.get("patch").and_then(Value::as_str) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("patch is not base64")?;
    Ok(Some(
        serde_json::from_slice(&bytes).context("patch is not JSON")?,
    ))
}

fn check_patch(case: &Case, response: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let actual = match decode_patch(response) {
        Ok(actual) => actual,
        Err(e) => return vec![format!("patch: {e:#}")],
    };
    let patch_type = response.get("patchType").and_then(Value::as_str);
    if actual.is_some() != patch_type.is_some() {
        problems.push(format!(
            "patchType {} does not go with patch {}",
            show(patch_type),
            show(actual.as_ref())
        ));
    }
    if actual.is_some() && patch_type != Some("JSONPatch") {
        problems.push(format!(
            "patchType: expected \"JSONPatch\", got {}",
            show(patch_type)
        ));
    }
    if case.expects_no_patch() {
        if let Some(actual) = &actual {
            problems.push(format!("patch: expected no patch, got {actual}"));
        }
        return problems;
    }
    let Some(Some(expected)) = &case.expect.patch else {
        return problems;
    };
    match &actual {
        None => problems.push(format!("patch: expected {expected}, got no patch")),
        Some(actual) => {
            if let Err(e) = same_patch(case, expected, actual) {
                problems.push(format!(
                    "patch: {e:#}\n expected: {expected}\n   actual: {actual}"
                ));
            }
        }
    }
    problems
}

/// Equal as written, or the same operations in another order that produce
/// the same document: the order of operations on distinct object members
/// only reflects map iteration order in the host's JSON library.
fn same_patch(case: &Case, expected: &Value, actual: &Value) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    let sorted = |patch: &Value| -> Result<Vec<String>> {
        let mut ops: Vec<String> = patch
            .as_array()
            .ok_or_else(|| anyhow!("a JSONPatch must be a list"))?
            .iter()
            .map(Value::to_string)
            .collect();
        ops.sort();
        Ok(ops)
    };
    if sorted(expected)? != sorted(actual)? {
        bail!("the operations differ");
    }
    let request = AdmissionRequest::from_path(&case.request)?;
    let object = request
        .object
        .ok_or_else(|| anyhow!("the request has no object to apply the patch to"))?;
    let apply = |patch: &Value| -> Result<Value> {
        let patch: json_patch::Patch = serde_json::from_value(patch.clone())?;
        let mut document = object.clone();
        json_patch::patch(&mut document, &patch)?;
        Ok(document)
    };
    if apply(expected)? != apply(actual)? {
        bail!("the same operations in this order give a different object");
    }
    Ok(())
}

/// Runs `cases` on up to `parallelism` threads; returns the failures in case order.
pub fn run_cases(
    host: &HostCommand,
    module: &Path,
    cases: &[Case],
    parallelism: usize,
) -> Vec<CaseFailure> {
    let parallelism = parallelism.clamp(1, cases.len().max(1));
    let chunk = cases.len().div_ceil(parallelism).max(1);
    let mut results: Vec<(usize, CaseFailure)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .enumerate()
            .map(|(chunk_index, chunk_cases)| {
                scope.spawn(move || {
                    chunk_cases
                        .iter()
                        .enumerate()
                        .filter_map(|(i, case)| {
                            run_case(host, module, case).map(|f| (chunk_index * chunk + i, f))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .flat_map(|(chunk_index, handle)| {
                handle.join().unwrap_or_else(|_| {
                    // Never lose cases silently: a crashed runner thread
                    // fails the first case of its chunk.
                    let first = &cases[chunk_index * chunk];
                    vec![(
                        chunk_index * chunk,
                        CaseFailure {
                            case: first.name.clone(),
                            description: first.description.clone(),
                            command: String::new(),
                            problems: vec![
                                "the runner thread for this case and the ones after it panicked"
                                    .to_string(),
                            ],
                            stdout: String::new(),
                            stderr: String::new(),
                        },
                    )]
                })
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, failure)| failure).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_escapes_are_undone() {
        let debug_quoted = format!("not valid: {:?}", "size \"10GB\" is bad\nC:\\x");
        assert_eq!(
            undo_debug_escapes(&debug_quoted),
            "not valid: \"size \"10GB\" is bad\nC:\\x\""
        );
    }

    #[test]
    fn patch_key_absent_null_and_list() {
        let absent: Expectations = serde_yaml::from_str("allowed: true").unwrap();
        assert_eq!(absent.patch, None);
        let null: Expectations = serde_yaml::from_str("allowed: true\npatch: null").unwrap();
        assert_eq!(null.patch, Some(None));
        let ops: Expectations =
            serde_yaml::from_str("allowed: true\npatch: [{op: add, path: /a, value: 1}]").unwrap();
        assert_eq!(
            ops.patch,
            Some(Some(
                serde_json::json!([{"op": "add", "path": "/a", "value": 1}])
            ))
        );
        assert!(serde_yaml::from_str::<Expectations>("alowed: true").is_err());
    }
}
