//! Every check through the full flow: denied, warned, off and passed; the
//! wording of the rejection; storage classes, names and quantities.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

/// One check, a request that breaks it and one that does not.
struct Case {
    id: &'static str,
    default_action: &'static str,
    settings: Value,
    violating: Value,
    passing: Value,
    /// The cluster of the violating request.
    cluster: fn() -> FakeCluster,
    /// The cluster of the passing request.
    passing_cluster: fn() -> FakeCluster,
    /// What the message must show: the field path, the value, the rule.
    mentions: &'static [&'static str],
}

impl Case {
    fn run(&self, object: &Value, settings: &Value) -> ValidationResponse {
        create(object.clone())
            .settings(settings.clone())
            .run(&mut (self.cluster)())
    }

    fn exercise(&self) {
        let id = self.id;
        let tag = format!("[{id}]");

        // The passing object raises nothing at all.
        let passing = create(self.passing.clone())
            .settings(self.settings.clone())
            .run(&mut (self.passing_cluster)());
        accepted_cleanly(&passing);

        // deny
        let message = denied(&self.run(&self.violating, &enforce(&self.settings, id, "deny")));
        assert_eq!(check_ids(&message), vec![id], "{message}");
        assert_mentions(&message, self.mentions);
        assert!(
            message.starts_with(&format!("StatefulSet {NS}/{NAME} violates 1 rule:")),
            "{message}"
        );

        // warn: accepted, the violation (same wording) is the only warning.
        let response = self.run(&self.violating, &enforce(&self.settings, id, "warn"));
        let warnings = accepted(&response);
        assert_eq!(warnings.len(), 1, "{id}: {warnings:?}");
        assert!(warnings[0].starts_with(&tag), "{}", warnings[0]);
        assert_mentions(&warnings[0], self.mentions);

        // off: as if the check did not exist.
        accepted_cleanly(&self.run(&self.violating, &enforce(&self.settings, id, "off")));

        // Without an enforcement entry, the documented default action.
        let response = self.run(&self.violating, &self.settings);
        match self.default_action {
            "deny" => assert_eq!(check_ids(&denied(&response)), vec![id]),
            "warn" => {
                let warnings = accepted(&response);
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert!(warnings[0].starts_with(&tag));
            }
            other => panic!("unexpected default {other}"),
        }
    }
}

fn with_claim(claim: Value) -> Value {
    sts_with_claims(vec![claim])
}

fn cluster_with_clusterip_service() -> FakeCluster {
    FakeCluster::empty().with_service(
        NS,
        NAME,
        json!({"spec": {"clusterIP": "10.96.0.12", "selector": {"app": "web"}}}),
    )
}

fn cluster_with_foreign_selector() -> FakeCluster {
    FakeCluster::empty().with_service(
        NS,
        NAME,
        json!({"spec": {"clusterIP": "None", "selector": {"app": "cache"}}}),
    )
}

#[test]
fn service_name_required() {
    Case {
        id: "service-name-required",
        default_action: "warn",
        settings: json!({}),
        violating: with(sts(), "/spec/serviceName", Value::Null),
        passing: sts(),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &["spec.serviceName is absent", "no stable DNS names"],
    }
    .exercise();
}

#[test]
fn service_name_valid() {
    Case {
        id: "service-name-valid",
        default_action: "deny",
        settings: json!({}),
        violating: with(sts(), "/spec/serviceName", json!("Web_1")),
        passing: sts(),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.serviceName is \"Web_1\"",
            "not a DNS-1123 label",
            "spec.subdomain",
        ],
    }
    .exercise();
}

#[test]
fn service_exists() {
    // The violating run uses a cluster without the Service; the passing run must
    // then find it, so both use the one fake that has it only for `web`.
    Case {
        id: "service-exists",
        default_action: "warn",
        settings: json!({}),
        violating: with(sts(), "/spec/serviceName", json!("missing")),
        passing: sts(),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &["spec.serviceName is \"missing\"", "\"db\""],
    }
    .exercise();
}

#[test]
fn service_headless() {
    let case = Case {
        id: "service-headless",
        default_action: "warn",
        settings: json!({}),
        violating: sts(),
        passing: sts(),
        cluster: cluster_with_clusterip_service,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.serviceName is \"web\"",
            "clusterIP \"10.96.0.12\"",
            "clusterIP: None",
        ],
    };
    case.exercise();
    // mustBeHeadless false turns it off as well.
    accepted_cleanly(&case.run(
        &case.violating,
        &json!({"serviceName": {"mustBeHeadless": false}}),
    ));
}

#[test]
fn service_selects_pods() {
    let case = Case {
        id: "service-selects-pods",
        default_action: "warn",
        settings: json!({}),
        violating: sts(),
        passing: sts(),
        cluster: cluster_with_foreign_selector,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.serviceName is \"web\"",
            "app=cache",
            "spec.template.metadata.labels",
        ],
    };
    case.exercise();
    accepted_cleanly(&case.run(
        &case.violating,
        &json!({"serviceName": {"mustSelectPods": false}}),
    ));
    // Pods carrying the selected label fix it.
    let relabelled = with(sts(), "/spec/template/metadata/labels/app", json!("cache"));
    accepted_cleanly(&case.run(&relabelled, &case.settings));
}

#[test]
fn storage_class_required() {
    Case {
        id: "storage-class-required",
        default_action: "deny",
        settings: json!({"storage": {"requireStorageClass": true}}),
        violating: with_claim(claim("data", None, "1Gi")),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is absent",
            "cluster default",
        ],
    }
    .exercise();
}

#[test]
fn storage_class_allowed() {
    Case {
        id: "storage-class-allowed",
        default_action: "deny",
        settings: json!({"storage": {"allowedStorageClasses": ["fast", "standard"]}}),
        violating: with_claim(claim("data", Some("slow"), "1Gi")),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"slow\"",
            "allowed storage classes are \"fast\", \"standard\"",
        ],
    }
    .exercise();
    Case {
        id: "storage-class-allowed",
        default_action: "deny",
        settings: json!({"storage": {"deniedStorageClasses": ["slow"]}}),
        violating: with_claim(claim("data", Some("slow"), "1Gi")),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"slow\"",
            "denied storage classes are \"slow\"",
        ],
    }
    .exercise();
}

#[test]
fn storage_class_exists() {
    Case {
        id: "storage-class-exists",
        default_action: "deny",
        settings: json!({"storage": {"storageClassMustExist": true}}),
        violating: with_claim(claim("data", Some("gold"), "1Gi")),
        passing: with_claim(claim("data", Some("slow"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"gold\"",
            "no StorageClass of that name exists",
        ],
    }
    .exercise();
}

#[test]
fn storage_class_expandable() {
    Case {
        id: "storage-class-expandable",
        default_action: "deny",
        settings: json!({"storage": {"requireVolumeExpansion": true}}),
        violating: with_claim(claim("data", Some("slow"), "1Gi")),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"slow\"",
            "StorageClass \"slow\" does not set allowVolumeExpansion: true",
        ],
    }
    .exercise();
}

#[test]
fn access_modes_allowed() {
    let rwx = with(
        claim("data", Some("fast"), "1Gi"),
        "/spec/accessModes",
        json!(["ReadWriteOnce", "ReadWriteMany"]),
    );
    Case {
        id: "access-modes-allowed",
        default_action: "deny",
        settings: json!({"storage": {"allowedAccessModes": ["ReadWriteOnce", "ReadWriteOncePod"]}}),
        violating: with_claim(rwx),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.accessModes[1] is \"ReadWriteMany\"",
            "allowed access modes are \"ReadWriteOnce\", \"ReadWriteOncePod\"",
        ],
    }
    .exercise();
}

#[test]
fn storage_size() {
    Case {
        id: "storage-size",
        default_action: "deny",
        settings: json!({"storage": {"minSize": "1Gi", "maxSize": "10Gi"}}),
        violating: with_claim(claim("data", Some("fast"), "20Gi")),
        passing: with_claim(claim("data", Some("fast"), "10Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.resources.requests.storage is \"20Gi\"",
            "between 1Gi and 10Gi",
        ],
    }
    .exercise();
}

#[test]
fn volume_mode_allowed() {
    let block = with(
        claim("data", Some("fast"), "1Gi"),
        "/spec/volumeMode",
        json!("Block"),
    );
    Case {
        id: "volume-mode-allowed",
        default_action: "deny",
        settings: json!({"storage": {"allowedVolumeModes": ["Filesystem"]}}),
        violating: with_claim(block),
        passing: with_claim(claim("data", Some("fast"), "1Gi")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[0] (data).spec.volumeMode is \"Block\"",
            "allowed volume modes are \"Filesystem\"",
        ],
    }
    .exercise();
}

#[test]
fn pvc_retention() {
    Case {
        id: "pvc-retention",
        default_action: "deny",
        settings: json!({"storage": {"requireRetainPolicy": true}}),
        violating: with(
            with_claim(claim("data", Some("fast"), "1Gi")),
            "/spec/persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Delete", "whenScaled": "Retain"}),
        ),
        passing: with(
            with_claim(claim("data", Some("fast"), "1Gi")),
            "/spec/persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        ),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.persistentVolumeClaimRetentionPolicy.whenDeleted is \"Delete\"",
            "must be Retain",
        ],
    }
    .exercise();
}

#[test]
fn pod_management_policy_allowed() {
    Case {
        id: "pod-management-policy-allowed",
        default_action: "deny",
        settings: json!({"rollout": {"allowedPodManagementPolicies": ["OrderedReady"]}}),
        violating: with(sts(), "/spec/podManagementPolicy", json!("Parallel")),
        passing: with(sts(), "/spec/podManagementPolicy", json!("OrderedReady")),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.podManagementPolicy is \"Parallel\"",
            "allowed pod management policies are \"OrderedReady\"",
        ],
    }
    .exercise();
}

#[test]
fn update_strategy_allowed() {
    Case {
        id: "update-strategy-allowed",
        default_action: "deny",
        settings: json!({"rollout": {"allowedUpdateStrategies": ["RollingUpdate"]}}),
        violating: with(sts(), "/spec/updateStrategy", json!({"type": "OnDelete"})),
        passing: with(
            sts(),
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate"}),
        ),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.updateStrategy.type is \"OnDelete\"",
            "allowed update strategies are \"RollingUpdate\"",
        ],
    }
    .exercise();
}

/// Kept apart by anti-affinity, so that pods-spread does not warn as well.
fn partitioned(replicas: Value, partition: i64) -> Value {
    let object = with(sts(), "/spec/replicas", replicas);
    let object = with(object, "/spec/template/spec/affinity", anti_affinity());
    with(
        object,
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}),
    )
}

#[test]
fn partition_within_replicas() {
    Case {
        id: "partition-within-replicas",
        default_action: "warn",
        settings: json!({}),
        violating: partitioned(json!(3), 4),
        // Equal to replicas stages an update: not a violation.
        passing: partitioned(json!(3), 3),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.updateStrategy.rollingUpdate.partition is 4",
            "spec.replicas (3)",
        ],
    }
    .exercise();
}

#[test]
fn partition_compares_with_the_default_replica_count_and_ignores_on_delete() {
    let settings = json!({});
    // Absent replicas are 1.
    let object = partitioned(Value::Null, 2);
    let warnings = accepted(
        &create(object)
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["partition-within-replicas"]
    );
    assert_mentions(&warnings[0], &["spec.replicas (1)"]);
    accepted_cleanly(&create(partitioned(Value::Null, 1)).run(&mut FakeCluster::healthy()));
    accepted_cleanly(&create(partitioned(json!(0), 0)).run(&mut FakeCluster::healthy()));
    // Under OnDelete a leftover partition means nothing.
    let on_delete = with(
        partitioned(json!(1), 5),
        "/spec/updateStrategy/type",
        json!("OnDelete"),
    );
    accepted_cleanly(&create(on_delete).run(&mut FakeCluster::healthy()));
}

#[test]
fn service_in_use() {
    let cluster =
        || FakeCluster::empty().with_stateful_set(NS, with(sts(), "/spec/replicas", json!(2)));
    let tag = "[service-in-use]";
    // Default: warn.
    let warnings = accepted(&delete_service(NS, NAME).run(&mut cluster()));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with(tag), "{}", warnings[0]);
    assert_mentions(
        &warnings[0],
        &[
            "StatefulSet db/web spec.serviceName",
            "\"web\"",
            "2 replica(s)",
        ],
    );
    // deny
    let message = denied(
        &delete_service(NS, NAME)
            .settings(json!({"enforcement": {"service-in-use": "deny"}}))
            .run(&mut cluster()),
    );
    assert_eq!(check_ids(&message), vec!["service-in-use"]);
    assert_mentions(
        &message,
        &[
            "deleting Service db/web",
            "StatefulSet db/web spec.serviceName",
        ],
    );
    // off: not even looked up.
    let mut fake = cluster();
    accepted_cleanly(
        &delete_service(NS, NAME)
            .settings(json!({"enforcement": {"service-in-use": "off"}}))
            .run(&mut fake),
    );
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    // Another Service of the namespace is not in use.
    accepted_cleanly(&delete_service(NS, "other").run(&mut cluster()));
}

fn with_mount(object: Value, container: usize, name: &str) -> Value {
    let mut object = object;
    let mounts = object
        .pointer_mut(&format!(
            "/spec/template/spec/containers/{container}/volumeMounts"
        ))
        .and_then(Value::as_array_mut)
        .expect("the container has volumeMounts");
    mounts.push(json!({"name": name, "mountPath": format!("/mnt/{name}")}));
    object
}

#[test]
fn volume_mounts_resolve() {
    let www = || sts_with_claims(vec![claim("www", None, "1Gi")]);
    Case {
        id: "volume-mounts-resolve",
        default_action: "deny",
        settings: json!({}),
        violating: with_mount(www(), 0, "data"),
        passing: www(),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.template.spec.containers[0] (web).volumeMounts[1].name is \"data\"",
            "no volume of spec.template.spec.volumes and no claim template has that name",
            "no replica ever starts",
            "claim templates: \"www\"",
        ],
    }
    .exercise();
}

#[test]
fn claims_mounted() {
    let mut unmounted = sts_with_claims(vec![claim("www", None, "1Gi")]);
    unmounted["spec"]["volumeClaimTemplates"]
        .as_array_mut()
        .unwrap()
        .push(claim("logs", None, "1Gi"));
    Case {
        id: "claims-mounted",
        default_action: "warn",
        settings: json!({}),
        violating: unmounted,
        passing: sts_with_claims(vec![claim("www", None, "1Gi"), claim("logs", None, "1Gi")]),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.volumeClaimTemplates[1] (logs).metadata.name is \"logs\"",
            "no container or init container uses it",
        ],
    }
    .exercise();
}

#[test]
fn pods_spread() {
    Case {
        id: "pods-spread",
        default_action: "warn",
        settings: json!({}),
        violating: with(sts(), "/spec/replicas", json!(3)),
        passing: spread(sts(), 3),
        cluster: FakeCluster::healthy,
        passing_cluster: FakeCluster::healthy,
        mentions: &[
            "spec.template.spec is without podAntiAffinity or topologySpreadConstraints",
            "with 3 replicas",
            "\"kubernetes.io/hostname\"",
            "app=web",
        ],
    }
    .exercise();
}

fn budgets_on() -> Value {
    json!({"availability": {"podDisruptionBudget": true}})
}

fn cluster_with_budget(spec: Value) -> FakeCluster {
    FakeCluster::healthy().with_pdb(NS, "web-pdb", spec)
}

fn cluster_with_a_spare_budget() -> FakeCluster {
    cluster_with_budget(json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}))
}

fn cluster_with_a_blocking_budget() -> FakeCluster {
    cluster_with_budget(json!({"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}))
}

#[test]
fn pdb_covers_pods() {
    Case {
        id: "pdb-covers-pods",
        default_action: "warn",
        settings: budgets_on(),
        violating: spread(sts(), 3),
        passing: spread(sts(), 3),
        cluster: FakeCluster::healthy,
        passing_cluster: cluster_with_a_spare_budget,
        mentions: &[
            "spec.template.metadata.labels is app=web",
            "no PodDisruptionBudget in namespace \"db\" selects these pods",
            "all 3 replicas at once",
        ],
    }
    .exercise();
    // Off unless podDisruptionBudget is set: not even looked up.
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(&create(spread(sts(), 3)).run(&mut fake));
    assert_eq!(fake.pod_disruption_budget_calls(), 0);
}

#[test]
fn pdb_allows_disruption() {
    Case {
        id: "pdb-allows-disruption",
        default_action: "warn",
        settings: budgets_on(),
        violating: spread(sts(), 3),
        passing: spread(sts(), 3),
        cluster: cluster_with_a_blocking_budget,
        passing_cluster: cluster_with_a_spare_budget,
        mentions: &[
            "PodDisruptionBudget db/web-pdb spec.minAvailable is 3",
            "requires 3 of the 3 replicas available",
            "every node drain blocks",
        ],
    }
    .exercise();
}

// ---------------------------------------------------------------------------
// The rejection message

fn every_rule_settings() -> Value {
    json!({
        "storage": {
            "allowedStorageClasses": ["fast", "standard"],
            "requireStorageClass": true,
            "allowedAccessModes": ["ReadWriteOnce"],
            "maxSize": "10Gi",
            "allowedVolumeModes": ["Filesystem"],
            "requireRetainPolicy": true
        },
        "rollout": {
            "allowedPodManagementPolicies": ["OrderedReady"],
            "allowedUpdateStrategies": ["RollingUpdate"]
        }
    })
}

#[test]
fn every_violation_is_reported_at_once_with_field_value_and_rule() {
    let wal = with(
        claim("wal", Some("slow"), "20Gi"),
        "/spec/volumeMode",
        json!("Block"),
    );
    let wal = with(wal, "/spec/accessModes", json!(["ReadWriteMany"]));
    let mut object = sts_with_claims(vec![claim("data", Some("fast"), "1Gi"), wal]);
    set(&mut object, "/spec/podManagementPolicy", json!("Parallel"));
    set(
        &mut object,
        "/spec/updateStrategy",
        json!({"type": "OnDelete"}),
    );
    set(
        &mut object,
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Delete", "whenScaled": "Delete"}),
    );
    let response = create(object)
        .settings(every_rule_settings())
        .run(&mut FakeCluster::healthy());
    let message = denied(&response);
    assert!(
        message.starts_with("StatefulSet db/web violates 8 rules: (1) "),
        "{message}"
    );
    assert_eq!(
        check_ids(&message),
        vec![
            "storage-class-allowed",
            "access-modes-allowed",
            "storage-size",
            "volume-mode-allowed",
            "pvc-retention",
            "pvc-retention",
            "pod-management-policy-allowed",
            "update-strategy-allowed",
        ],
        "{message}"
    );
    assert_mentions(
        &message,
        &[
            "(1) [storage-class-allowed] spec.volumeClaimTemplates[1] (wal).spec.storageClassName is \"slow\": allowed storage classes are \"fast\", \"standard\".",
            "[access-modes-allowed] spec.volumeClaimTemplates[1] (wal).spec.accessModes[0] is \"ReadWriteMany\": allowed access modes are \"ReadWriteOnce\"",
            "[storage-size] spec.volumeClaimTemplates[1] (wal).spec.resources.requests.storage is \"20Gi\": must be at most 10Gi",
            "[volume-mode-allowed] spec.volumeClaimTemplates[1] (wal).spec.volumeMode is \"Block\"",
            "spec.persistentVolumeClaimRetentionPolicy.whenDeleted is \"Delete\"",
            "spec.persistentVolumeClaimRetentionPolicy.whenScaled is \"Delete\"",
            "(8) [update-strategy-allowed] spec.updateStrategy.type is \"OnDelete\"",
        ],
    );
    // The compliant claim is not named.
    assert!(!message.contains("(data)"), "{message}");
    assert_eq!(response.warnings, None);
}

#[test]
fn each_warned_violation_is_its_own_warning_and_denials_keep_them() {
    let claims = vec![
        claim("a", Some("slow"), "1Gi"),
        claim("b", Some("fast"), "1Gi"),
        claim("c", Some("gold"), "1Gi"),
    ];
    let settings = json!({
        "storage": {"allowedStorageClasses": ["fast"], "maxSize": "10Gi"},
        "enforcement": {"storage-class-allowed": "warn"}
    });
    let response = create(sts_with_claims(claims.clone()))
        .settings(settings.clone())
        .run(&mut FakeCluster::healthy());
    let warnings = accepted(&response);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_mentions(&warnings[0], &["[storage-class-allowed] spec.volumeClaimTemplates[0] (a).spec.storageClassName is \"slow\""]);
    assert_mentions(&warnings[1], &["[storage-class-allowed] spec.volumeClaimTemplates[2] (c).spec.storageClassName is \"gold\""]);

    // A denial elsewhere refuses the request and still returns the warnings.
    let mut big = claims;
    big[1] = claim("b", Some("fast"), "11Gi");
    let response = create(sts_with_claims(big))
        .settings(settings)
        .run(&mut FakeCluster::healthy());
    let message = denied(&response);
    assert_eq!(check_ids(&message), vec!["storage-size"]);
    assert!(message.starts_with("StatefulSet db/web violates 1 rule: (1) [storage-size] spec.volumeClaimTemplates[1] (b)"), "{message}");
    assert_eq!(response.warnings.as_ref().map(Vec::len), Some(2));
}

// ---------------------------------------------------------------------------
// Storage classes

fn run_claims(settings: Value, claims: Vec<Value>) -> ValidationResponse {
    create(sts_with_claims(claims))
        .settings(settings)
        .run(&mut FakeCluster::healthy())
}

fn annotated(mut claim: Value, class: &str) -> Value {
    claim["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": class});
    claim
}

#[test]
fn the_beta_annotation_wins_over_the_field() {
    let allow_fast = json!({"storage": {"allowedStorageClasses": ["fast"]}});
    accepted_cleanly(&run_claims(
        allow_fast.clone(),
        vec![annotated(claim("data", Some("slow"), "1Gi"), "fast")],
    ));
    let message = denied(&run_claims(
        allow_fast.clone(),
        vec![annotated(claim("data", Some("fast"), "1Gi"), "slow")],
    ));
    assert_mentions(
        &message,
        &["spec.volumeClaimTemplates[0] (data).metadata.annotations[\"volume.beta.kubernetes.io/storage-class\"] is \"slow\""],
    );
    // The annotation alone names a class for storage-class-required.
    accepted_cleanly(&run_claims(
        json!({"storage": {"requireStorageClass": true}}),
        vec![annotated(claim("data", None, "1Gi"), "fast")],
    ));
    // And it is the class that must exist.
    let message = denied(&run_claims(
        json!({"storage": {"storageClassMustExist": true}}),
        vec![annotated(claim("data", Some("fast"), "1Gi"), "gold")],
    ));
    assert_mentions(&message, &["[storage-class-exists]", "is \"gold\""]);
}

#[test]
fn the_empty_class_is_a_class_like_any_other() {
    let empty = || claim("data", Some(""), "1Gi");
    // It names a class: storage-class-required is satisfied.
    accepted_cleanly(&run_claims(
        json!({"storage": {"requireStorageClass": true}}),
        vec![empty()],
    ));
    // It is judged by the lists by its name.
    let message = denied(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["fast"]}}),
        vec![empty()],
    ));
    assert_mentions(&message, &["[storage-class-allowed] spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"\":"]);
    accepted_cleanly(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["", "fast"]}}),
        vec![empty()],
    ));
    let message = denied(&run_claims(
        json!({"storage": {"deniedStorageClasses": [""]}}),
        vec![empty()],
    ));
    assert_mentions(&message, &["is \"\": denied storage classes are \"\""]);
    accepted_cleanly(&run_claims(
        json!({"storage": {"deniedStorageClasses": [""]}}),
        vec![claim("data", Some("slow"), "1Gi")],
    ));
    // An empty beta annotation wins over a named field.
    let message = denied(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["fast"]}}),
        vec![annotated(claim("data", Some("fast"), "1Gi"), "")],
    ));
    assert_mentions(&message, &["storage-class\"] is \"\""]);
}

#[test]
fn an_absent_or_null_class_is_the_cluster_default() {
    for class in [None, Some(Value::Null)] {
        let mut data = claim("data", None, "1Gi");
        if let Some(class) = class {
            data["spec"]["storageClassName"] = class;
        }
        let message = denied(&run_claims(
            json!({"storage": {"requireStorageClass": true}}),
            vec![data.clone()],
        ));
        assert_mentions(&message, &["[storage-class-required] spec.volumeClaimTemplates[0] (data).spec.storageClassName is absent"]);
        // The lists judge the class the claim gets: the cluster default
        // ("standard" in the healthy cluster), read from the one list.
        let mut fake = FakeCluster::healthy();
        let response = create(sts_with_claims(vec![data.clone()]))
            .settings(json!({"storage": {"allowedStorageClasses": ["standard"]}}))
            .run(&mut fake);
        accepted_cleanly(&response);
        assert_eq!(fake.storage_class_calls(), 1);
        let message = denied(&run_claims(
            json!({"storage": {"allowedStorageClasses": ["fast"]}}),
            vec![data.clone()],
        ));
        assert_mentions(
            &message,
            &["(data).spec.storageClassName is absent (cluster default \"standard\"): allowed storage classes are \"fast\""],
        );
        let message = denied(&run_claims(
            json!({"storage": {"deniedStorageClasses": ["standard"]}}),
            vec![data.clone()],
        ));
        assert_mentions(
            &message,
            &["is absent (cluster default \"standard\"): denied storage classes are \"standard\""],
        );
        accepted_cleanly(&run_claims(
            json!({"storage": {"deniedStorageClasses": ["slow"]}}),
            vec![data.clone()],
        ));
        // Without any storage rule, nothing to say, and nothing looked up.
        let mut fake = FakeCluster::healthy();
        accepted_cleanly(&create(sts_with_claims(vec![data])).run(&mut fake));
        assert_eq!(fake.storage_class_calls(), 0);
    }
}

#[test]
fn without_a_default_class_an_allowlist_refuses_an_absent_class() {
    let data = claim("data", None, "1Gi");
    let no_default = || FakeCluster::healthy_services().with_class("fast", false, Some(true));
    let response = create(sts_with_claims(vec![data.clone()]))
        .settings(json!({"storage": {"allowedStorageClasses": ["fast"]}}))
        .run(&mut no_default());
    assert_mentions(
        &denied(&response),
        &[
            "is absent (the cluster has no default class)",
            "would get whatever class becomes the default",
        ],
    );
    // A denylist has nothing to refuse.
    let response = create(sts_with_claims(vec![data]))
        .settings(json!({"storage": {"deniedStorageClasses": ["fast"]}}))
        .run(&mut no_default());
    accepted_cleanly(&response);
}

#[test]
fn a_failed_class_look_up_refuses_under_an_allowlist_and_follows_lookup_failure_under_a_denylist() {
    let data = claim("data", None, "1Gi");
    let failing = || FakeCluster::healthy().failing_storage_classes("the server is unavailable");
    for lookup_failure in ["deny", "warn"] {
        // The allowlist cannot vouch for an unknown class: always refused.
        let response = create(sts_with_claims(vec![data.clone()]))
            .settings(json!({"storage": {"allowedStorageClasses": ["standard"]}, "lookupFailure": lookup_failure}))
            .run(&mut failing());
        assert_mentions(
            &denied(&response),
            &[
                "[storage-class-allowed]",
                "is absent",
                "the look-up of StorageClasses failed (the server is unavailable)",
            ],
        );
        // The denylist refuses only what it knows: the failure follows lookupFailure.
        let response = create(sts_with_claims(vec![data.clone()]))
            .settings(json!({"storage": {"deniedStorageClasses": ["slow"]}, "lookupFailure": lookup_failure}))
            .run(&mut failing());
        if lookup_failure == "deny" {
            assert_mentions(
                &denied(&response),
                &["[storage-class-allowed]", "which is unknown"],
            );
        } else {
            let warnings = accepted(&response);
            assert_eq!(
                check_ids(&warnings.join("\n")),
                vec!["storage-class-allowed"]
            );
        }
    }
}

#[test]
fn mixed_classes_name_each_offender() {
    let claims = vec![
        claim("data", Some("fast"), "1Gi"),
        claim("wal", Some("slow"), "1Gi"),
        claim("logs", None, "1Gi"),
        annotated(claim("cache", Some("fast"), "1Gi"), "slow"),
        claim("tmp", Some("standard"), "1Gi"),
    ];
    let message = denied(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["fast", "standard"]}}),
        claims.clone(),
    ));
    assert!(message.contains("violates 2 rules"), "{message}");
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[1] (wal).spec.storageClassName is \"slow\"",
            "spec.volumeClaimTemplates[3] (cache).metadata.annotations[\"volume.beta.kubernetes.io/storage-class\"] is \"slow\"",
        ],
    );
    // "logs" names no class and gets the allowed default "standard".
    for compliant in ["(data)", "(logs)", "(tmp)"] {
        assert!(!message.contains(compliant), "{message}");
    }
    // A claim without a name is named by its index alone.
    let message = denied(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["fast"]}}),
        vec![json!({"spec": {"storageClassName": "slow"}})],
    ));
    assert_mentions(
        &message,
        &["spec.volumeClaimTemplates[0].spec.storageClassName is \"slow\""],
    );
}

#[test]
fn the_wildcard_allows_every_class() {
    let claims = vec![
        claim("a", Some("anything"), "1Gi"),
        claim("b", None, "1Gi"),
        claim("c", Some(""), "1Gi"),
    ];
    accepted_cleanly(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["*"]}}),
        claims.clone(),
    ));
    accepted_cleanly(&run_claims(
        json!({"storage": {"allowedStorageClasses": ["fast", "*"]}}),
        claims,
    ));
}

#[test]
fn a_set_without_claims_passes_every_storage_rule() {
    let settings = json!({
        "storage": {
            "allowedStorageClasses": ["fast"],
            "requireStorageClass": true,
            "storageClassMustExist": true,
            "requireVolumeExpansion": true,
            "allowedAccessModes": ["ReadWriteOncePod"],
            "minSize": "1Gi",
            "maxSize": "2Gi",
            "allowedVolumeModes": ["Block"],
            "requireRetainPolicy": true
        }
    });
    // Not even with a cluster that has no StorageClass at all, nor with a
    // retention policy that would delete claims (there are none).
    let mut fake = FakeCluster::empty().with_service(
        NS,
        NAME,
        json!({"spec": {"clusterIP": "None", "selector": {"app": "web"}}}),
    );
    let deleting = json!({"whenDeleted": "Delete", "whenScaled": "Delete"});
    let claimless = || {
        with(
            sts(),
            "/spec/persistentVolumeClaimRetentionPolicy",
            deleting.clone(),
        )
    };
    accepted_cleanly(
        &create(claimless())
            .settings(settings.clone())
            .run(&mut fake),
    );
    let empty_list = with(claimless(), "/spec/volumeClaimTemplates", json!([]));
    accepted_cleanly(&create(empty_list).settings(settings.clone()).run(&mut fake));
    let null_list = with(claimless(), "/spec/volumeClaimTemplates", Value::Null);
    accepted_cleanly(&create(null_list).settings(settings.clone()).run(&mut fake));
    assert!(fake.calls.iter().all(|c| *c != Call::StorageClasses));
    // The same settings do bite on a claim.
    let claimed = with(
        claimless(),
        "/spec/volumeClaimTemplates",
        json!([claim("data", None, "5Gi")]),
    );
    let message = denied(&create(claimed).settings(settings).run(&mut fake));
    assert!(message.contains("violates 8 rules"), "{message}");
}

#[test]
fn absent_modes_are_the_kubernetes_defaults() {
    // volumeMode absent = Filesystem.
    let message = denied(&run_claims(
        json!({"storage": {"allowedVolumeModes": ["Block"]}}),
        vec![claim("data", Some("fast"), "1Gi")],
    ));
    assert_mentions(
        &message,
        &["spec.volumeClaimTemplates[0] (data).spec.volumeMode is \"Filesystem\""],
    );
    // podManagementPolicy absent = OrderedReady; updateStrategy absent = RollingUpdate.
    let settings = json!({"rollout": {"allowedPodManagementPolicies": ["Parallel"], "allowedUpdateStrategies": ["OnDelete"]}});
    let message = denied(
        &create(sts())
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(
        &message,
        &[
            "spec.podManagementPolicy is \"OrderedReady\"",
            "spec.updateStrategy.type is \"RollingUpdate\"",
        ],
    );
    // No retention policy is Kubernetes' Retain/Retain.
    accepted_cleanly(
        &create(sts())
            .settings(json!({"storage": {"requireRetainPolicy": true}}))
            .run(&mut FakeCluster::healthy()),
    );
    let scaled = with(
        with_claim(claim("data", Some("fast"), "1Gi")),
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenScaled": "Delete"}),
    );
    let message = denied(
        &create(scaled)
            .settings(json!({"storage": {"requireRetainPolicy": true}}))
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(check_ids(&message), vec!["pvc-retention"]);
    assert_mentions(&message, &["whenScaled is \"Delete\""]);
}

#[test]
fn each_offending_access_mode_is_named() {
    let modes = with(
        claim("data", Some("fast"), "1Gi"),
        "/spec/accessModes",
        json!(["ReadOnlyMany", "ReadWriteOnce", "ReadWriteMany"]),
    );
    let message = denied(&run_claims(
        json!({"storage": {"allowedAccessModes": ["ReadWriteOnce"]}}),
        vec![modes],
    ));
    assert!(message.contains("violates 2 rules"), "{message}");
    assert_mentions(
        &message,
        &[
            "accessModes[0] is \"ReadOnlyMany\"",
            "accessModes[2] is \"ReadWriteMany\"",
        ],
    );
    assert!(!message.contains("accessModes[1]"), "{message}");
}

// ---------------------------------------------------------------------------
// Service names

#[test]
fn service_name_must_be_a_dns_label() {
    let run = |name: Value| {
        let mut fake = FakeCluster::healthy();
        let response = create(with(sts(), "/spec/serviceName", name)).run(&mut fake);
        (response, fake)
    };
    for bad in ["Web", "web_1", "-web", "web-", "web.db", &"a".repeat(64)] {
        let (response, fake) = run(json!(bad));
        let message = denied(&response);
        // No pod can take it as its subdomain; no Service can have it either,
        // so nothing is looked up.
        assert_eq!(
            check_ids(&message),
            vec!["service-name-valid"],
            "{bad}: {message}"
        );
        assert_mentions(
            &message,
            &[&format!(
                "spec.serviceName is {}",
                serde_json::to_string(bad).unwrap()
            )],
        );
        assert!(fake.calls.is_empty(), "{bad}: {:?}", fake.calls);
    }
    // "" is no name: the pods get no subdomain, which Kubernetes accepts.
    let (response, fake) = run(json!(""));
    let warnings = accepted_warning(&response, &["service-name-required"]);
    assert_mentions(&warnings[0], &["spec.serviceName is \"\""]);
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    // 63 characters is the longest label; the Service then has to exist (it does not).
    let longest = "a".repeat(63);
    let (response, fake) = run(json!(longest));
    accepted_warning(&response, &["service-exists"]);
    assert_eq!(fake.calls, vec![Call::service(NS, &longest)]);
    for good in ["w", "0web", "web-0", "a-b-c"] {
        let (response, _) = run(json!(good));
        let warnings = accepted_warning(&response, &["service-exists"]);
        // A Service name must start with a letter unless the cluster relaxes it.
        assert_eq!(
            warnings[0].contains("unless the cluster enables RelaxedServiceNameValidation"),
            good == "0web",
            "{warnings:?}"
        );
    }
    // Required off: no name is fine.
    let response = create(with(sts(), "/spec/serviceName", Value::Null))
        .settings(json!({"serviceName": {"required": false}}))
        .run(&mut FakeCluster::healthy());
    accepted_cleanly(&response);
}

#[test]
fn a_sixty_three_character_service_that_exists_is_accepted() {
    let name = "s".repeat(63);
    let mut fake = FakeCluster::empty().with_service(
        NS,
        &name,
        json!({"spec": {"clusterIP": "None", "selector": {"app": "web"}}}),
    );
    accepted_cleanly(&create(with(sts(), "/spec/serviceName", json!(name))).run(&mut fake));
}

// ---------------------------------------------------------------------------
// Quantities through storage-size

fn sized(size: Value) -> Value {
    let mut data = claim("data", Some("fast"), "1Gi");
    data["spec"]["resources"]["requests"]["storage"] = size;
    data
}

fn size_verdict(bounds: Value, size: Value) -> Result<(), String> {
    let response = run_claims(json!({"storage": bounds}), vec![sized(size)]);
    if response.accepted {
        accepted_cleanly(&response);
        Ok(())
    } else {
        let message = denied(&response);
        assert_eq!(check_ids(&message), vec!["storage-size"], "{message}");
        Err(message)
    }
}

#[test]
fn sizes_compare_by_value() {
    // 1Gi == 1024Mi, at either bound.
    assert_eq!(
        size_verdict(json!({"maxSize": "1Gi"}), json!("1024Mi")),
        Ok(())
    );
    assert_eq!(
        size_verdict(json!({"minSize": "1024Mi"}), json!("1Gi")),
        Ok(())
    );
    assert_eq!(
        size_verdict(
            json!({"minSize": "1Gi", "maxSize": "1Gi"}),
            json!("1048576Ki")
        ),
        Ok(())
    );
    assert!(size_verdict(json!({"maxSize": "1Gi"}), json!("1025Mi")).is_err());
    // 1G < 1Gi.
    let message = size_verdict(json!({"minSize": "1Gi"}), json!("1G")).unwrap_err();
    assert_mentions(&message, &["is \"1G\": must be at least 1Gi"]);
    assert_eq!(size_verdict(json!({"maxSize": "1Gi"}), json!("1G")), Ok(()));
    // 0.5Ti == 512Gi.
    assert_eq!(
        size_verdict(json!({"maxSize": "512Gi"}), json!("0.5Ti")),
        Ok(())
    );
    assert!(size_verdict(json!({"maxSize": "511Gi"}), json!("0.5Ti")).is_err());
    assert_eq!(
        size_verdict(json!({"minSize": "0.5Ti"}), json!("512Gi")),
        Ok(())
    );
    // Exponent form: 1e9 == 1G, 1.5e10 > 10G.
    assert_eq!(
        size_verdict(json!({"minSize": "1G", "maxSize": "1G"}), json!("1e9")),
        Ok(())
    );
    let message = size_verdict(json!({"maxSize": "10G"}), json!("1.5e10")).unwrap_err();
    assert_mentions(&message, &["is \"1.5e10\": must be at most 10G"]);
    assert!(size_verdict(json!({"minSize": "1e9"}), json!("999M")).is_err());
}

#[test]
fn a_size_may_be_a_json_number() {
    assert_eq!(
        size_verdict(
            json!({"minSize": "1Gi", "maxSize": "1Gi"}),
            json!(1073741824)
        ),
        Ok(())
    );
    let message = size_verdict(json!({"minSize": "1Gi"}), json!(1073741823)).unwrap_err();
    assert_mentions(&message, &["is \"1073741823\": must be at least 1Gi"]);
    assert_eq!(
        size_verdict(json!({"maxSize": "2k"}), json!(1500.0)),
        Ok(())
    );
    assert!(size_verdict(json!({"maxSize": "1k"}), json!(1500.5)).is_err());
    // And a bound may be one too.
    assert_eq!(
        size_verdict(json!({"maxSize": 1073741824}), json!("1Gi")),
        Ok(())
    );
    assert!(size_verdict(json!({"maxSize": 1073741823}), json!("1Gi")).is_err());
}

#[test]
fn a_malformed_size_in_the_object_is_a_violation_not_a_crash() {
    // Each is refused by Kubernetes' ParseQuantity; an exponent beyond 64 bits
    // too (the suffix is not an int64), unlike one beyond 32 bits, which wraps.
    for bad in [
        "10GB",
        "ten",
        "",
        "1.2.3Gi",
        "--1",
        "1e99999999999999999999",
    ] {
        let message = size_verdict(json!({"maxSize": "10Gi"}), json!(bad)).unwrap_err();
        assert_mentions(
            &message,
            &[
                &format!(
                    "spec.volumeClaimTemplates[0] (data).spec.resources.requests.storage is {}",
                    serde_json::to_string(bad).unwrap()
                ),
                "not a valid quantity",
                "at most 10Gi",
            ],
        );
    }
    // Without a bound the size is not judged.
    accepted_cleanly(&run_claims(json!({}), vec![sized(json!("10GB"))]));
}

/// The API server reads a size from JSON with `Quantity.UnmarshalJSON`, so the
/// policy does: surrounding whitespace is trimmed, escape sequences are not decoded.
#[test]
fn a_size_is_read_as_kubernetes_reads_it_from_json() {
    let exactly_2gi = json!({"minSize": "2Gi", "maxSize": "2Gi"});
    for within in [" 2Gi", "2Gi ", "\u{a0}2Gi\u{3000}", "2147483648"] {
        assert_eq!(
            size_verdict(exactly_2gi.clone(), json!(within)),
            Ok(()),
            "{within:?}"
        );
    }
    // A tab is escaped in JSON (`"\t2Gi"`): Kubernetes reads the backslash.
    let message = size_verdict(exactly_2gi.clone(), json!("\t2Gi")).unwrap_err();
    assert_mentions(
        &message,
        &[r#"is "\\t2Gi": "\\t2Gi" is not a valid quantity"#],
    );
    // The canonical form the API server writes for 1.0001Gi.
    let canonical = json!("1073849198182400u");
    assert!(size_verdict(json!({"maxSize": "1Gi"}), canonical.clone()).is_err());
    assert_eq!(size_verdict(json!({"maxSize": "2Gi"}), canonical), Ok(()));
    // A number without digits reads as 0.
    let message = size_verdict(json!({"minSize": "1"}), json!("Gi")).unwrap_err();
    assert_mentions(&message, &[r#"is "Gi": must be at least 1"#]);
}

#[test]
fn a_claim_without_a_storage_request_violates_a_bound() {
    let mut no_request = claim("data", Some("fast"), "1Gi");
    no_request["spec"]["resources"] = json!({"limits": {"storage": "1Gi"}});
    for bounds in [json!({"minSize": "1Gi"}), json!({"maxSize": "1Gi"})] {
        let message = denied(&run_claims(
            json!({"storage": bounds}),
            vec![no_request.clone()],
        ));
        assert_eq!(check_ids(&message), vec!["storage-size"]);
        assert_mentions(
            &message,
            &[
                "spec.volumeClaimTemplates[0] (data).spec.resources.requests.storage is absent",
                "must request storage",
            ],
        );
    }
    let mut bare = claim("data", Some("fast"), "1Gi");
    bare["spec"]
        .as_object_mut()
        .unwrap()
        .shift_remove("resources");
    denied(&run_claims(
        json!({"storage": {"maxSize": "1Gi"}}),
        vec![bare.clone()],
    ));
    // No bound: no demand.
    accepted_cleanly(&run_claims(json!({}), vec![bare]));
}
