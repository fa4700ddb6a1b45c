//! The files that ship the policy agree with the policy and with each other:
//! the example ClusterAdmissionPolicies and policy-server files carry valid
//! settings and the metadata's context-aware resources; `artifacthub-pkg.yml`
//! is generated at release by `kwctl scaffold artifacthub` from
//! `policy-metadata.yml` and `questions-ui.yml` (its inputs and
//! `artifacthub-repo.yml` are checked here, a generated one when
//! `ARTIFACTHUB_PKG` names it); every settings key has a question
//! in `questions-ui.yml`; the release workflow and the permission examples
//! match the metadata.
//!
//! The settings keys are not listed here: they are read from the settings
//! parser itself, which refuses unknown keys and names the ones it expects, so a
//! new setting without a question fails `every_setting_has_a_question`.

use serde_json::{json, Map, Value};
use statefulset_policy::settings::Settings;
use statefulset_policy::settings_verdict;
use statefulset_policy::violation::{Action, CheckId};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------
// Reading the files

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn yaml(relative: &str) -> Value {
    yaml_str(&read(relative), relative)
}

fn yaml_str(text: &str, what: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

/// Every document of a multi-document YAML file.
fn yaml_documents(relative: &str) -> Vec<Value> {
    use serde::Deserialize;
    let text = read(relative);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The `.yml`/`.yaml` files of a directory, by name.
fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            )
        })
        .map(|path| relative_to_root(&path))
        .collect();
    files.sort();
    files
}

fn relative_to_root(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("under the crate root")
        .to_string_lossy()
        .into_owned()
}

fn str_at<'a>(value: &'a Value, pointer: &str, what: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: {pointer} is not a string"))
}

// ---------------------------------------------------------------------------
// The metadata

struct Metadata {
    doc: Value,
}

impl Metadata {
    fn load() -> Metadata {
        Metadata {
            doc: yaml("policy-metadata.yml"),
        }
    }

    fn annotation(&self, key: &str) -> &str {
        self.doc["annotations"][key]
            .as_str()
            .unwrap_or_else(|| panic!("policy-metadata.yml: annotation {key} is missing"))
    }

    fn version(&self) -> &str {
        self.annotation("io.kubewarden.policy.version")
    }

    fn oci_url(&self) -> &str {
        self.annotation("io.kubewarden.policy.ociUrl")
    }

    /// The image reference of this version, as kwctl derives it.
    fn image(&self) -> String {
        format!("{}:v{}", self.oci_url(), self.version())
    }

    fn mutating(&self) -> bool {
        self.doc["mutating"]
            .as_bool()
            .expect("policy-metadata.yml: mutating is a boolean")
    }

    fn rules(&self) -> &Vec<Value> {
        self.doc["rules"]
            .as_array()
            .expect("policy-metadata.yml: rules is a list")
    }

    fn context_aware_resources(&self) -> BTreeSet<(String, String)> {
        resource_set(
            &self.doc["contextAwareResources"],
            "policy-metadata.yml contextAwareResources",
        )
    }

    /// The host capabilities the policy declares it calls.
    fn host_capabilities(&self) -> BTreeSet<String> {
        capability_set(
            &self.doc["hostCapabilities"],
            "policy-metadata.yml hostCapabilities",
        )
    }
}

/// A list of host capability paths as a set, refusing duplicates.
fn capability_set(list: &Value, what: &str) -> BTreeSet<String> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list"));
    let set: BTreeSet<String> = items
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("{what}: {item} is not a string"))
                .to_string()
        })
        .collect();
    assert_eq!(set.len(), items.len(), "{what} lists a capability twice");
    set
}

/// A list of `{apiVersion, kind}` as a set, refusing other keys and duplicates.
fn resource_set(list: &Value, what: &str) -> BTreeSet<(String, String)> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list"));
    let set: BTreeSet<(String, String)> = items
        .iter()
        .map(|item| {
            let object = item
                .as_object()
                .unwrap_or_else(|| panic!("{what}: {item} is not a mapping"));
            assert!(
                object.keys().all(|k| k == "apiVersion" || k == "kind"),
                "{what}: {item} has keys other than apiVersion and kind"
            );
            (
                str_at(item, "/apiVersion", what).to_string(),
                str_at(item, "/kind", what).to_string(),
            )
        })
        .collect();
    assert_eq!(set.len(), items.len(), "{what} lists a resource twice");
    set
}

/// The settings document must be accepted by the policy's own `validate_settings`.
fn assert_valid_settings(settings: &Value, what: &str) {
    let payload = serde_json::to_vec(settings).expect("settings serialise");
    let verdict = settings_verdict(&payload);
    assert!(
        verdict.valid,
        "{what}: settings refused: {}",
        verdict.message.unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------
// Example ClusterAdmissionPolicies and policy-server files

#[test]
fn example_cluster_admission_policies_match_the_policy() {
    let metadata = Metadata::load();
    let files = yaml_files("examples/policies");
    for expected in [
        "examples/policies/gentle.yml",
        "examples/policies/platform-guardrails.yml",
        "examples/policies/strict.yml",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected} is missing");
    }
    for file in &files {
        let policies: Vec<Value> = yaml_documents(file)
            .into_iter()
            .filter(|doc| doc["kind"] == "ClusterAdmissionPolicy")
            .collect();
        assert!(!policies.is_empty(), "{file} has no ClusterAdmissionPolicy");
        for policy in policies {
            let name = str_at(&policy, "/metadata/name", file);
            let what = format!("{file} ({name})");
            assert_eq!(policy["apiVersion"], "policies.kubewarden.io/v1", "{what}");
            let spec = &policy["spec"];
            assert_eq!(
                str_at(spec, "/module", &what),
                format!("registry://{}", metadata.image()),
                "{what}: module is not this version's image"
            );
            assert_eq!(
                spec["mutating"].as_bool(),
                Some(metadata.mutating()),
                "{what}: mutating differs from the metadata"
            );
            assert!(
                spec["backgroundAudit"].is_boolean(),
                "{what}: backgroundAudit is not set"
            );
            // Its rules route what the checks it runs judge: tests/metadata_rules.rs.
            assert_eq!(
                resource_set(
                    &spec["contextAwareResources"],
                    &format!("{what} contextAwareResources")
                ),
                metadata.context_aware_resources(),
                "{what}: contextAwareResources differ from policy-metadata.yml"
            );
            let settings = spec.get("settings").cloned().unwrap_or(json!({}));
            assert_valid_settings(&settings, &what);
        }
    }
}

#[test]
fn the_guardrails_profile_raises_the_service_checks_and_turns_budgets_on() {
    let guardrails = &yaml_documents("examples/policies/platform-guardrails.yml")[0]["spec"];
    let settings = &guardrails["settings"];
    for check in [
        CheckId::ServiceNameRequired,
        CheckId::ServiceExists,
        CheckId::ServiceHeadless,
        CheckId::ServiceSelectsPods,
    ] {
        assert_eq!(
            check.default_action(),
            Action::Warn,
            "{check} warns by default"
        );
        assert_eq!(
            settings["enforcement"][check.as_str()],
            "deny",
            "platform-guardrails.yml leaves {check} at warn"
        );
    }
    assert_eq!(settings["availability"]["podDisruptionBudget"], true);
    assert_eq!(settings["lookupFailure"], "deny");
}

#[test]
fn strict_example_denies_and_gentle_example_warns() {
    let strict = &yaml_documents("examples/policies/strict.yml")[0]["spec"];
    let gentle = &yaml_documents("examples/policies/gentle.yml")[0]["spec"];

    assert_eq!(strict["settings"]["lookupFailure"], "deny");
    // Every warn-by-default check is raised to deny.
    for check in CheckId::ALL {
        if check.default_action() == Action::Warn {
            assert_eq!(
                strict["settings"]["enforcement"][check.as_str()],
                "deny",
                "strict.yml leaves {check} at warn"
            );
        }
    }
    assert_eq!(
        strict["settings"]["availability"]["podDisruptionBudget"], true,
        "strict.yml turns the PodDisruptionBudget checks on"
    );
    let service_delete = json!({
        "apiGroups": [""], "apiVersions": ["v1"],
        "resources": ["services"], "operations": ["DELETE"],
    });
    assert!(
        strict["rules"]
            .as_array()
            .unwrap()
            .contains(&service_delete),
        "strict.yml must route Service DELETE to the policy for service-in-use"
    );
    for key in [
        "allowedStorageClasses",
        "storageClassMustExist",
        "requireVolumeExpansion",
        "allowedAccessModes",
        "minSize",
        "maxSize",
        "requireRetainPolicy",
    ] {
        assert!(
            !strict["settings"]["storage"][key].is_null(),
            "strict.yml sets no storage.{key}"
        );
    }

    assert_eq!(gentle["settings"]["lookupFailure"], "warn");
    let actions = gentle["settings"]["enforcement"]
        .as_object()
        .expect("gentle.yml sets enforcement");
    let warns = actions.values().filter(|a| *a == "warn").count();
    assert!(
        warns * 2 > actions.len(),
        "gentle.yml should mostly warn: {actions:?}"
    );
    assert!(
        gentle["settings"]["defaults"]
            .as_object()
            .is_some_and(|d| !d.is_empty()),
        "gentle.yml sets some defaults"
    );
}

#[test]
fn policy_server_files_match_the_policy() {
    let metadata = Metadata::load();
    let file = "examples/policy-server/policies.yml";
    let policies = yaml(file);
    let policies = policies
        .as_object()
        .unwrap_or_else(|| panic!("{file} is not a mapping of policy names"));
    assert!(!policies.is_empty(), "{file} has no policy");

    let sources = yaml("examples/policy-server/sources.yml");
    let insecure: Vec<&str> = sources["insecure_sources"]
        .as_array()
        .expect("sources.yml: insecure_sources is a list")
        .iter()
        .map(|s| s.as_str().expect("insecure_sources holds strings"))
        .collect();
    assert_eq!(
        insecure,
        ["127.0.0.1:5000"],
        "sources.yml: insecure_sources"
    );

    for (name, policy) in policies {
        let what = format!("{file} ({name})");
        assert!(
            !name.contains('/'),
            "{what}: policy-server refuses names with '/'"
        );
        let module = str_at(policy, "/module", &what);
        assert_eq!(
            module,
            format!("registry://127.0.0.1:5000/statefulset-policy:v{VERSION}"),
            "{what}: module"
        );
        let host = module
            .trim_start_matches("registry://")
            .split('/')
            .next()
            .unwrap();
        assert!(
            insecure.contains(&host),
            "{what}: {host} is not an insecure source"
        );
        assert_eq!(
            policy["allowedToMutate"].as_bool(),
            Some(metadata.mutating()),
            "{what}: allowedToMutate must allow the policy's mutations"
        );
        assert_eq!(
            resource_set(
                &policy["contextAwareResources"],
                &format!("{what} contextAwareResources")
            ),
            metadata.context_aware_resources(),
            "{what}: contextAwareResources differ from policy-metadata.yml"
        );
        // policy-server 1.35 grants an entry without hostCapabilities no host
        // call at all: every look-up would fail and the policy deny.
        let declared = metadata.host_capabilities();
        assert!(
            !declared.is_empty(),
            "policy-metadata.yml declares no hostCapabilities"
        );
        assert_eq!(
            capability_set(
                &policy["hostCapabilities"],
                &format!("{what} hostCapabilities")
            ),
            declared,
            "{what}: hostCapabilities must grant exactly what policy-metadata.yml declares"
        );
        let settings = policy.get("settings").cloned().unwrap_or(json!({}));
        assert_valid_settings(&settings, &what);
    }
}

/// `(apiGroup, resource)` of every context-aware resource the metadata declares.
fn needed_grants(metadata: &Metadata) -> BTreeSet<(String, String)> {
    metadata
        .context_aware_resources()
        .into_iter()
        .map(|(api_version, kind)| {
            let group = api_version
                .rsplit_once('/')
                .map_or("", |(group, _)| group)
                .to_string();
            // The resource is the lower-case plural of the kind (regular plurals only).
            let kind = kind.to_lowercase();
            let plural = if kind.ends_with('s') {
                format!("{kind}es")
            } else {
                format!("{kind}s")
            };
            (group, plural)
        })
        .collect()
}

const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn permission_examples_grant_every_context_aware_resource() {
    let metadata = Metadata::load();
    let needed = needed_grants(&metadata);

    // Helm values for kubewarden-defaults: entries of apiGroup, resources and
    // optional verbs (get, list, watch when absent).
    let values = yaml("examples/policy-server/permissions.yml");
    let entries = values["policyServer"]["permissions"]
        .as_array()
        .expect("permissions.yml: policyServer.permissions is a list");
    let mut helm = BTreeSet::new();
    for entry in entries {
        let group = str_at(entry, "/apiGroup", "permissions.yml entry");
        let verbs = strings(&entry["verbs"]);
        let reads = entry.get("verbs").is_none() || READ_VERBS.iter().all(|v| verbs.contains(v));
        for resource in strings(&entry["resources"]) {
            if reads {
                helm.insert((group.to_string(), resource.to_string()));
            }
        }
    }
    // Helm replaces lists: the chart's own defaults must be kept.
    for (group, resource) in [
        ("", "namespaces"),
        ("", "pods"),
        ("networking.k8s.io", "ingresses"),
    ] {
        assert!(
            helm.contains(&(group.to_string(), resource.to_string())),
            "permissions.yml drops the chart default {group}/{resource}"
        );
    }
    for grant in &needed {
        assert!(
            helm.contains(grant),
            "permissions.yml does not grant {grant:?}"
        );
    }

    // Plain RBAC: a ClusterRole bound to the policy-server ServiceAccount.
    let docs = yaml_documents("examples/policy-server/permissions-rbac.yml");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .expect("permissions-rbac.yml has a ClusterRole");
    let mut rbac = BTreeSet::new();
    for rule in role["rules"].as_array().expect("ClusterRole rules") {
        let verbs = strings(&rule["verbs"]);
        if READ_VERBS.iter().all(|v| verbs.contains(v)) {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    rbac.insert((group.to_string(), resource.to_string()));
                }
            }
        }
    }
    for grant in &needed {
        assert!(
            rbac.contains(grant),
            "permissions-rbac.yml does not grant {grant:?}"
        );
    }
    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .expect("permissions-rbac.yml has a ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert!(
        binding["subjects"]
            .as_array()
            .expect("ClusterRoleBinding subjects")
            .contains(&json!({"kind": "ServiceAccount", "name": "policy-server", "namespace": "kubewarden"})),
        "permissions-rbac.yml must bind the default PolicyServer's ServiceAccount"
    );
}

/// Plain scalars that YAML 1.1 parsers (kubectl's, Helm's) read as booleans,
/// while YAML 1.2 ones (serde_yaml, the Rancher UI) read them as strings.
fn yaml11_booleans(text: &str) -> Vec<String> {
    const WORDS: [&str; 8] = ["on", "off", "yes", "no", "y", "n", "true", "false"];
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or("").trim_end();
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        let value = match trimmed.split_once(": ") {
            Some((_, value)) => value,
            None => trimmed.strip_prefix("- ").unwrap_or(""),
        };
        let items: Vec<&str> = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Some(flow) => flow.split(',').collect(),
            None => vec![value],
        };
        for item in items {
            let item = item.trim();
            // true and false are booleans everywhere, and meant as such.
            if WORDS[..6].contains(&item.to_lowercase().as_str()) {
                found.push(format!("line {}: {line}", number + 1));
            }
        }
    }
    found
}

#[test]
fn example_yaml_has_no_yaml11_booleans() {
    let mut files = yaml_files("examples/policies");
    files.extend(yaml_files("examples/policy-server"));
    files.push("questions-ui.yml".to_string());
    for file in files {
        let found = yaml11_booleans(&read(&file));
        assert!(
            found.is_empty(),
            "{file}: quote these values, YAML 1.1 reads them as booleans: {found:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Versions, Artifact Hub

#[test]
fn versions_agree() {
    let metadata = Metadata::load();
    assert_eq!(
        metadata.version(),
        VERSION,
        "io.kubewarden.policy.version differs from Cargo.toml's version"
    );
    assert!(
        metadata.image().ends_with(&format!(":v{VERSION}")),
        "image tag is v<version>"
    );
}

/// artifacthub-pkg.yml is generated at release, as Kubewarden's
/// rust-policy-template and kubewarden/github-actions (v7.0.1,
/// `push-artifacthub`: `kwctl scaffold artifacthub --output ...`) do: the
/// repository keeps the inputs, and `artifacthub-repo.yml`, which that
/// action checks out of the release tag.
#[test]
fn artifacthub_package_is_generated_at_release() {
    assert!(
        read(".gitignore")
            .lines()
            .any(|l| l == "/artifacthub-pkg.yml"),
        ".gitignore must ignore the generated artifacthub-pkg.yml"
    );
    let release = yaml(".github/workflows/release.yml");
    let artifacthub = release["jobs"]["release"]["with"]["artifacthub"].clone();
    assert_eq!(artifacthub, json!(true), "release.yml: artifacthub: true");

    // What kwctl scaffold artifacthub refuses to work without
    // (policy-evaluator `policy_artifacthub.rs`): the annotations it reads.
    let metadata = Metadata::load();
    for key in [
        "io.kubewarden.policy.title",
        "io.artifacthub.displayName",
        "io.kubewarden.policy.description",
        "io.kubewarden.policy.ociUrl",
        "io.kubewarden.policy.url",
        "io.kubewarden.policy.source",
        "io.kubewarden.policy.license",
        "io.kubewarden.policy.author",
        "io.artifacthub.resources",
    ] {
        assert!(
            !metadata.annotation(key).trim().is_empty(),
            "policy-metadata.yml: {key} is empty"
        );
    }
    for key in ["io.kubewarden.policy.url", "io.kubewarden.policy.source"] {
        assert!(
            metadata.annotation(key).starts_with("https://github.com/"),
            "{key}: a github.com URL, from which kwctl links the release's policy.wasm"
        );
    }
    assert!(
        metadata
            .annotation("io.artifacthub.keywords")
            .split(',')
            .all(|k| !k.trim_matches(' ').is_empty()),
        "io.artifacthub.keywords: kwctl refuses an empty keyword"
    );
    assert!(
        !read("questions-ui.yml").trim().is_empty(),
        "kwctl refuses an empty questions-ui.yml"
    );
}

/// `name <email>` of `io.kubewarden.policy.author`.
fn author(metadata: &Metadata) -> (String, String) {
    let author = metadata.annotation("io.kubewarden.policy.author");
    let (name, rest) = author
        .split_once(" <")
        .unwrap_or_else(|| panic!("io.kubewarden.policy.author {author:?} is not `name <email>`"));
    let email = rest.strip_suffix('>').expect("author email in <>");
    assert!(email.contains('@'), "author email {email}");
    (name.to_string(), email.to_string())
}

#[test]
fn artifacthub_repo_file_is_valid() {
    let repo = yaml("artifacthub-repo.yml");
    let keys: BTreeSet<&str> = repo
        .as_object()
        .expect("artifacthub-repo.yml is a mapping")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.is_subset(&BTreeSet::from(["repositoryID", "owners", "ignore"])),
        "artifacthub-repo.yml keys: {keys:?}"
    );
    if let Some(id) = repo.get("repositoryID") {
        let id = id.as_str().expect("repositoryID is a string");
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert!(
            groups == [8, 4, 4, 4, 12] && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "repositoryID {id} is not the UUID Artifact Hub gives"
        );
    }
    let (name, email) = author(&Metadata::load());
    assert_eq!(
        repo["owners"],
        json!([{"name": name, "email": email}]),
        "artifacthub-repo.yml owners are the policy's author"
    );
}

/// A generated artifacthub-pkg.yml (`make release-dry-run` when kwctl is on
/// PATH sets ARTIFACTHUB_PKG) agrees with the metadata, the version and
/// questions-ui.yml. Without one there is nothing to check here.
#[test]
fn generated_artifacthub_package_matches_the_metadata() {
    let Some(path) = std::env::var_os("ARTIFACTHUB_PKG") else {
        eprintln!("ARTIFACTHUB_PKG not set: no generated artifacthub-pkg.yml to check");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("ARTIFACTHUB_PKG is readable");
    let pkg = yaml_str(&text, "the generated artifacthub-pkg.yml");
    let metadata = Metadata::load();
    assert_eq!(str_at(&pkg, "/version", "artifacthub-pkg.yml"), VERSION);
    assert_eq!(
        pkg["containersImages"],
        json!([{"name": "policy", "image": metadata.image()}]),
        "artifacthub-pkg.yml: containersImages must be this version's image"
    );
    package_is_derived_from_the_metadata(&pkg);
    annotations_are_derived_from_the_metadata(&pkg);
}

fn package_is_derived_from_the_metadata(pkg: &Value) {
    let metadata = Metadata::load();
    let what = "artifacthub-pkg.yml";

    assert_eq!(
        str_at(pkg, "/name", what),
        metadata.annotation("io.kubewarden.policy.title")
    );
    assert_eq!(
        str_at(pkg, "/displayName", what),
        metadata.annotation("io.artifacthub.displayName")
    );
    assert_eq!(
        str_at(pkg, "/description", what),
        metadata.annotation("io.kubewarden.policy.description")
    );
    assert_eq!(
        str_at(pkg, "/license", what),
        metadata.annotation("io.kubewarden.policy.license")
    );
    assert_eq!(
        str_at(pkg, "/homeURL", what),
        metadata.annotation("io.kubewarden.policy.url")
    );
    // kwctl splits the keywords at commas and trims the spaces.
    let keywords: Vec<&str> = metadata
        .annotation("io.artifacthub.keywords")
        .split(',')
        .map(|k| k.trim_matches(' '))
        .collect();
    assert_eq!(strings(&pkg["keywords"]), keywords, "{what}: keywords");

    // A fixed RFC 3339 timestamp: check-artifacthub ignores the createdAt line.
    let created = str_at(pkg, "/createdAt", what);
    assert!(
        created.len() >= 20 && created.as_bytes()[10] == b'T' && created.ends_with('Z'),
        "{what}: createdAt {created} is not an RFC 3339 UTC timestamp"
    );

    // Links: the release asset of this version and the source repository.
    let source = metadata.annotation("io.kubewarden.policy.source");
    let expected_links = if source.starts_with("https://github.com/") {
        json!([
            {"name": "policy", "url": format!("{source}/releases/download/v{VERSION}/policy.wasm")},
            {"name": "source", "url": source},
        ])
    } else {
        json!([{"name": "source", "url": source}])
    };
    assert_eq!(pkg["links"], expected_links, "{what}: links");

    let install = str_at(pkg, "/install", what);
    let image = metadata.image();
    assert!(
        install.contains(&format!("kwctl pull {image}\n")),
        "{what}: install lacks `kwctl pull {image}`"
    );
    assert!(
        install.contains(&format!("registry://{image}\n")),
        "{what}: install lacks the scaffold command for {image}"
    );

    assert_eq!(pkg["provider"], json!({"name": "kubewarden"}));
    assert_eq!(
        pkg["recommendations"],
        json!([{"url": "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller"}])
    );
    // kwctl derives maintainers from io.kubewarden.policy.author, which it can
    // only do for "Name <email>" entries.
    if let Some(maintainers) = pkg.get("maintainers") {
        let author = metadata.annotation("io.kubewarden.policy.author");
        for maintainer in maintainers.as_array().expect("maintainers is a list") {
            let name = str_at(maintainer, "/name", what);
            let email = str_at(maintainer, "/email", what);
            assert!(
                author.contains(&format!("{name} <{email}>")),
                "{what}: maintainer {name} <{email}> is not in the author annotation"
            );
        }
    }
    for key in pkg.as_object().expect("a mapping").keys() {
        assert!(
            ARTIFACTHUB_FIELDS.contains(&key.as_str()),
            "{what}: unexpected key {key}"
        );
    }
}

/// The fields of kwctl's `ArtifactHubPkg`, in the order it writes them.
const ARTIFACTHUB_FIELDS: [&str; 15] = [
    "version",
    "name",
    "displayName",
    "createdAt",
    "description",
    "license",
    "homeURL",
    "containersImages",
    "keywords",
    "links",
    "install",
    "maintainers",
    "provider",
    "recommendations",
    "annotations",
];

fn annotations_are_derived_from_the_metadata(pkg: &Value) {
    let metadata = Metadata::load();
    let annotations = pkg["annotations"]
        .as_object()
        .expect("artifacthub-pkg.yml: annotations is a mapping");
    let get = |key: &str| -> &str {
        annotations
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("artifacthub-pkg.yml: annotation {key} is missing"))
    };

    assert_eq!(
        get("kubewarden/mutation"),
        metadata.mutating().to_string(),
        "kubewarden/mutation"
    );
    assert_eq!(
        get("kubewarden/resources"),
        metadata.annotation("io.artifacthub.resources"),
        "kubewarden/resources"
    );
    // YAML strings of the metadata's lists, as kwctl embeds them.
    let rules = yaml_str(get("kubewarden/rules"), "kubewarden/rules");
    assert_eq!(
        rules.as_array(),
        Some(metadata.rules()),
        "kubewarden/rules differs from the metadata rules"
    );
    let resources = yaml_str(
        get("kubewarden/contextAwareResources"),
        "kubewarden/contextAwareResources",
    );
    assert_eq!(
        resource_set(&resources, "kubewarden/contextAwareResources"),
        metadata.context_aware_resources(),
        "kubewarden/contextAwareResources differs from the metadata"
    );
    assert_eq!(
        get("kubewarden/questions-ui"),
        read("questions-ui.yml"),
        "kubewarden/questions-ui must be questions-ui.yml, verbatim"
    );
    let keys: BTreeSet<&str> = annotations.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "kubewarden/contextAwareResources",
            "kubewarden/mutation",
            "kubewarden/questions-ui",
            "kubewarden/resources",
            "kubewarden/rules",
        ]),
        "artifacthub-pkg.yml annotations"
    );
}

// ---------------------------------------------------------------------------
// The settings keys, read from the settings parser

const PROBE: &str = "__distribution_probe__";

/// Builds `{a: {b: {leaf}}}` for the path `[a, b]`.
fn nest(path: &[String], leaf: Value) -> Value {
    path.iter()
        .rev()
        .fold(leaf, |inner, key| json!({ key.as_str(): inner }))
}

/// The field names of the settings object at `path`, from the error the parser
/// gives for an unknown key there; `None` when `path` is not an object with
/// named fields. The second value is the parser's message.
fn fields_at(path: &[String]) -> (Option<Vec<String>>, String) {
    // "deny" is a valid value for a map of actions, so such a map reports the
    // unknown key rather than the value.
    let doc = nest(path, json!({ PROBE: "deny" }));
    let verdict = settings_verdict(&serde_json::to_vec(&doc).unwrap());
    assert!(!verdict.valid, "the probe {doc} was accepted");
    let message = verdict.message.unwrap_or_default();
    let marker = format!("unknown field `{PROBE}`");
    let Some(at) = message.find(&marker) else {
        return (None, message);
    };
    let rest = &message[at + marker.len()..];
    let expected = rest
        .find("expected")
        .map(|i| &rest[i..])
        .unwrap_or_else(|| panic!("no expected fields in {message:?}"));
    let fields: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!fields.is_empty(), "no field names in {message:?}");
    (Some(fields), message)
}

/// Every settings key as a dotted path: the leaves of the settings objects,
/// with `enforcement.<check id>` for each check.
fn settings_key_paths() -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(path: Vec<String>, leaves: &mut BTreeSet<String>, objects: &mut BTreeSet<String>) {
        match fields_at(&path) {
            (Some(fields), _) => {
                if !path.is_empty() {
                    objects.insert(path.join("."));
                }
                for field in fields {
                    let mut child = path.clone();
                    child.push(field);
                    walk(child, leaves, objects);
                }
            }
            (None, message) if message.contains("unknown check id") => {
                objects.insert(path.join("."));
                for check in CheckId::ALL {
                    leaves.insert(format!("{}.{}", path.join("."), check.as_str()));
                }
            }
            (None, _) => {
                leaves.insert(path.join("."));
            }
        }
    }
    let (mut leaves, mut objects) = (BTreeSet::new(), BTreeSet::new());
    walk(Vec::new(), &mut leaves, &mut objects);
    (leaves, objects)
}

#[test]
fn the_settings_keys_are_read_from_the_parser() {
    let (leaves, objects) = settings_key_paths();
    // The probing itself works: a sample of keys of every kind is found.
    for key in [
        "serviceName.mustSelectPods",
        "storage.minSize",
        "storage.allowedAccessModes",
        "rollout.allowedUpdateStrategies",
        "defaults.partition",
        "defaults.persistentVolumeClaimRetentionPolicy.whenDeleted",
        "defaults.persistentVolumeClaimRetentionPolicy.whenScaled",
        "enforcement.service-in-use",
        "lookupFailure",
    ] {
        assert!(leaves.contains(key), "{key} not found in {leaves:?}");
    }
    for object in [
        "serviceName",
        "storage",
        "rollout",
        "defaults",
        "defaults.persistentVolumeClaimRetentionPolicy",
        "enforcement",
    ] {
        assert!(
            objects.contains(object),
            "{object} not found in {objects:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// questions-ui.yml

struct Question {
    variable: String,
    doc: Value,
    parent: Option<String>,
}

fn questions() -> Vec<Question> {
    fn collect(list: &Value, parent: Option<&str>, out: &mut Vec<Question>) {
        for item in list.as_array().expect("questions are a list") {
            let variable = str_at(item, "/variable", "question").to_string();
            out.push(Question {
                variable: variable.clone(),
                doc: item.clone(),
                parent: parent.map(str::to_string),
            });
            if let Some(sub) = item.get("subquestions") {
                collect(sub, Some(&variable), out);
            }
        }
    }
    let doc = yaml("questions-ui.yml");
    let mut out = Vec::new();
    collect(&doc["questions"], None, &mut out);
    out
}

#[test]
fn every_setting_has_a_question() {
    let (leaves, objects) = settings_key_paths();
    let questions = questions();
    let variables: BTreeSet<&str> = questions.iter().map(|q| q.variable.as_str()).collect();
    assert_eq!(
        variables.len(),
        questions.len(),
        "questions-ui.yml repeats a variable"
    );
    let missing: Vec<&String> = leaves
        .iter()
        .filter(|leaf| !variables.contains(leaf.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "settings without a question in questions-ui.yml: {missing:?}"
    );
    // And the UI writes nothing the settings parser would refuse.
    for question in &questions {
        let variable = &question.variable;
        assert!(
            leaves.contains(variable) || objects.contains(variable),
            "questions-ui.yml: {variable} is not a settings key"
        );
        if let Some(parent) = &question.parent {
            assert!(
                variable.starts_with(&format!("{parent}.")),
                "questions-ui.yml: {variable} is not under {parent}"
            );
        }
        if question.doc.get("subquestions").is_some() {
            assert_eq!(
                question.doc["type"], "map[",
                "questions-ui.yml: {variable} has subquestions but is not a map["
            );
        }
    }
}

#[test]
fn questions_are_described_and_grouped() {
    for question in questions() {
        let doc = &question.doc;
        let variable = &question.variable;
        for key in ["label", "type", "group"] {
            assert!(
                doc[key].as_str().is_some_and(|s| !s.trim().is_empty()),
                "questions-ui.yml: {variable} has no {key}"
            );
        }
        let described = ["description", "tooltip"]
            .iter()
            .any(|k| doc[*k].as_str().is_some_and(|s| !s.trim().is_empty()));
        assert!(described, "questions-ui.yml: {variable} has no description");
        let kind = doc["type"].as_str().unwrap();
        assert!(
            ["string", "int", "boolean", "enum", "array[", "map["].contains(&kind),
            "questions-ui.yml: {variable} has unknown type {kind}"
        );
        if kind == "enum" {
            let options = strings(&doc["options"]);
            assert!(
                !options.is_empty(),
                "questions-ui.yml: {variable} has no options"
            );
            // Every option is a value the parser accepts at that key.
            for option in &options {
                let path: Vec<String> = variable.split('.').map(str::to_string).collect();
                assert_valid_settings(
                    &nest(&path, json!(option)),
                    &format!("questions-ui.yml {variable} option {option}"),
                );
            }
            let default = &doc["default"];
            assert!(
                default.is_null() || default.as_str().is_some_and(|d| options.contains(&d)),
                "questions-ui.yml: {variable} default {default} is not an option"
            );
        }
    }
}

/// Sets `doc[a][b][c] = value` for the dotted variable `a.b.c`.
fn set_path(doc: &mut Map<String, Value>, variable: &str, value: Value) {
    let mut keys = variable.split('.').peekable();
    let mut current = doc;
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            current.insert(key.to_string(), value);
            return;
        }
        current = current
            .entry(key.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap_or_else(|| panic!("{variable}: {key} is not an object"));
    }
}

#[test]
fn question_defaults_are_the_policy_defaults() {
    let (leaves, _) = settings_key_paths();
    let mut doc = Map::new();
    let mut enforcement = BTreeMap::new();
    for question in questions() {
        if !leaves.contains(&question.variable) {
            continue;
        }
        // A question left at a null default sets nothing.
        let default = question.doc.get("default").cloned().unwrap_or(Value::Null);
        if default.is_null() {
            continue;
        }
        match question.variable.strip_prefix("enforcement.") {
            Some(id) => {
                enforcement.insert(id.to_string(), default);
            }
            None => set_path(&mut doc, &question.variable, default),
        }
    }
    let doc = Value::Object(doc);
    assert_valid_settings(&doc, "the defaults of questions-ui.yml");
    let parsed = Settings::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Settings::default()),
        "the defaults of questions-ui.yml differ from the policy's defaults"
    );
    for check in CheckId::ALL {
        let default = format!("{:?}", check.default_action()).to_lowercase();
        assert_eq!(
            enforcement.get(check.as_str()),
            Some(&json!(default)),
            "questions-ui.yml: enforcement.{check} default"
        );
    }
}

// ---------------------------------------------------------------------------
// GitHub workflows

#[test]
fn workflows_use_kubewarden_reusable_workflows() {
    let metadata = Metadata::load();
    let prefix = "kubewarden/github-actions/.github/workflows/";
    let test = yaml(".github/workflows/test.yml");
    let release = yaml(".github/workflows/release.yml");
    let drafter = yaml(".github/workflows/release-drafter.yml");

    // The tests are the README's command, also before a release.
    let steps = test["jobs"]["test"]["steps"]
        .as_array()
        .expect("test.yml steps");
    assert!(
        steps.iter().any(|step| step["run"] == "make test"),
        "test.yml runs make test"
    );
    assert!(
        test["on"].get("workflow_call").is_some(),
        "release.yml calls test.yml"
    );
    assert_eq!(
        release["jobs"]["test"]["uses"],
        "./.github/workflows/test.yml"
    );
    assert_eq!(release["jobs"]["release"]["needs"], "test");

    // The release is Kubewarden's reusable workflow, pinned by commit.
    let release_job = &release["jobs"]["release"];
    let uses = release_job["uses"]
        .as_str()
        .expect("the release job uses a workflow");
    let (workflow, reference) = uses.rsplit_once('@').expect("pinned");
    assert_eq!(
        workflow,
        format!("{prefix}reusable-release-policy-rust.yml")
    );
    assert!(
        reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()),
        "release.yml pins the reusable workflow by commit, not {reference:?}"
    );
    assert_eq!(
        release_job["with"]["oci-target"],
        metadata.oci_url(),
        "release.yml: oci-target must be io.kubewarden.policy.ociUrl"
    );
    for (permission, level) in [
        ("contents", "write"),
        ("packages", "write"),
        ("id-token", "write"),
    ] {
        assert_eq!(
            release_job["permissions"][permission], level,
            "release.yml: the release job needs {permission}: {level}"
        );
    }
    assert_eq!(
        release["on"],
        json!({"push": {"tags": ["v*"]}}),
        "release.yml runs on v* tags"
    );

    // policy-release publishes the draft release-drafter keeps, and fails
    // without one; the draft's tag is the release workflow's v<version>.
    let drafter_job = &drafter["jobs"]["update_release_draft"];
    let drafter_uses = drafter_job["steps"][0]["uses"].as_str().expect("a step");
    assert!(
        drafter_uses.starts_with("release-drafter/release-drafter@"),
        "{drafter_uses}"
    );
    assert_eq!(drafter_job["permissions"]["contents"], "write");
    let config = yaml(".github/release-drafter.yml");
    assert_eq!(config["tag-template"], "v$RESOLVED_VERSION");
}
