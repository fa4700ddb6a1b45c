//! A StatefulSet CREATE request near the API server's 1.5 MiB object limit,
//! generated deterministically: a large pod template (many containers with long
//! environment lists) and many claim templates.
//!
//! Every container serialises to the same number of bytes (fixed-width
//! numbering), so the number of containers that fills the object up to
//! [`TARGET_OBJECT_BYTES`] is computed, not searched, and the request is the
//! same bytes on every run.

use serde_json::{json, Value};

/// The API server (etcd's default `--max-request-bytes`) refuses objects above 1.5 MiB.
pub const OBJECT_LIMIT: usize = 1_572_864;
/// The generated object stays 48 KiB under the limit, room for the envelope fields.
pub const TARGET_OBJECT_BYTES: usize = OBJECT_LIMIT - 48 * 1024;
/// Claim templates of the generated set.
pub const CLAIMS: usize = 100;
/// Environment variables of each generated container.
const ENV_PER_CONTAINER: usize = 40;

pub const NAME: &str = "big";
pub const NAMESPACE: &str = "default";
pub const SERVICE: &str = "big";

fn claim(index: usize) -> Value {
    let class = if index.is_multiple_of(2) {
        "standard"
    } else {
        "fast-ssd"
    };
    json!({
        "metadata": {
            "name": format!("data-{index:03}"),
            "labels": {"app": NAME, "volume": format!("data-{index:03}")}
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "volumeMode": "Filesystem",
            "resources": {"requests": {"storage": "10Gi"}}
        }
    })
}

fn container(index: usize) -> Value {
    let env: Vec<Value> = (0..ENV_PER_CONTAINER)
        .map(|j| {
            json!({
                "name": format!("SHARD_{index:04}_SETTING_{j:02}"),
                "value": format!("shard-{index:04}-setting-{j:02}-value-abcdefghijklmnopqrstuvwxyz0123456789")
            })
        })
        .collect();
    json!({
        "name": format!("shard-{index:04}"),
        "image": "registry.example.com/storage/shard:1.2.3",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--shard", format!("{index:04}"), "--data-dir", "/var/lib/shard"],
        "env": env,
        "ports": [{"name": "grpc", "containerPort": 9000, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"}
        },
        "readinessProbe": {
            "tcpSocket": {"port": 9000},
            "initialDelaySeconds": 5,
            "periodSeconds": 10
        },
        "volumeMounts": [
            {"name": format!("data-{:03}", index % CLAIMS), "mountPath": "/var/lib/shard"}
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    })
}

fn object_with(containers: Vec<Value>) -> Value {
    let annotations: serde_json::Map<String, Value> = (0..20)
        .map(|i| {
            (
                format!("example.com/annotation-{i:02}"),
                Value::String(format!("{i:02}-").repeat(20)),
            )
        })
        .collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"app": NAME, "tier": "storage"},
            "annotations": annotations
        },
        "spec": {
            "serviceName": SERVICE,
            "replicas": 3,
            "selector": {"matchLabels": {"app": NAME}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {
                "metadata": {"labels": {"app": NAME, "tier": "storage"}},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": NAME}}
                        }
                    }]}},
                    "containers": containers
                }
            },
            "volumeClaimTemplates": (0..CLAIMS).map(claim).collect::<Vec<_>>()
        }
    })
}

fn encoded_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

/// The StatefulSet object: just under [`TARGET_OBJECT_BYTES`] of compact JSON.
pub fn object() -> Value {
    let empty = encoded_len(&object_with(Vec::new()));
    // One container plus its separating comma.
    let each = encoded_len(&container(0)) + 1;
    let count = TARGET_OBJECT_BYTES.saturating_sub(empty) / each;
    object_with((0..count).map(container).collect())
}

/// The AdmissionRequest carrying [`object`], as the API server sends a CREATE.
pub fn request() -> Value {
    json!({
        "uid": "00000000-0000-4000-8000-00000000b1b1",
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "requestResource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "name": NAME,
        "namespace": NAMESPACE,
        "operation": "CREATE",
        "userInfo": {"username": "bench", "groups": ["system:authenticated"]},
        "dryRun": false,
        "object": object(),
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}
