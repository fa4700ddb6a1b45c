//! An in-memory [`Cluster`] whose answers are chosen by one input byte, and
//! that counts the look-ups the policy makes.

use serde_json::json;
use statefulset_policy::cluster::{
    Cluster, LookupError, PodDisruptionBudget, Service, StorageClass,
};
use statefulset_policy::statefulset::StatefulSet;

/// How many look-ups of each kind one evaluation made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub service: usize,
    pub storage_classes: usize,
    pub stateful_sets: usize,
    pub pod_disruption_budgets: usize,
}

impl Calls {
    pub fn total(&self) -> usize {
        self.service + self.storage_classes + self.stateful_sets + self.pod_disruption_budgets
    }
}

/// Answers every look-up from data fixed at construction.
#[derive(Debug, Clone)]
pub struct FakeCluster {
    seed: u8,
    service: Result<Option<Service>, LookupError>,
    storage_classes: Result<Vec<StorageClass>, LookupError>,
    stateful_sets: Result<Vec<StatefulSet>, LookupError>,
    pod_disruption_budgets: Result<Vec<PodDisruptionBudget>, LookupError>,
    pub calls: Calls,
}

fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("the fake cluster's own data decodes")
}

fn failure() -> LookupError {
    LookupError("Host error: the server is currently unable to handle the request".into())
}

impl FakeCluster {
    /// A cluster chosen by `seed`: the governing Service (headless and selecting
    /// `app=nginx`, with a ClusterIP, without selector, missing, or a failing
    /// look-up), the StorageClasses, the StatefulSets and the
    /// PodDisruptionBudgets of the namespace.
    pub fn new(seed: u8) -> FakeCluster {
        let service = match seed % 5 {
            0 => Ok(Some(parse(
                json!({"spec": {"clusterIP": "None", "selector": {"app": "nginx"}}}),
            ))),
            1 => Ok(Some(parse(
                json!({"spec": {"clusterIP": "10.96.0.10", "selector": {"app": "nginx"}}}),
            ))),
            2 => Ok(Some(parse(json!({"spec": {"clusterIP": "None"}})))),
            3 => Ok(None),
            _ => Err(failure()),
        };
        let storage_classes = match (seed / 5) % 4 {
            0 => Ok(parse(json!([
                {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "allowVolumeExpansion": true},
                {"metadata": {"name": "fast-ssd"}, "allowVolumeExpansion": true},
                {"metadata": {"name": "slow-hdd"}}
            ]))),
            1 => Ok(Vec::new()),
            2 => Err(failure()),
            _ => Ok(parse(json!([{"metadata": {"name": "standard"}}]))),
        };
        let stateful_sets = match (seed / 20) % 3 {
            0 => Ok(parse(json!([
                {"metadata": {"name": "web", "namespace": "default"}, "spec": {"serviceName": "nginx", "replicas": 2}}
            ]))),
            1 => Ok(Vec::new()),
            _ => Err(failure()),
        };
        let pod_disruption_budgets = match (seed / 60) % 3 {
            0 => Ok(parse(json!([
                {"metadata": {"name": "nginx"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nginx"}}}},
                {"metadata": {"name": "frozen"}, "spec": {"minAvailable": "100%", "selector": {"matchLabels": {"tier": "frozen"}}}}
            ]))),
            1 => Ok(Vec::new()),
            _ => Err(failure()),
        };
        FakeCluster {
            seed,
            service,
            storage_classes,
            stateful_sets,
            pod_disruption_budgets,
            calls: Calls::default(),
        }
    }

    /// The same cluster, with no call recorded yet.
    pub fn fresh(&self) -> FakeCluster {
        FakeCluster::new(self.seed)
    }
}

impl Cluster for FakeCluster {
    fn service(&mut self, _namespace: &str, _name: &str) -> Result<Option<Service>, LookupError> {
        self.calls.service += 1;
        self.service.clone()
    }

    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError> {
        self.calls.storage_classes += 1;
        self.storage_classes.clone()
    }

    fn stateful_sets(&mut self, _namespace: &str) -> Result<Vec<StatefulSet>, LookupError> {
        self.calls.stateful_sets += 1;
        self.stateful_sets.clone()
    }

    fn pod_disruption_budgets(
        &mut self,
        _namespace: &str,
    ) -> Result<Vec<PodDisruptionBudget>, LookupError> {
        self.calls.pod_disruption_budgets += 1;
        self.pod_disruption_budgets.clone()
    }
}
