//! The real-world corpus: every StatefulSet pattern of `e2e/real-world/*.yaml`
//! through the built policy module, with default settings and with the
//! platform-guardrails profile, the look-ups answered by a read-only API server
//! holding the pattern's objects and the common cluster-wide ones.
//!
//! - module: `$POLICY_MODULE`, default `../annotated-policy.wasm`, compiled once;
//! - each pattern is sent as the API server sends a CREATE (AdmissionRequest
//!   with the API server's StatefulSet defaults applied to the object);
//! - the host grants every host capability and the four resource types of the
//!   guardrails profile, as `kwctl run --allow-context-aware` does with them;
//! - per pattern and profile: `allowed`, the check ids of the rejection message
//!   and of the warnings; a 500 fails the pattern. All failures are reported
//!   together, then a summary line (`real-world: ...`) is printed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use policy_host::{
    Answers, ClusterState, ContextAwareResource, Evaluation, Evaluator, EvaluatorOptions,
    HostCapabilities,
};
use serde::Deserialize;
use serde_json::{json, Value};

use common::{
    check_ids, compilation_cache_dir, manifest_dir, message, policy_module, repository_root,
};

/// The resource types the guardrails profile's ClusterAdmissionPolicy grants.
const GRANTED: [(&str, &str); 4] = [
    ("v1", "Service"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("apps/v1", "StatefulSet"),
    ("policy/v1", "PodDisruptionBudget"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pattern {
    project: String,
    source: String,
    version: String,
    pattern: String,
    namespace: String,
    #[serde(default)]
    objects: Vec<Value>,
    statefulset: Value,
    expect: Expectations,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    default: Expected,
    guardrails: Expected,
    #[serde(default, rename = "kubernetesFails")]
    kubernetes_fails: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    allowed: bool,
    #[serde(default)]
    denied: BTreeSet<String>,
    #[serde(default)]
    warnings: BTreeSet<String>,
}

/// A pattern file, read and checked for what the format requires.
fn load_pattern(path: &Path) -> Result<Pattern, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let pattern: Pattern = serde_yaml::from_str(&text).map_err(|e| format!("malformed: {e}"))?;
    let provenance = [
        ("project", &pattern.project),
        ("source", &pattern.source),
        ("version", &pattern.version),
        ("pattern", &pattern.pattern),
        ("namespace", &pattern.namespace),
    ];
    for (key, value) in provenance {
        if value.trim().is_empty() {
            return Err(format!(
                "`{key}` is empty: every pattern names its provenance"
            ));
        }
    }
    let fails = pattern.expect.kubernetes_fails.as_deref().map(str::trim);
    if !pattern.expect.default.allowed && fails.is_none_or(str::is_empty) {
        return Err(
            "`expect.default.allowed: false` without `expect.kubernetesFails`: with default \
             settings the policy denies only what Kubernetes itself fails on; say why it fails"
                .into(),
        );
    }
    for (profile, expected) in [
        ("default", &pattern.expect.default),
        ("guardrails", &pattern.expect.guardrails),
    ] {
        if expected.allowed && !expected.denied.is_empty() {
            return Err(format!(
                "`expect.{profile}` is allowed yet lists denied checks"
            ));
        }
        if !expected.allowed && expected.denied.is_empty() {
            return Err(format!(
                "`expect.{profile}` is refused yet lists no denied check"
            ));
        }
    }
    for key in ["apiVersion", "kind"] {
        if pattern.statefulset.get(key).is_none() {
            return Err(format!("`statefulset` has no {key}"));
        }
    }
    if pattern.statefulset["kind"] != "StatefulSet"
        || pattern.statefulset["metadata"]["name"].as_str().is_none()
    {
        return Err("`statefulset` must be a StatefulSet with a metadata.name".into());
    }
    Ok(pattern)
}

/// Every `*.yaml` of the corpus directory but `common-cluster.yaml`.
fn pattern_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .filter(|path| path.file_name().is_some_and(|n| n != "common-cluster.yaml"))
        .collect();
    files.sort();
    files
}

/// Namespaced objects without a namespace land in the pattern's, as
/// `kubectl apply -n <namespace>` puts them; Services get what the API
/// server fills in (`type: ClusterIP`, an allocated cluster IP).
fn as_stored(mut object: Value, namespace: &str, index: usize) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let cluster_scoped = matches!(
        kind.as_str(),
        "StorageClass" | "Namespace" | "PriorityClass"
    );
    if !cluster_scoped && object["metadata"]["namespace"].is_null() {
        object["metadata"]["namespace"] = json!(namespace);
    }
    if kind == "Service" {
        let spec = &mut object["spec"];
        if spec["type"].is_null() {
            spec["type"] = json!("ClusterIP");
        }
        let allocated = matches!(
            spec["type"].as_str(),
            Some("ClusterIP" | "NodePort" | "LoadBalancer")
        );
        if allocated && spec["clusterIP"].is_null() {
            spec["clusterIP"] = json!(format!("10.96.{}.{}", index / 250, index % 250 + 1));
        }
        if let Some(ip) = spec["clusterIP"].as_str().map(str::to_string) {
            spec["clusterIPs"] = json!([ip]);
        }
    }
    object
}

/// The defaults the API server writes into a StatefulSet before admission
/// (`SetDefaults_StatefulSet`, pkg/apis/apps/v1/defaults.go): replicas 1,
/// OrderedReady, RollingUpdate with partition 0, revisionHistoryLimit 10,
/// Retain/Retain claim retention, and Filesystem claims.
fn with_api_server_defaults(mut sts: Value, namespace: &str) -> Value {
    sts["metadata"]["namespace"] = json!(namespace);
    let spec = &mut sts["spec"];
    for (key, value) in [
        ("replicas", json!(1)),
        ("podManagementPolicy", json!("OrderedReady")),
        ("revisionHistoryLimit", json!(10)),
        (
            "persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        ),
    ] {
        if spec[key].is_null() {
            spec[key] = value;
        }
    }
    if spec["updateStrategy"]["type"].is_null() {
        spec["updateStrategy"]["type"] = json!("RollingUpdate");
    }
    if spec["updateStrategy"]["type"] == "RollingUpdate"
        && spec["updateStrategy"]["rollingUpdate"]["partition"].is_null()
    {
        spec["updateStrategy"]["rollingUpdate"]["partition"] = json!(0);
    }
    if let Some(claims) = spec["volumeClaimTemplates"].as_array_mut() {
        for claim in claims {
            claim["apiVersion"] = json!("v1");
            claim["kind"] = json!("PersistentVolumeClaim");
            if claim["spec"]["volumeMode"].is_null() {
                claim["spec"]["volumeMode"] = json!("Filesystem");
            }
            claim["status"] = json!({"phase": "Pending"});
        }
    }
    sts
}

/// The AdmissionRequest the API server sends for `kubectl create` of the set.
fn create_request(pattern: &Pattern, uid: usize) -> Value {
    let object = with_api_server_defaults(pattern.statefulset.clone(), &pattern.namespace);
    json!({
        "uid": format!("00000000-0000-4000-8000-{uid:012}"),
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "requestResource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "name": object["metadata"]["name"],
        "namespace": pattern.namespace,
        "operation": "CREATE",
        "userInfo": {
            "username": "kubernetes-admin",
            "groups": ["kubeadm:cluster-admins", "system:authenticated"]
        },
        "object": object,
        "dryRun": false,
        "options": {
            "apiVersion": "meta.k8s.io/v1",
            "kind": "CreateOptions",
            "fieldManager": "kubectl-create"
        }
    })
}

/// `spec.settings` of examples/policies/platform-guardrails.yml.
fn guardrails_settings() -> Value {
    let path = repository_root().join("examples/policies/platform-guardrails.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let policy: Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    let settings = policy["spec"]["settings"].clone();
    assert!(
        settings.is_object(),
        "{} has no spec.settings map",
        path.display()
    );
    settings
}

/// The check id a warning starts with (`[check-id] ...`).
fn warning_id(warning: &str) -> String {
    warning
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| format!("<no check id: {warning}>"))
}

struct Outcome {
    allowed: bool,
    denied: BTreeSet<String>,
    warnings: BTreeSet<String>,
}

/// What went wrong with one profile of one pattern, or `None`.
fn judge(evaluation: &Evaluation, expected: &Expected) -> (Outcome, Option<String>) {
    let response = &evaluation.response;
    let text = message(evaluation);
    let warnings: Vec<String> = response.warnings.clone().unwrap_or_default();
    let outcome = Outcome {
        allowed: response.allowed,
        denied: if response.allowed {
            BTreeSet::new()
        } else {
            check_ids(&text).into_iter().collect()
        },
        warnings: warnings.iter().map(|w| warning_id(w)).collect(),
    };
    let code = response.status.as_ref().and_then(|s| s.code);
    let mut problems = Vec::new();
    if code == Some(500) {
        problems.push("answered with code 500".to_string());
    }
    if outcome.allowed != expected.allowed {
        problems.push(format!(
            "allowed: {}, expected {}",
            outcome.allowed, expected.allowed
        ));
    }
    if outcome.denied != expected.denied {
        problems.push(format!(
            "denied {:?}, expected {:?}",
            outcome.denied, expected.denied
        ));
    }
    if outcome.warnings != expected.warnings {
        problems.push(format!(
            "warnings {:?}, expected {:?}",
            outcome.warnings, expected.warnings
        ));
    }
    if problems.is_empty() {
        return (outcome, None);
    }
    let mut report = problems.join("; ");
    if !text.is_empty() {
        report.push_str(&format!("\n      message: {text}"));
    }
    for warning in &warnings {
        report.push_str(&format!("\n      warning: {warning}"));
    }
    (outcome, Some(report))
}

#[test]
fn real_world_patterns() {
    let corpus = manifest_dir().join("real-world");
    let common = std::fs::read_to_string(corpus.join("common-cluster.yaml"))
        .expect("cannot read e2e/real-world/common-cluster.yaml");
    let common = ClusterState::from_yaml(&common).expect("common-cluster.yaml");

    let files = pattern_files(&corpus);
    let mut patterns = Vec::new();
    let mut malformed = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        match load_pattern(file) {
            Ok(pattern) => patterns.push((name, pattern)),
            Err(why) => malformed.push(format!("  {name}: {why}")),
        }
    }
    assert!(
        malformed.is_empty(),
        "malformed real-world patterns (see e2e/real-world/README.md):\n{}",
        malformed.join("\n")
    );
    assert!(!patterns.is_empty(), "no pattern in {}", corpus.display());

    let evaluator = Evaluator::new(
        &policy_module(),
        EvaluatorOptions {
            host_capabilities: HostCapabilities::AllowAll,
            allow_context_aware: true,
            extra_context_aware_resources: GRANTED
                .iter()
                .map(|(api_version, kind)| ContextAwareResource {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                })
                .collect(),
            compilation_cache_dir: Some(compilation_cache_dir()),
            ..EvaluatorOptions::default()
        },
    )
    .expect("cannot load the policy module");
    let profiles = [
        ("default", json!({})),
        ("guardrails", guardrails_settings()),
    ];
    for (profile, settings) in &profiles {
        let validation = evaluator
            .validate_settings(settings)
            .expect("validate_settings");
        assert!(
            validation.valid,
            "the {profile} settings are refused: {:?}",
            validation.message
        );
    }

    let mut failures = Vec::new();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut false_denials = Vec::new();
    let mut projects = BTreeSet::new();
    for (index, (name, pattern)) in patterns.iter().enumerate() {
        projects.insert(pattern.project.clone());
        let objects = pattern
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| as_stored(o.clone(), &pattern.namespace, i));
        let cluster = match common.clone().with(objects) {
            Ok(cluster) => cluster,
            Err(e) => {
                failures.push(format!("  {name}: objects: {e:#}"));
                continue;
            }
        };
        let request = create_request(pattern, index);
        for (profile, settings) in &profiles {
            let expected = match *profile {
                "default" => &pattern.expect.default,
                _ => &pattern.expect.guardrails,
            };
            let answers = Some(Answers::Cluster(cluster.clone()));
            let evaluation = match evaluator.evaluate_with(&request, settings, answers) {
                Ok(evaluation) => evaluation,
                Err(e) => {
                    failures.push(format!("  {name} [{profile}]: not evaluated: {e:#}"));
                    continue;
                }
            };
            let (outcome, problem) = judge(&evaluation, expected);
            let count = counts.entry(profile).or_default();
            if outcome.allowed {
                count.0 += 1;
            } else {
                count.1 += 1;
                if *profile == "default" && pattern.expect.kubernetes_fails.is_none() {
                    false_denials.push(name.clone());
                }
            }
            if let Some(problem) = problem {
                failures.push(format!("  {name} [{profile}]: {problem}"));
            }
        }
    }

    let (default_allowed, default_denied) = counts.get("default").copied().unwrap_or_default();
    let (guardrails_allowed, guardrails_denied) =
        counts.get("guardrails").copied().unwrap_or_default();
    let summary = format!(
        "real-world: {} patterns from {} projects; default: {default_allowed} allowed, \
         {default_denied} denied; guardrails: {guardrails_allowed} allowed, \
         {guardrails_denied} denied; default false denials: {}",
        patterns.len(),
        projects.len(),
        false_denials.len()
    );
    eprintln!("{summary}");
    if !false_denials.is_empty() {
        failures.push(format!(
            "  denied by default without kubernetesFails (false denials): {}",
            false_denials.join(", ")
        ));
    }
    assert!(
        failures.is_empty(),
        "{} real-world verdicts differ from the expectations:\n{}\n{summary}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn check_ids_are_read_from_messages_and_warnings() {
    let message = "StatefulSet \"web\" violates 2 rules: (1) [service-exists] spec.serviceName is \"x\": no [Service]. (2) [volume-mounts-resolve] spec.template.spec.containers[0].volumeMounts[1].name ...";
    assert_eq!(
        check_ids(message),
        vec!["service-exists", "volume-mounts-resolve"]
    );
    assert_eq!(
        warning_id("[pods-spread] spec.template.spec is ..."),
        "pods-spread"
    );
    assert!(warning_id("no id").starts_with("<no check id"));
}

#[test]
fn the_request_carries_the_api_servers_defaults() {
    let pattern: Pattern = serde_yaml::from_str(
        r#"
project: p
source: s
version: v
pattern: x
namespace: shop
statefulset:
  apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db}
  spec:
    updateStrategy: {type: OnDelete}
    volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
expect:
  default: {allowed: true}
  guardrails: {allowed: true}
"#,
    )
    .unwrap();
    let request = create_request(&pattern, 7);
    let object = &request["object"];
    assert_eq!(request["namespace"], "shop");
    assert_eq!(request["name"], "db");
    assert_eq!(object["metadata"]["namespace"], "shop");
    assert_eq!(object["spec"]["replicas"], 1);
    assert_eq!(object["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        object["spec"]["updateStrategy"],
        json!({"type": "OnDelete"})
    );
    assert_eq!(
        object["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert!(request.get("oldObject").is_none());

    let service = as_stored(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {}}),
        "shop",
        0,
    );
    assert_eq!(service["metadata"]["namespace"], "shop");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["clusterIP"], "10.96.0.1");
    let class = as_stored(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "c"}}),
        "shop",
        0,
    );
    assert!(class["metadata"].get("namespace").is_none());
}
