//! OCI registries: `policy-host push` / `pull`, and `registry://` modules for
//! `run` and `demo`, in the layout kwctl and policy-server use.
//!
//! A Kubewarden policy in a registry is an OCI image manifest
//! (`schemaVersion: 2`, `mediaType: application/vnd.oci.image.manifest.v1+json`)
//! with
//!
//! - a config blob `{}` of media type `application/vnd.wasm.config.v1+json`;
//! - one layer, the module bytes, of media type
//!   `application/vnd.wasm.content.layer.v1+wasm`;
//! - manifest annotations: the module's metadata annotations without the
//!   multi-line ones (the README in `io.kubewarden.policy.usage`), values
//!   trimmed, plus `org.opencontainers.image.source` (kwctl copies it from
//!   `io.kubewarden.policy.source`).
//!
//! The client speaks the OCI distribution API with anonymous access only
//! (no token or basic authentication): `GET /v2/`, blob upload as
//! `POST /v2/<name>/blobs/uploads/` then `PUT <location>?digest=`, manifest
//! `PUT`/`GET /v2/<name>/manifests/<reference>`, blob `GET`.
//!
//! Transport follows policy-fetcher: HTTPS with certificate verification
//! (Mozilla's roots, or the `source_authorities` of the sources file for that
//! registry). Only a registry marked insecure (`insecure_sources` or
//! `--insecure`) is also tried over HTTPS without verification, then over
//! plain HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use ureq::http::Response;
use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::metadata::read_metadata;

/// Scheme of policy references that live in an OCI registry.
pub const REGISTRY_SCHEME: &str = "registry://";
/// Media type of the layer holding the wasm module.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Media type of the config blob.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
/// The config blob kwctl pushes.
pub const WASM_CONFIG: &[u8] = b"{}";
/// Media type of the manifest kwctl pushes.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's equivalent manifest type, accepted on pull.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifest annotation naming the policy's source repository.
pub const ANNOTATION_IMAGE_SOURCE: &str = "org.opencontainers.image.source";
/// Metadata annotation kwctl copies into [`ANNOTATION_IMAGE_SOURCE`].
pub const ANNOTATION_POLICY_SOURCE: &str = "io.kubewarden.policy.source";

const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// A reference to an artifact in a registry:
/// `[registry://]HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]`.
///
/// Unlike Docker, the registry host is required (no Docker Hub default): the
/// first path component must look like a host (contain `.` or `:`, or be
/// `localhost`). Without tag and digest the tag is `latest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, as written; also the key of `insecure_sources`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Self> {
        let rest = match text.split_once("://") {
            Some(("registry", rest)) => rest,
            Some((scheme, _)) => bail!(
                "{text:?}: unsupported scheme {scheme}://, an OCI reference is registry://HOST[:PORT]/REPOSITORY[:TAG]"
            ),
            None => text,
        };
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (rest, None),
        };
        let (registry, path) = name
            .split_once('/')
            .filter(|(registry, _)| looks_like_registry(registry))
            .ok_or_else(|| {
                anyhow!(
                    "{text:?} names no registry host: write HOST[:PORT]/REPOSITORY[:TAG], e.g. registry://127.0.0.1:5000/policies/statefulset:v1"
                )
            })?;
        ensure!(
            registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')),
            "{text:?}: {registry:?} is not a valid registry host"
        );
        // The host is gone, so a ':' left in the path starts the tag.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) => (repository, Some(tag)),
            None => (path, None),
        };
        ensure!(
            is_repository(repository),
            "{text:?}: {repository:?} is not a valid repository name (lowercase letters, digits and separators . _ __ - between /-separated components)"
        );
        if let Some(tag) = tag {
            ensure!(
                is_tag(tag),
                "{text:?}: {tag:?} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            );
        }
        if let Some(digest) = digest {
            ensure!(
                digest_algorithm(digest).is_some(),
                "{text:?}: {digest:?} is not a sha256 or sha512 digest"
            );
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag
                .map(str::to_string)
                .or_else(|| digest.is_none().then(|| "latest".to_string())),
            digest: digest.map(str::to_string),
        })
    }

    /// What goes after `/manifests/`: the digest when there is one, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `HOST/REPOSITORY@DIGEST`, the immutable reference kwctl prints on push.
    pub fn immutable(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn looks_like_registry(component: &str) -> bool {
    component == "localhost" || component.contains('.') || component.contains(':')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` components joined by `/`.
fn is_repository(repository: &str) -> bool {
    repository.split('/').all(|component| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let separators_ok = component
            .split(alnum)
            .filter(|run| !run.is_empty())
            .all(|run| matches!(run, "." | "_" | "__") || run.chars().all(|c| c == '-'));
        component.starts_with(alnum)
            && component.ends_with(alnum)
            && component
                .chars()
                .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
            && separators_ok
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    (1..=128).contains(&tag.len())
        && tag.starts_with(word)
        && tag.chars().all(|c| word(c) || matches!(c, '.' | '-'))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestAlgorithm {
    Sha256,
    Sha512,
}

fn digest_algorithm(digest: &str) -> Option<DigestAlgorithm> {
    let (algorithm, hex) = digest.split_once(':')?;
    let (algorithm, length) = match algorithm {
        "sha256" => (DigestAlgorithm::Sha256, 64),
        "sha512" => (DigestAlgorithm::Sha512, 128),
        _ => return None,
    };
    (hex.len() == length && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
        .then_some(algorithm)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<hex>` of `bytes`, the digest of a blob or manifest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn digest_with(algorithm: DigestAlgorithm, bytes: &[u8]) -> String {
    match algorithm {
        DigestAlgorithm::Sha256 => sha256_digest(bytes),
        DigestAlgorithm::Sha512 => format!("sha512:{}", hex(&Sha512::digest(bytes))),
    }
}

/// Whether `module` (a `run`/`demo` argument) names a policy in a registry.
pub fn is_registry_uri(module: &str) -> bool {
    module.starts_with(REGISTRY_SCHEME)
}

/// Registries' transport settings: policy-server's and kwctl's sources file
/// (`--sources-path`).
///
/// ```yaml
/// insecure_sources: ["127.0.0.1:5000"]   # HTTPS without verification, then plain HTTP
/// source_authorities:                     # CA certificates (PEM or DER) per registry
///   "registry.example.com:5500":
///     - type: Path
///       path: /etc/pki/registry-ca.pem
///     - type: Data
///       data: |
///         -----BEGIN CERTIFICATE-----
///         ...
/// ```
///
/// Hosts are compared as written in the reference (`host[:port]`). For a
/// registry with `source_authorities`, policy-host trusts those certificates
/// only, where policy-fetcher adds them to the system's roots.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    insecure_sources: BTreeSet<String>,
    source_authorities: BTreeMap<String, Vec<Certificate<'static>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSources {
    insecure_sources: Option<Vec<String>>,
    source_authorities: Option<BTreeMap<String, Vec<RawAuthority>>>,
}

#[derive(Deserialize)]
struct RawAuthority {
    #[serde(rename = "type")]
    kind: Option<String>,
    path: Option<PathBuf>,
    data: Option<String>,
}

impl Sources {
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sources file {}", path.display()))?;
        Self::from_yaml_str(&text)
            .with_context(|| format!("invalid sources file {}", path.display()))
    }

    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let raw: RawSources = if text.trim().is_empty() {
            RawSources::default()
        } else {
            serde_yaml::from_str(text).context("not a sources document")?
        };
        let mut sources = Sources {
            insecure_sources: raw
                .insecure_sources
                .unwrap_or_default()
                .into_iter()
                .collect(),
            ..Sources::default()
        };
        for (host, authorities) in raw.source_authorities.unwrap_or_default() {
            let mut certificates = Vec::new();
            for (index, authority) in authorities.into_iter().enumerate() {
                let bytes = match (&authority.kind, authority.path, authority.data) {
                    (kind, Some(path), None) if kind.as_deref().is_none_or(|k| k == "Path") => {
                        std::fs::read(&path).with_context(|| {
                            format!("cannot read certificate {} for {host}", path.display())
                        })?
                    }
                    (kind, None, Some(data)) if kind.as_deref().is_none_or(|k| k == "Data") => {
                        data.into_bytes()
                    }
                    _ => bail!(
                        "source_authorities[{host:?}][{index}] needs either `type: Path` with `path` or `type: Data` with `data`"
                    ),
                };
                certificates.extend(
                    certificates_from(&bytes)
                        .with_context(|| format!("source_authorities[{host:?}][{index}]"))?,
                );
            }
            sources.source_authorities.insert(host, certificates);
        }
        Ok(sources)
    }

    /// Marks `registry` (`host[:port]`) insecure, as `--insecure` does.
    pub fn add_insecure(&mut self, registry: &str) {
        self.insecure_sources.insert(registry.to_string());
    }

    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure_sources.contains(registry)
    }
}

/// The certificates of a PEM bundle, or one DER certificate.
fn certificates_from(bytes: &[u8]) -> Result<Vec<Certificate<'static>>> {
    let mut certificates = Vec::new();
    for item in parse_pem(bytes) {
        if let PemItem::Certificate(certificate) = item.context("invalid PEM data")? {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        ensure!(
            bytes.first() == Some(&0x30),
            "no certificate found: neither PEM certificates nor a DER certificate"
        );
        certificates.push(Certificate::from_der(bytes).to_owned());
    }
    Ok(certificates)
}

/// The annotations kwctl puts on the manifest: the metadata annotations
/// whose value is at most one line (kwctl drops the others, such as the
/// README in `io.kubewarden.policy.usage`, because OCI annotations should not
/// hold them), values trimmed, plus `org.opencontainers.image.source`:
/// `source` when given (a policy-host extra), else an
/// `org.opencontainers.image.source` already in the metadata, else
/// `io.kubewarden.policy.source`.
pub fn oci_annotations(
    metadata_annotations: Option<&BTreeMap<String, String>>,
    source: Option<&str>,
) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = metadata_annotations
        .into_iter()
        .flatten()
        .filter(|(_, value)| value.lines().count() <= 1)
        .map(|(key, value)| (key.clone(), value.trim().to_string()))
        .collect();
    if let Some(source) = source {
        annotations.insert(
            ANNOTATION_IMAGE_SOURCE.to_string(),
            source.trim().to_string(),
        );
    } else if !annotations.contains_key(ANNOTATION_IMAGE_SOURCE) {
        if let Some(source) = annotations.get(ANNOTATION_POLICY_SOURCE).cloned() {
            annotations.insert(ANNOTATION_IMAGE_SOURCE.to_string(), source);
        }
    }
    annotations
}

/// The metadata annotations left out of the manifest because they span lines.
pub fn multi_line_annotations(
    metadata_annotations: Option<&BTreeMap<String, String>>,
) -> Vec<&str> {
    metadata_annotations
        .into_iter()
        .flatten()
        .filter(|(_, value)| value.lines().count() > 1)
        .map(|(key, _)| key.as_str())
        .collect()
}

/// The manifest bytes kwctl's layout gives `module` (this exact
/// serialisation is what gets pushed, so its sha256 is the manifest digest).
pub fn image_manifest(module: &[u8], annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": WASM_CONFIG_MEDIA_TYPE,
            "digest": sha256_digest(WASM_CONFIG),
            "size": WASM_CONFIG.len(),
        },
        "layers": [{
            "mediaType": WASM_LAYER_MEDIA_TYPE,
            "digest": sha256_digest(module),
            "size": module.len(),
        }],
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    serde_json::to_vec(&manifest).expect("a JSON value serialises")
}

/// A content descriptor of a manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The members of an image manifest that a pull looks at.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// Parses a manifest and checks it is a Kubewarden policy: schema 2, an
    /// image manifest (not an index), layers all of the wasm media type
    /// (what policy-fetcher asks oci-client to accept). Returns the manifest
    /// and the layer holding the module (the first).
    pub fn policy_from_slice(bytes: &[u8]) -> Result<(Self, Descriptor)> {
        let value: Value = serde_json::from_slice(bytes).context("the manifest is not JSON")?;
        if let Some(media_type) = value.get("mediaType").and_then(Value::as_str) {
            ensure!(
                media_type != OCI_INDEX_MEDIA_TYPE && media_type != DOCKER_MANIFEST_LIST_MEDIA_TYPE,
                "the reference names an image index ({media_type}), not a policy"
            );
            ensure!(
                media_type == OCI_MANIFEST_MEDIA_TYPE || media_type == DOCKER_MANIFEST_MEDIA_TYPE,
                "unsupported manifest media type {media_type}"
            );
        }
        let manifest: ImageManifest =
            serde_json::from_value(value).context("the manifest is not an image manifest")?;
        ensure!(
            manifest.schema_version == 2,
            "unsupported manifest schemaVersion {}",
            manifest.schema_version
        );
        for layer in &manifest.layers {
            ensure!(
                layer.media_type == WASM_LAYER_MEDIA_TYPE,
                "Incompatible layer media type: {} (a Kubewarden policy is one layer of media type {WASM_LAYER_MEDIA_TYPE})",
                layer.media_type
            );
        }
        let layer = manifest
            .layers
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("the manifest has no layer"))?;
        Ok((manifest, layer))
    }
}

/// Checks that `bytes` are the blob `descriptor` describes (size and digest).
pub fn verify_blob(descriptor: &Descriptor, bytes: &[u8]) -> Result<()> {
    let algorithm = digest_algorithm(&descriptor.digest)
        .ok_or_else(|| anyhow!("unsupported digest {:?}", descriptor.digest))?;
    ensure!(
        bytes.len() as u64 == descriptor.size,
        "blob {} has {} bytes, the manifest says {}",
        descriptor.digest,
        bytes.len(),
        descriptor.size
    );
    let actual = digest_with(algorithm, bytes);
    ensure!(
        actual == descriptor.digest,
        "digest mismatch: the manifest says {}, the downloaded blob is {actual}",
        descriptor.digest
    );
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Https { verify: bool },
    Http,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Https { verify: true } => f.write_str("HTTPS"),
            Transport::Https { verify: false } => {
                f.write_str("HTTPS without certificate verification")
            }
            Transport::Http => f.write_str("plain HTTP"),
        }
    }
}

/// A connection to one repository of a registry.
pub struct Registry {
    agent: Agent,
    base: String,
    repository: String,
}

impl Registry {
    /// Picks the transport like policy-fetcher: HTTPS; for an insecure
    /// registry then HTTPS without verification, then plain HTTP. The first
    /// one whose `GET /v2/` gets an HTTP answer is used.
    pub fn connect(reference: &Reference, sources: &Sources) -> Result<Self> {
        let insecure = sources.is_insecure(&reference.registry);
        let mut transports = vec![Transport::Https { verify: true }];
        if insecure {
            transports.extend([Transport::Https { verify: false }, Transport::Http]);
        }
        let mut failures = Vec::new();
        for transport in transports {
            let agent = agent(
                transport,
                sources.source_authorities.get(&reference.registry),
            );
            let scheme = match transport {
                Transport::Http => "http",
                Transport::Https { .. } => "https",
            };
            let base = format!("{scheme}://{}", reference.registry);
            match agent.get(format!("{base}/v2/")).call() {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if status == 401 {
                        let challenge = header(&response, "www-authenticate").unwrap_or_default();
                        bail!(
                            "registry {} asks for authentication ({challenge}): policy-host only supports registries that allow anonymous access",
                            reference.registry
                        );
                    }
                    ensure!(
                        status == 200,
                        "registry {} does not speak the OCI distribution API: GET /v2/ answered {}",
                        reference.registry,
                        describe_failure(&mut response)
                    );
                    return Ok(Registry {
                        agent,
                        base,
                        repository: reference.repository.clone(),
                    });
                }
                Err(error) => failures.push(format!("{transport}: {error}")),
            }
        }
        if insecure {
            bail!(
                "cannot reach registry {}: {}",
                reference.registry,
                failures.join("; ")
            )
        }
        bail!(
            "cannot reach registry {} over HTTPS ({}); a plain-HTTP registry must be marked insecure (--insecure, or insecure_sources in a --sources-path file)",
            reference.registry,
            failures.join("; ")
        )
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Whether the repository already has the blob.
    pub fn has_blob(&self, digest: &str) -> Result<bool> {
        let mut response = self
            .agent
            .head(self.url(&format!("blobs/{digest}")))
            .call()
            .with_context(|| format!("HEAD blob {digest}"))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => bail!("HEAD blob {digest}: {}", describe_failure(&mut response)),
        }
    }

    /// Uploads a blob (monolithically: POST, then PUT with the digest) unless
    /// the registry has it already. Returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if self.has_blob(&digest)? {
            return Ok(digest);
        }
        let mut started = self
            .agent
            .post(self.url("blobs/uploads/"))
            .send_empty()
            .context("cannot start a blob upload")?;
        ensure!(
            started.status().as_u16() == 202,
            "starting a blob upload: {}",
            describe_failure(&mut started)
        );
        let location = header(&started, "location")
            .ok_or_else(|| anyhow!("the registry gave no Location for the blob upload"))?;
        let mut upload = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            bail!("unexpected blob upload Location {location:?}")
        };
        upload.push(if upload.contains('?') { '&' } else { '?' });
        upload.push_str("digest=");
        upload.push_str(&digest);
        let mut finished = self
            .agent
            .put(upload)
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .with_context(|| format!("cannot upload blob {digest}"))?;
        ensure!(
            finished.status().as_u16() == 201,
            "uploading blob {digest}: {}",
            describe_failure(&mut finished)
        );
        Ok(digest)
    }

    /// Stores a manifest under `reference` (a tag). Returns its digest, after
    /// checking it against the registry's `Docker-Content-Digest`.
    pub fn put_manifest(
        &self,
        reference: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<String> {
        let digest = sha256_digest(manifest);
        let mut response = self
            .agent
            .put(self.url(&format!("manifests/{reference}")))
            .header("Content-Type", media_type)
            .send(manifest)
            .context("cannot upload the manifest")?;
        ensure!(
            response.status().as_u16() == 201,
            "uploading the manifest: {}",
            describe_failure(&mut response)
        );
        if let Some(returned) = header(&response, "docker-content-digest") {
            ensure!(
                returned == digest,
                "the registry stored the manifest as {returned}, expected {digest}"
            );
        }
        Ok(digest)
    }

    /// The manifest stored under `reference` (tag or digest), as bytes, with
    /// its `Content-Type`.
    pub fn get_manifest(&self, reference: &str) -> Result<(Vec<u8>, Option<String>)> {
        let accept = [
            OCI_MANIFEST_MEDIA_TYPE,
            DOCKER_MANIFEST_MEDIA_TYPE,
            OCI_INDEX_MEDIA_TYPE,
            DOCKER_MANIFEST_LIST_MEDIA_TYPE,
        ]
        .join(", ");
        let mut response = self
            .agent
            .get(self.url(&format!("manifests/{reference}")))
            .header("Accept", accept)
            .call()
            .context("cannot fetch the manifest")?;
        ensure!(
            response.status().as_u16() == 200,
            "fetching manifest {reference}: {}",
            describe_failure(&mut response)
        );
        let content_type = header(&response, "content-type");
        let registry_digest = header(&response, "docker-content-digest");
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST_SIZE)
            .read_to_vec()
            .context("cannot read the manifest")?;
        if let Some(returned) = registry_digest.filter(|d| d.starts_with("sha256:")) {
            ensure!(
                returned == sha256_digest(&bytes),
                "the manifest does not match the registry's Docker-Content-Digest {returned}"
            );
        }
        Ok((bytes, content_type))
    }

    /// Downloads the blob `descriptor` names and verifies its size and digest.
    pub fn get_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let mut response = self
            .agent
            .get(self.url(&format!("blobs/{}", descriptor.digest)))
            .call()
            .with_context(|| format!("cannot fetch blob {}", descriptor.digest))?;
        ensure!(
            response.status().as_u16() == 200,
            "fetching blob {}: {}",
            descriptor.digest,
            describe_failure(&mut response)
        );
        let bytes = response
            .body_mut()
            .with_config()
            .limit(descriptor.size.saturating_add(1))
            .read_to_vec()
            .with_context(|| format!("cannot read blob {}", descriptor.digest))?;
        verify_blob(descriptor, &bytes)?;
        Ok(bytes)
    }
}

fn agent(transport: Transport, authorities: Option<&Vec<Certificate<'static>>>) -> Agent {
    let roots = match authorities {
        Some(certificates) if !certificates.is_empty() => RootCerts::new_with_certs(certificates),
        _ => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(matches!(transport, Transport::Https { verify: false }))
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .https_only(false)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(300)))
        .user_agent(format!("policy-host/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// `<status>` plus the registry's error codes and messages when it sent any.
fn describe_failure(response: &mut Response<Body>) -> String {
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_string()
        .unwrap_or_default();
    let errors: Vec<String> = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|value| value.get("errors").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .map(|error| {
            format!(
                "{}: {}",
                error.get("code").and_then(Value::as_str).unwrap_or("?"),
                error.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    if errors.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} ({})", errors.join("; "))
    }
}

/// What [`push`] did.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// `sha256:...` of the manifest.
    pub manifest_digest: String,
    /// `HOST/REPOSITORY@DIGEST`.
    pub immutable_ref: String,
    /// The manifest bytes as pushed.
    pub manifest: Vec<u8>,
}

/// What [`push_policy`] needs besides the module and the destination.
#[derive(Clone, Copy, Debug, Default)]
pub struct PushOptions<'a> {
    /// Push a module without metadata (kwctl's `--force`).
    pub force: bool,
    /// `org.opencontainers.image.source` to record instead of the metadata's.
    pub source: Option<&'a str>,
}

/// Pushes `module` in kwctl's layout: config blob, layer, then the manifest
/// under the reference's tag.
pub fn push_policy(
    module: &[u8],
    reference: &Reference,
    sources: &Sources,
    options: PushOptions<'_>,
) -> Result<Pushed> {
    ensure!(
        reference.digest.is_none(),
        "push needs a tag, not a digest: {reference}"
    );
    let metadata = read_metadata(module)?;
    ensure!(
        metadata.is_some() || options.force,
        "Cannot push a policy that is not annotated. Use `annotate` command or `push --force`"
    );
    let metadata_annotations = metadata.as_ref().and_then(|m| m.annotations.as_ref());
    if let Some(source) = options.source {
        ensure!(
            source.trim().lines().count() == 1,
            "--source must be one line, got {source:?}"
        );
    }
    let annotations = oci_annotations(metadata_annotations, options.source);
    let manifest = image_manifest(module, &annotations);

    let registry = Registry::connect(reference, sources)?;
    registry.put_blob(WASM_CONFIG)?;
    registry.put_blob(module)?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let manifest_digest = registry.put_manifest(tag, &manifest, OCI_MANIFEST_MEDIA_TYPE)?;
    Ok(Pushed {
        immutable_ref: reference.immutable(&manifest_digest),
        manifest_digest,
        manifest,
    })
}

/// What [`pull_policy`] fetched.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// The module bytes (the layer, digest verified).
    pub module: Vec<u8>,
    /// Digest of the manifest bytes.
    pub manifest_digest: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
}

/// Pulls a policy: the manifest (checked with
/// [`ImageManifest::policy_from_slice`], and against the reference's digest
/// when it has one), then its layer, verified against the manifest.
pub fn pull_policy(reference: &Reference, sources: &Sources) -> Result<Pulled> {
    let registry = Registry::connect(reference, sources)?;
    let (manifest, content_type) = registry.get_manifest(reference.manifest_reference())?;
    let manifest_digest = match &reference.digest {
        Some(expected) => {
            let algorithm = digest_algorithm(expected).expect("validated when parsed");
            let actual = digest_with(algorithm, &manifest);
            ensure!(
                &actual == expected,
                "the registry answered {reference} with a manifest whose digest is {actual}"
            );
            actual
        }
        None => sha256_digest(&manifest),
    };
    if let Some(content_type) = content_type {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        ensure!(
            media_type != OCI_INDEX_MEDIA_TYPE && media_type != DOCKER_MANIFEST_LIST_MEDIA_TYPE,
            "{reference} is an image index ({media_type}), not a policy"
        );
    }
    let (_, layer) = ImageManifest::policy_from_slice(&manifest)
        .with_context(|| format!("{reference} is not a Kubewarden policy"))?;
    let module = registry.get_blob(&layer)?;
    Ok(Pulled {
        module,
        manifest_digest,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("registry://127.0.0.1:5000/policies/statefulset:v1.2").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "policies/statefulset");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "127.0.0.1:5000/policies/statefulset:v1.2");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/policies/statefulset:v1.2").unwrap(),
            r
        );

        let latest = Reference::parse("localhost/statefulset").unwrap();
        assert_eq!(latest.tag.as_deref(), Some("latest"));
        assert_eq!(latest.manifest_reference(), "latest");

        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("ghcr.io/kubewarden/p@{digest}")).unwrap();
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.manifest_reference(), digest);
        assert_eq!(
            pinned.immutable(&digest),
            format!("ghcr.io/kubewarden/p@{digest}")
        );

        for bad in [
            "statefulset:v1",                  // no registry
            "kubewarden/statefulset:v1",       // first component is not a host
            "https://ghcr.io/kubewarden/p:v1", // wrong scheme
            "ghcr.io/Kubewarden/p:v1",         // uppercase repository
            "ghcr.io/kubewarden/p:",           // empty tag
            "ghcr.io/kubewarden/p:-x",         // bad tag
            "ghcr.io/kubewarden/p@sha256:abc", // short digest
            "ghcr.io/kubewarden//p",           // empty component
            "ghcr.io/kubewarden/p..q",         // bad separator
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Reference::parse("ghcr.io/a__b/c-d--e/f.g:1.0_x-y").is_ok());
    }

    #[test]
    fn annotations_follow_kwctl() {
        let metadata: BTreeMap<String, String> = [
            (
                ANNOTATION_POLICY_SOURCE,
                "https://github.com/example/policy",
            ),
            ("io.kubewarden.policy.title", "statefulset-policy"),
            ("io.kubewarden.policy.usage", "# Usage\n\nmany lines\n"),
            (
                "io.kubewarden.policy.description",
                "one line with a newline\n",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

        let annotations = oci_annotations(Some(&metadata), None);
        assert!(!annotations.contains_key("io.kubewarden.policy.usage"));
        assert_eq!(
            annotations["io.kubewarden.policy.description"],
            "one line with a newline"
        );
        assert_eq!(
            annotations[ANNOTATION_IMAGE_SOURCE],
            "https://github.com/example/policy"
        );
        assert_eq!(
            multi_line_annotations(Some(&metadata)),
            ["io.kubewarden.policy.usage"]
        );

        let overridden = oci_annotations(Some(&metadata), Some("https://example.org/fork"));
        assert_eq!(
            overridden[ANNOTATION_IMAGE_SOURCE],
            "https://example.org/fork"
        );
        assert_eq!(
            overridden[ANNOTATION_POLICY_SOURCE],
            "https://github.com/example/policy"
        );

        assert!(oci_annotations(None, None).is_empty());
    }

    #[test]
    fn manifest_layout_round_trips() {
        let module = b"\0asm\x01\0\0\0";
        let annotations = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let bytes = image_manifest(module, &annotations);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["schemaVersion"], 2);
        assert_eq!(value["mediaType"], OCI_MANIFEST_MEDIA_TYPE);
        assert_eq!(value["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(
            value["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(value["config"]["size"], 2);
        let (manifest, layer) = ImageManifest::policy_from_slice(&bytes).unwrap();
        assert_eq!(manifest.annotations, Some(annotations));
        assert_eq!(layer.size, module.len() as u64);
        verify_blob(&layer, module).unwrap();

        let no_annotations = image_manifest(module, &BTreeMap::new());
        let value: Value = serde_json::from_slice(&no_annotations).unwrap();
        assert!(value.get("annotations").is_none());
    }

    #[test]
    fn pull_checks_reject_bad_manifests_and_blobs() {
        let module = b"\0asm\x01\0\0\0";
        let good: Value =
            serde_json::from_slice(&image_manifest(module, &BTreeMap::new())).unwrap();

        let mut wrong_layer = good.clone();
        wrong_layer["layers"][0]["mediaType"] =
            json!("application/vnd.oci.image.layer.v1.tar+gzip");
        let error = ImageManifest::policy_from_slice(&serde_json::to_vec(&wrong_layer).unwrap())
            .unwrap_err();
        assert!(
            error.to_string().contains("Incompatible layer media type"),
            "{error}"
        );

        let mut index = good.clone();
        index["mediaType"] = json!(OCI_INDEX_MEDIA_TYPE);
        assert!(ImageManifest::policy_from_slice(&serde_json::to_vec(&index).unwrap()).is_err());

        let mut no_layers = good.clone();
        no_layers["layers"] = json!([]);
        assert!(
            ImageManifest::policy_from_slice(&serde_json::to_vec(&no_layers).unwrap()).is_err()
        );

        let (_, layer) =
            ImageManifest::policy_from_slice(&serde_json::to_vec(&good).unwrap()).unwrap();
        let mut tampered = module.to_vec();
        tampered[7] = 1;
        let error = verify_blob(&layer, &tampered).unwrap_err();
        assert!(error.to_string().contains("digest mismatch"), "{error}");
        assert!(verify_blob(&layer, &module[..4]).is_err());
    }

    #[test]
    fn reads_sources_files() {
        let sources = Sources::from_yaml_str(
            "insecure_sources:\n  - \"127.0.0.1:5000\"\n  - localhost:5001\n",
        )
        .unwrap();
        assert!(sources.is_insecure("127.0.0.1:5000"));
        assert!(sources.is_insecure("localhost:5001"));
        assert!(!sources.is_insecure("127.0.0.1"));
        assert!(!Sources::from_yaml_str("").unwrap().is_insecure("x:1"));

        let error = Sources::from_yaml_str(
            "source_authorities:\n  \"r:1\":\n    - type: Data\n      data: not a certificate\n",
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("no certificate found"),
            "{error:#}"
        );
        assert!(Sources::from_yaml_str(
            "source_authorities:\n  \"r:1\":\n    - type: Path\n      data: x\n"
        )
        .is_err());
    }
}
