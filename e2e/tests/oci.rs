//! `policy-host push` / `pull` / `run registry://...` against a real OCI
//! registry: Debian's `docker-registry` (the CNCF distribution registry),
//! started on a free loopback port for each test and stopped when the test
//! ends, however it ends.
//!
//! The module is `$POLICY_MODULE` when set (an annotated policy), else the
//! test guest annotated here with a source annotation and a multi-line usage.
//! The TLS test also needs the `openssl` command, to make a CA and a
//! certificate for 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use policy_host::metadata::{annotate, read_metadata, AnnotateInput};
use policy_host::oci::{
    self, Reference, Registry, Sources, ANNOTATION_IMAGE_SOURCE, ANNOTATION_POLICY_SOURCE,
    OCI_MANIFEST_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
};
use policy_host::CACHE_DIR_ENV;
use serde_json::{json, Value};

use common::{fixtures_dir, request, scratch_dir, test_guest_wasm, write_json};

const POLICY_HOST: &str = env!("CARGO_BIN_EXE_policy-host");
const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
/// The source the test guest's metadata declares.
const GUEST_SOURCE: &str = "https://github.com/example/statefulset-policy";
const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// The module the tests push, and whether it is the test guest (whose
/// verdicts the tests know).
struct ModuleUnderTest {
    path: PathBuf,
    is_test_guest: bool,
}

fn module_under_test() -> &'static ModuleUnderTest {
    static MODULE: OnceLock<ModuleUnderTest> = OnceLock::new();
    MODULE.get_or_init(|| {
        if let Some(given) = std::env::var_os("POLICY_MODULE").filter(|v| !v.is_empty()) {
            let given = PathBuf::from(given);
            let path = [
                given.clone(),
                common::manifest_dir().join("..").join(&given),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("POLICY_MODULE={} is not a file", given.display()));
            return ModuleUnderTest {
                path,
                is_test_guest: false,
            };
        }
        ModuleUnderTest {
            path: annotated_guest_with_source(),
            is_test_guest: true,
        }
    })
}

/// The test guest annotated with the fixture metadata plus
/// `io.kubewarden.policy.source`, and the fixture README as usage (multi-line).
fn annotated_guest_with_source() -> PathBuf {
    let mut metadata: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(fixtures_dir().join("metadata.yml")).expect("metadata fixture"),
    )
    .expect("metadata fixture is YAML");
    let annotations = metadata["annotations"]
        .as_mapping_mut()
        .expect("the metadata fixture has annotations");
    annotations.insert(ANNOTATION_POLICY_SOURCE.into(), GUEST_SOURCE.into());
    annotations.insert(
        "io.kubewarden.policy.author".into(),
        "  policy-host tests \n".into(),
    );
    let usage = std::fs::read_to_string(fixtures_dir().join("README.md")).expect("usage fixture");
    assert!(
        usage.trim().lines().count() > 1,
        "the usage must span lines"
    );
    let module = std::fs::read(test_guest_wasm()).expect("cannot read the test guest");
    let (annotated, _) = annotate(
        &module,
        AnnotateInput {
            metadata_yaml: &serde_yaml::to_string(&metadata).unwrap(),
            usage: Some(&usage),
            protocol_version: "v1".to_string(),
        },
    )
    .expect("cannot annotate the test guest");
    let path = scratch_dir().join("oci-annotated-test-guest.wasm");
    std::fs::write(&path, annotated).expect("cannot write the annotated guest");
    path
}

/// A `docker-registry serve` on 127.0.0.1, killed on drop.
struct TestRegistry {
    child: Child,
    port: u16,
    dir: PathBuf,
    scheme: &'static str,
}

/// Certificate and key for the registry's HTTPS listener.
struct TlsFiles {
    certificate: PathBuf,
    key: PathBuf,
}

impl TestRegistry {
    /// Starts a registry; a port taken between picking and binding it
    /// (another process was quicker) gets another try on a new port.
    fn start(name: &str, tls: Option<&TlsFiles>) -> Self {
        let mut failures = Vec::new();
        for attempt in 0..3 {
            match Self::try_start(&format!("{name}-{attempt}"), tls) {
                Ok(registry) => return registry,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "docker-registry did not start:\n{}",
            failures.join("\n---\n")
        )
    }

    fn try_start(name: &str, tls: Option<&TlsFiles>) -> Result<Self, String> {
        assert!(
            Path::new(DOCKER_REGISTRY).is_file(),
            "{DOCKER_REGISTRY} is missing: install Debian's docker-registry package \
             (`apt-get install docker-registry`) to run the registry tests"
        );
        let dir = scratch_dir().join(format!("registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).expect("cannot create the registry dir");

        // A free port: bind port 0, note the port, release it for the registry.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("cannot find a free port")
            .port();
        let tls_section = tls
            .map(|tls| {
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    tls.certificate.display(),
                    tls.key.display()
                )
            })
            .unwrap_or_default();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n{tls_section}",
            dir.join("storage").display()
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).expect("cannot write the registry config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("registry log"))
            .stderr(log)
            .spawn()
            .expect("cannot start docker-registry");
        let mut registry = TestRegistry {
            child,
            port,
            dir,
            scheme: if tls.is_some() { "https" } else { "http" },
        };
        registry.wait_until_ready()?;
        Ok(registry)
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let agent = test_agent();
        let url = format!("{}://{}/v2/", self.scheme, self.host());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot poll docker-registry") {
                return Err(format!(
                    "docker-registry exited ({status}) before answering:\n{}",
                    self.log()
                ));
            }
            if let Ok(response) = agent.get(&url).call() {
                if response.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "docker-registry did not answer GET {url} within 30 s:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reference(&self, repository_and_tag: &str) -> String {
        format!("registry://{}/{repository_and_tag}", self.host())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// A sources file marking this registry insecure.
    fn insecure_sources_file(&self) -> PathBuf {
        let path = self.dir.join("sources.yml");
        std::fs::write(
            &path,
            format!("insecure_sources:\n  - \"{}\"\n", self.host()),
        )
        .expect("cannot write the sources file");
        path
    }

    /// GET a manifest straight from the registry: bytes and Content-Type.
    fn manifest(&self, repository: &str, reference: &str) -> (Vec<u8>, String) {
        let mut response = test_agent()
            .get(format!(
                "{}://{}/v2/{repository}/manifests/{reference}",
                self.scheme,
                self.host()
            ))
            .header("Accept", OCI_MANIFEST_MEDIA_TYPE)
            .call()
            .expect("GET manifest");
        assert_eq!(response.status().as_u16(), 200, "GET manifest {reference}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .expect("manifest body");
        (bytes, content_type)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP client for the tests' own checks: no proxy, self-signed
/// certificates accepted, status codes as values.
fn test_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// Runs policy-host, with no proxy so that all traffic stays on loopback.
fn policy_host(args: &[&str]) -> Output {
    let mut command = Command::new(POLICY_HOST);
    command
        .args(args)
        .env(CACHE_DIR_ENV, common::compilation_cache_dir());
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command.output().expect("cannot run policy-host")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn failed(output: &Output, what: &str) -> String {
    assert!(
        !output.status.success(),
        "{what} should have failed; stdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Pushes with `args` and returns the digest from kwctl's
/// `Policy successfully pushed: HOST/REPO@DIGEST` line.
fn push(module: &Path, reference: &str, args: &[&str]) -> String {
    let mut all = vec!["push"];
    all.extend_from_slice(args);
    all.extend([path(module), reference]);
    let stdout = succeeded(&policy_host(&all), "push");
    let immutable = stdout
        .trim()
        .strip_prefix("Policy successfully pushed: ")
        .unwrap_or_else(|| panic!("unexpected push output {stdout:?}"));
    let parsed = Reference::parse(reference).unwrap();
    let (name, digest) = immutable.split_once('@').expect("an immutable reference");
    assert_eq!(
        name,
        format!("{}/{}", parsed.registry, parsed.repository),
        "{immutable}"
    );
    digest.to_string()
}

fn sha256(bytes: &[u8]) -> String {
    oci::sha256_digest(bytes)
}

#[test]
fn push_then_pull_round_trips_in_kwctls_layout() {
    let registry = TestRegistry::start("round-trip", None);
    let module_path = &module_under_test().path;
    let module = std::fs::read(module_path).unwrap();
    let sources = registry.insecure_sources_file();
    let reference = registry.reference("policies/statefulset:v1");

    let digest = push(module_path, &reference, &["--sources-path", path(&sources)]);

    // The printed digest is the digest of the manifest the registry serves.
    let (manifest_bytes, content_type) = registry.manifest("policies/statefulset", "v1");
    assert_eq!(sha256(&manifest_bytes), digest);
    assert_eq!(content_type, OCI_MANIFEST_MEDIA_TYPE);

    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST_MEDIA_TYPE);
    assert_eq!(
        manifest["config"],
        json!({"mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": sha256(b"{}"), "size": 2})
    );
    assert_eq!(
        manifest["layers"],
        json!([{"mediaType": WASM_LAYER_MEDIA_TYPE, "digest": sha256(&module), "size": module.len()}])
    );

    // Annotations: the single-line metadata annotations (trimmed), the
    // source, and none of the multi-line ones.
    let metadata = read_metadata(&module)
        .unwrap()
        .expect("the module under test is annotated");
    let metadata_annotations = metadata.annotations.unwrap_or_default();
    let annotations: BTreeMap<String, String> =
        serde_json::from_value(manifest["annotations"].clone()).expect("string annotations");
    let mut multi_line = 0;
    for (key, value) in &metadata_annotations {
        if value.lines().count() > 1 {
            multi_line += 1;
            assert!(
                !annotations.contains_key(key),
                "multi-line annotation {key} must not be in the manifest"
            );
        } else {
            assert_eq!(
                annotations.get(key),
                Some(&value.trim().to_string()),
                "{key}"
            );
        }
    }
    assert!(
        multi_line > 0,
        "the module under test should carry a multi-line annotation (annotate it with a README)"
    );
    assert!(!annotations.contains_key("io.kubewarden.policy.usage"));
    let expected_source = metadata_annotations
        .get(ANNOTATION_IMAGE_SOURCE)
        .or(metadata_annotations.get(ANNOTATION_POLICY_SOURCE))
        .map(|s| s.trim().to_string());
    assert_eq!(
        annotations.get(ANNOTATION_IMAGE_SOURCE),
        expected_source.as_ref()
    );
    if module_under_test().is_test_guest {
        assert_eq!(annotations[ANNOTATION_IMAGE_SOURCE], GUEST_SOURCE);
        assert_eq!(
            annotations["io.kubewarden.policy.author"],
            "policy-host tests"
        );
    }
    let expected_keys = metadata_annotations
        .iter()
        .filter(|(_, v)| v.lines().count() <= 1)
        .count()
        + usize::from(
            expected_source.is_some()
                && !metadata_annotations.contains_key(ANNOTATION_IMAGE_SOURCE),
        );
    assert_eq!(annotations.len(), expected_keys, "{annotations:?}");

    // Pull by tag (--insecure) and by digest (sources file): the same bytes.
    let by_tag = scratch_dir().join("oci-pulled-by-tag.wasm");
    succeeded(
        &policy_host(&["pull", "--insecure", "-o", path(&by_tag), &reference]),
        "pull by tag",
    );
    assert!(
        std::fs::read(&by_tag).unwrap() == module,
        "pulled bytes differ"
    );
    let by_digest = scratch_dir().join("oci-pulled-by-digest.wasm");
    let pinned = format!("{}/policies/statefulset@{digest}", registry.host());
    succeeded(
        &policy_host(&[
            "pull",
            "--sources-path",
            path(&sources),
            "--output-path",
            path(&by_digest),
            &pinned,
        ]),
        "pull by digest",
    );
    assert!(
        std::fs::read(&by_digest).unwrap() == module,
        "pulled bytes differ"
    );

    // --source overrides the metadata's source; JSON output like kwctl's -o json.
    let output = policy_host(&[
        "push",
        "--insecure",
        "--source",
        "https://example.org/fork",
        "-o",
        "json",
        path(module_path),
        &registry.reference("policies/statefulset:fork"),
    ]);
    let printed: Value = serde_json::from_str(&succeeded(&output, "push -o json")).unwrap();
    let (fork_bytes, _) = registry.manifest("policies/statefulset", "fork");
    assert_eq!(
        printed,
        json!({"immutable_ref": format!("{}/policies/statefulset@{}", registry.host(), sha256(&fork_bytes))})
    );
    let fork: Value = serde_json::from_slice(&fork_bytes).unwrap();
    assert_eq!(
        fork["annotations"][ANNOTATION_IMAGE_SOURCE],
        "https://example.org/fork"
    );
}

#[test]
fn run_evaluates_a_policy_from_the_registry() {
    let registry = TestRegistry::start("run", None);
    let module = &module_under_test().path;
    let reference = registry.reference("policies/run:latest");
    push(module, &reference, &["--insecure"]);

    let request_path = write_json("oci-run-reject.json", &request("reject"));
    let from_file = policy_host(&["run", "-r", path(&request_path), path(module)]);
    let sources = registry.insecure_sources_file();
    let from_registry = policy_host(&[
        "run",
        "--sources-path",
        path(&sources),
        "-r",
        path(&request_path),
        &reference,
    ]);
    assert_eq!(
        (from_registry.status.code(), &from_registry.stdout),
        (from_file.status.code(), &from_file.stdout),
        "run from the registry differs from run from the file; stderr:\n{}",
        String::from_utf8_lossy(&from_registry.stderr)
    );
    if module_under_test().is_test_guest {
        let response: Value = serde_json::from_str(&succeeded(&from_registry, "run")).unwrap();
        assert_eq!(response["uid"], "uid-reject");
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["message"], "rejected by test guest");
    }

    // `--insecure` works on run too, and without either run refuses plain HTTP.
    let insecure = policy_host(&["run", "--insecure", "-r", path(&request_path), &reference]);
    assert_eq!(insecure.stdout, from_file.stdout);
    let refused = failed(
        &policy_host(&["run", "-r", path(&request_path), &reference]),
        "run from a plain-HTTP registry not marked insecure",
    );
    assert!(refused.contains("insecure"), "{refused}");

    // demo takes a registry module as well.
    if module_under_test().is_test_guest {
        let requests = scratch_dir().join("oci-demo-requests");
        let sessions = scratch_dir().join("oci-demo-sessions");
        std::fs::create_dir_all(&requests).unwrap();
        std::fs::create_dir_all(&sessions).unwrap();
        std::fs::write(
            requests.join("reject.json"),
            serde_json::to_vec(&request("reject")).unwrap(),
        )
        .unwrap();
        let settings = scratch_dir().join("oci-demo-settings.yml");
        std::fs::write(&settings, "{}\n").unwrap();
        let demo = policy_host(&[
            "demo",
            "--insecure",
            "-s",
            path(&settings),
            "--requests",
            path(&requests),
            "--sessions",
            path(&sessions),
            &reference,
        ]);
        let stdout = succeeded(&demo, "demo");
        assert!(stdout.contains("rejected by test guest"), "{stdout}");
    }
}

#[test]
fn plain_http_needs_an_insecure_registry_and_push_needs_metadata() {
    let registry = TestRegistry::start("refusals", None);
    let reference = registry.reference("policies/refused:v1");
    let module = &module_under_test().path;

    for args in [
        vec!["push", path(module), &reference],
        vec![
            "pull",
            "-o",
            path(&scratch_dir().join("oci-refused.wasm")),
            &reference,
        ],
    ] {
        let stderr = failed(&policy_host(&args), args[0]);
        assert!(
            stderr.contains("cannot reach registry") && stderr.contains("insecure"),
            "{stderr}"
        );
    }
    // A sources file naming another registry does not make this one insecure.
    let other = scratch_dir().join("oci-other-sources.yml");
    std::fs::write(&other, "insecure_sources: [\"127.0.0.1:1\"]\n").unwrap();
    failed(
        &policy_host(&[
            "push",
            "--sources-path",
            path(&other),
            path(module),
            &reference,
        ]),
        "push with another registry insecure",
    );

    // Like kwctl: a module without metadata needs --force.
    let bare = scratch_dir().join("oci-bare.wasm");
    std::fs::write(&bare, b"\0asm\x01\0\0\0").unwrap();
    let bare_reference = registry.reference("policies/bare:v1");
    let stderr = failed(
        &policy_host(&["push", "--insecure", path(&bare), &bare_reference]),
        "push of a module without metadata",
    );
    assert!(stderr.contains("not annotated"), "{stderr}");
    let digest = push(&bare, &bare_reference, &["--insecure", "--force"]);
    let (manifest, _) = registry.manifest("policies/bare", "v1");
    assert_eq!(sha256(&manifest), digest);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert!(manifest.get("annotations").is_none(), "{manifest}");
}

#[test]
fn pull_refuses_a_manifest_whose_layer_is_not_wasm() {
    let registry = TestRegistry::start("bad-layer", None);
    let reference = Reference::parse(&registry.reference("policies/tarball:v1")).unwrap();
    let mut sources = Sources::default();
    sources.add_insecure(&reference.registry);
    let client = Registry::connect(&reference, &sources).expect("connect");
    let layer = b"not a wasm module".to_vec();
    let config_digest = client.put_blob(b"{}").unwrap();
    let layer_digest = client.put_blob(&layer).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .unwrap();
    client
        .put_manifest("v1", &manifest, OCI_MANIFEST_MEDIA_TYPE)
        .unwrap();

    let output_path = scratch_dir().join("oci-tarball.wasm");
    let _ = std::fs::remove_file(&output_path);
    let stderr = failed(
        &policy_host(&[
            "pull",
            "--insecure",
            "-o",
            path(&output_path),
            &reference.to_string(),
        ]),
        "pull of a non-wasm layer",
    );
    assert!(
        stderr
            .contains("Incompatible layer media type: application/vnd.oci.image.layer.v1.tar+gzip"),
        "{stderr}"
    );
    assert!(!output_path.exists(), "nothing is written on failure");

    // A digest reference that the registry does not have fails too.
    let missing = format!(
        "{}/policies/tarball@sha256:{}",
        registry.host(),
        "0".repeat(64)
    );
    failed(
        &policy_host(&["pull", "--insecure", "-o", path(&output_path), &missing]),
        "pull of a missing digest",
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with `openssl`.
fn make_tls_files(dir: &Path) -> (TlsFiles, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the TLS registry test needs the `openssl` command (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=policy-host test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        TlsFiles {
            certificate: dir.join("server.pem"),
            key: dir.join("server.key"),
        },
        dir.join("ca.pem"),
    )
}

#[test]
fn https_registry_with_source_authorities_or_insecure() {
    let tls_dir = scratch_dir().join(format!("oci-tls-{}", std::process::id()));
    let (tls, ca) = make_tls_files(&tls_dir);
    let registry = TestRegistry::start("tls", Some(&tls));
    let module = &module_under_test().path;
    let bytes = std::fs::read(module).unwrap();
    let reference = registry.reference("policies/tls:v1");

    // An unknown CA is refused, and never retried over plain HTTP.
    let stderr = failed(
        &policy_host(&["push", path(module), &reference]),
        "push to an HTTPS registry with an unknown CA",
    );
    assert!(stderr.contains("HTTPS"), "{stderr}");

    // The CA from source_authorities (policy-server's format) is trusted.
    let sources = tls_dir.join("sources.yml");
    std::fs::write(
        &sources,
        format!(
            "source_authorities:\n  \"{}\":\n    - type: Path\n      path: {}\n",
            registry.host(),
            ca.display()
        ),
    )
    .unwrap();
    let digest = push(module, &reference, &["--sources-path", path(&sources)]);
    let (manifest, _) = registry.manifest("policies/tls", "v1");
    assert_eq!(sha256(&manifest), digest);

    // An insecure registry is used over HTTPS without verification.
    let pulled = tls_dir.join("pulled.wasm");
    succeeded(
        &policy_host(&["pull", "--insecure", "-o", path(&pulled), &reference]),
        "pull --insecure over HTTPS",
    );
    assert!(
        std::fs::read(&pulled).unwrap() == bytes,
        "pulled bytes differ"
    );

    let request_path = write_json("oci-tls-reject.json", &request("reject"));
    let from_file = policy_host(&["run", "-r", path(&request_path), path(module)]);
    let from_registry = policy_host(&[
        "run",
        "--sources-path",
        path(&sources),
        "-r",
        path(&request_path),
        &reference,
    ]);
    assert_eq!(
        from_registry.stdout,
        from_file.stdout,
        "{}",
        String::from_utf8_lossy(&from_registry.stderr)
    );
    let _ = std::fs::remove_dir_all(&tls_dir);
}
