//! Native benchmarks of the validate path, for profiling (`cargo bench --bench validate`):
//! `admission::evaluate` on the small, real-cluster and large requests, with an
//! in-memory cluster, under the platform profile (`examples/settings.yml`) and
//! default settings. `make bench` measures the built module instead.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use statefulset_policy::admission::evaluate;
use statefulset_policy::cluster::{
    Cluster, LookupError, PodDisruptionBudget, Service, StorageClass,
};
use statefulset_policy::statefulset::StatefulSet;

/// The same deterministic request near the 1.5 MiB limit as `make bench`.
#[allow(dead_code)]
#[path = "../bench/src/large.rs"]
mod large;

/// Answers from memory: every Service named is headless and selects `app`.
struct FakeCluster {
    storage_classes: Vec<StorageClass>,
}

impl Cluster for FakeCluster {
    fn service(&mut self, _namespace: &str, name: &str) -> Result<Option<Service>, LookupError> {
        let app = if name == large::SERVICE {
            large::NAME
        } else {
            "nginx"
        };
        Ok(Some(
            serde_json::from_value(
                json!({"spec": {"clusterIP": "None", "selector": {"app": app}}}),
            )
            .expect("a Service"),
        ))
    }

    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError> {
        Ok(self.storage_classes.clone())
    }

    fn stateful_sets(&mut self, _namespace: &str) -> Result<Vec<StatefulSet>, LookupError> {
        Ok(Vec::new())
    }

    fn pod_disruption_budgets(
        &mut self,
        _namespace: &str,
    ) -> Result<Vec<PodDisruptionBudget>, LookupError> {
        Ok(Vec::new())
    }
}

fn storage_classes() -> Vec<StorageClass> {
    ["standard", "fast-ssd", "slow-hdd", "my-storage-class"]
        .iter()
        .map(|name| {
            let annotations = (*name == "standard")
                .then(|| json!({"storageclass.kubernetes.io/is-default-class": "true"}));
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": annotations},
                "allowVolumeExpansion": *name != "slow-hdd"
            }))
            .expect("a StorageClass")
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("a request file"))
        .expect("valid JSON")
}

fn validate_path(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let platform: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("examples/settings.yml")).expect("settings.yml"),
    )
    .expect("settings.yml is YAML");
    let requests = [
        (
            "small",
            read_json(&root.join("e2e/requests/web-create.json")),
        ),
        (
            "real-cluster",
            read_json(&root.join("e2e/requests/real-cluster-create.json")),
        ),
        ("large", large::request()),
    ];
    let mut group = c.benchmark_group("validate");
    for (label, request) in &requests {
        for (settings_label, settings) in [("platform", &platform), ("default", &json!({}))] {
            let payload = json!({"request": request, "settings": settings})
                .to_string()
                .into_bytes();
            group.throughput(Throughput::Bytes(payload.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(*label, settings_label),
                &payload,
                |b, payload| {
                    let mut cluster = FakeCluster {
                        storage_classes: storage_classes(),
                    };
                    b.iter(|| evaluate(std::hint::black_box(payload), &mut cluster).to_json());
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, validate_path);
criterion_main!(benches);
