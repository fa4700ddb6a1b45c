//! `validate_settings`: what is accepted, and every refusal naming its key.

mod common;

use serde_json::{json, Value};
use statefulset_policy::settings_verdict;

fn verdict(settings: &Value) -> Result<(), String> {
    let response = settings_verdict(&serde_json::to_vec(settings).expect("JSON"));
    match (response.valid, response.message) {
        (true, None) => Ok(()),
        (true, Some(message)) => panic!("valid settings with a message: {message}"),
        (false, Some(message)) => Err(message),
        (false, None) => panic!("refused settings without a message"),
    }
}

#[track_caller]
fn assert_valid(settings: Value) {
    if let Err(message) = verdict(&settings) {
        panic!("{settings} should be valid, refused: {message}");
    }
}

/// Asserts the settings are refused with a message naming every fragment.
#[track_caller]
fn assert_refused(settings: Value, fragments: &[&str]) -> String {
    match verdict(&settings) {
        Ok(()) => panic!("{settings} should be refused"),
        Err(message) => {
            common::assert_mentions(&message, fragments);
            message
        }
    }
}

fn full_example() -> Value {
    json!({
        "serviceName": {"required": true, "mustExist": true, "mustBeHeadless": true, "mustSelectPods": false},
        "storage": {
            "allowedStorageClasses": ["standard", "fast"],
            "requireStorageClass": true,
            "storageClassMustExist": true,
            "requireVolumeExpansion": true,
            "allowedAccessModes": ["ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany"],
            "minSize": "1Gi",
            "maxSize": "2Ti",
            "allowedVolumeModes": ["Filesystem", "Block"],
            "requireRetainPolicy": true
        },
        "rollout": {
            "allowedPodManagementPolicies": ["OrderedReady", "Parallel"],
            "allowedUpdateStrategies": ["RollingUpdate", "OnDelete"]
        },
        "availability": {
            "podDisruptionBudget": true,
            "spreadTopologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
        },
        "defaults": {
            "podManagementPolicy": "Parallel",
            "partition": 0,
            "storageClassName": "standard",
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}
        },
        "enforcement": {
            "partition-within-replicas": "deny",
            "service-in-use": "off",
            "storage-size": "warn"
        },
        "lookupFailure": "warn"
    })
}

#[test]
fn empty_null_and_full_settings_are_valid() {
    assert_valid(json!({}));
    assert_valid(Value::Null);
    assert_valid(full_example());
    // Every check id is a valid enforcement key, with every action.
    let ids = [
        "service-name-required",
        "service-exists",
        "service-headless",
        "service-selects-pods",
        "storage-class-required",
        "storage-class-allowed",
        "storage-class-exists",
        "storage-class-expandable",
        "access-modes-allowed",
        "storage-size",
        "volume-mode-allowed",
        "pvc-retention",
        "pod-management-policy-allowed",
        "update-strategy-allowed",
        "partition-within-replicas",
        "volume-mounts-resolve",
        "claims-mounted",
        "pods-spread",
        "pdb-covers-pods",
        "pdb-allows-disruption",
        "service-in-use",
    ];
    for (i, id) in ids.iter().enumerate() {
        let action = ["deny", "warn", "off"][i % 3];
        assert_valid(json!({"enforcement": {*id: action}}));
    }
    assert_valid(json!({"lookupFailure": "deny"}));
}

#[test]
fn settings_that_are_not_an_object_are_refused() {
    assert_refused(json!("storage"), &["settings"]);
    let response = settings_verdict(b"{} trailing");
    assert!(!response.valid);
    let response = settings_verdict(b"{\"storage\": ");
    assert!(!response.valid);
}

#[test]
fn arrays_are_never_read_by_position() {
    // A derived decoder would read [{"required": false}] as serviceName.required = false.
    assert_refused(
        json!([{"required": false}]),
        &["settings", "expected an object"],
    );
    assert_refused(
        json!({"serviceName": [false]}),
        &["settings.serviceName", "expected an object"],
    );
    assert_refused(
        json!({"storage": [[], []]}),
        &["settings.storage", "expected an object"],
    );
    assert_refused(
        json!({"defaults": {"persistentVolumeClaimRetentionPolicy": ["Delete", "Delete"]}}),
        &[
            "defaults.persistentVolumeClaimRetentionPolicy",
            "expected an object",
        ],
    );
    assert_valid(
        json!({"serviceName": null, "storage": null, "defaults": {"persistentVolumeClaimRetentionPolicy": null}}),
    );
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    let cases = [
        (json!({"serviceNames": {}}), vec!["serviceNames"]),
        (
            json!({"serviceName": {"mustexist": false}}),
            vec!["serviceName", "mustexist"],
        ),
        (
            json!({"storage": {"allowedClasses": ["fast"]}}),
            vec!["storage", "allowedClasses"],
        ),
        (
            json!({"rollout": {"allowedStrategies": ["OnDelete"]}}),
            vec!["rollout", "allowedStrategies"],
        ),
        (
            json!({"defaults": {"replicas": 3}}),
            vec!["defaults", "replicas"],
        ),
        (
            json!({"defaults": {"persistentVolumeClaimRetentionPolicy": {"whenDeletd": "Retain"}}}),
            vec![
                "defaults.persistentVolumeClaimRetentionPolicy",
                "whenDeletd",
            ],
        ),
        // snake_case is a typo too.
        (
            json!({"storage": {"min_size": "1Gi"}}),
            vec!["storage", "min_size"],
        ),
        (
            json!({"availability": {"podDisruptionBudgets": true}}),
            vec!["availability", "podDisruptionBudgets"],
        ),
        (
            json!({"availability": {"topologyKeys": ["kubernetes.io/hostname"]}}),
            vec!["availability", "topologyKeys"],
        ),
    ];
    for (settings, fragments) in cases {
        let message = assert_refused(settings, &fragments);
        assert!(message.contains("unknown field"), "{message}");
    }
}

#[test]
fn allow_and_deny_lists_are_exclusive() {
    assert_refused(
        json!({"storage": {"allowedStorageClasses": ["fast"], "deniedStorageClasses": ["slow"]}}),
        &[
            "storage.allowedStorageClasses",
            "storage.deniedStorageClasses",
        ],
    );
    // Each one alone is fine, and an empty list next to the other is no list.
    assert_valid(json!({"storage": {"allowedStorageClasses": ["fast"]}}));
    assert_valid(json!({"storage": {"deniedStorageClasses": ["slow"]}}));
    assert_valid(
        json!({"storage": {"allowedStorageClasses": [], "deniedStorageClasses": ["slow"]}}),
    );
    assert_valid(json!({"storage": {"allowedStorageClasses": ["*"]}}));
}

#[test]
fn a_wildcard_in_the_denylist_is_refused() {
    assert_refused(
        json!({"storage": {"deniedStorageClasses": ["*"]}}),
        &["storage.deniedStorageClasses", "\"*\""],
    );
}

#[test]
fn unknown_enum_values_are_refused_naming_the_key_and_the_value() {
    let cases = [
        (
            json!({"storage": {"allowedAccessModes": ["ReadWriteOnce", "ReadWriteAll"]}}),
            vec!["storage.allowedAccessModes", "ReadWriteAll"],
        ),
        (
            json!({"storage": {"allowedVolumeModes": ["filesystem"]}}),
            vec!["storage.allowedVolumeModes", "filesystem"],
        ),
        (
            json!({"rollout": {"allowedPodManagementPolicies": ["Ordered"]}}),
            vec!["rollout.allowedPodManagementPolicies", "Ordered"],
        ),
        (
            json!({"rollout": {"allowedUpdateStrategies": ["Recreate"]}}),
            vec!["rollout.allowedUpdateStrategies", "Recreate"],
        ),
        (
            json!({"defaults": {"podManagementPolicy": "parallel"}}),
            vec!["defaults.podManagementPolicy", "parallel"],
        ),
        (
            json!({"defaults": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Keep"}}}),
            vec![
                "defaults.persistentVolumeClaimRetentionPolicy.whenScaled",
                "Keep",
            ],
        ),
        (
            json!({"enforcement": {"storage-size": "block"}}),
            vec!["enforcement.storage-size", "block"],
        ),
        (
            json!({"enforcement": {"service-exists": "off", "storage-size": "Deny"}}),
            vec!["enforcement.storage-size", "Deny"],
        ),
        (
            json!({"lookupFailure": "ignore"}),
            vec!["lookupFailure", "ignore"],
        ),
        (json!({"lookupFailure": true}), vec!["lookupFailure"]),
    ];
    for (settings, fragments) in cases {
        assert_refused(settings, &fragments);
    }
}

#[test]
fn unknown_check_ids_in_enforcement_are_refused() {
    assert_refused(
        json!({"enforcement": {"storage-class-exist": "off"}}),
        &[
            "enforcement",
            "\"storage-class-exist\"",
            // What would have been right.
            "\"storage-class-exists\"",
        ],
    );
    assert_refused(
        json!({"enforcement": {"service-exists": "off", "StorageSize": "warn"}}),
        &["enforcement", "StorageSize"],
    );
}

#[test]
fn values_of_the_wrong_type_are_refused_naming_the_key() {
    assert_refused(
        json!({"storage": {"requireStorageClass": "yes"}}),
        &["storage.requireStorageClass"],
    );
    assert_refused(
        json!({"serviceName": {"required": 1}}),
        &["serviceName.required"],
    );
    assert_refused(
        json!({"storage": {"allowedStorageClasses": "fast"}}),
        &["storage.allowedStorageClasses"],
    );
    assert_refused(
        json!({"defaults": {"partition": "2"}}),
        &["defaults.partition"],
    );
}

#[test]
fn spread_topology_keys_must_be_label_keys() {
    // Label keys as IsQualifiedName (apimachinery pkg/util/validation) accepts them.
    assert_valid(json!({"availability": {"spreadTopologyKeys": []}}));
    assert_valid(json!({"availability": {"spreadTopologyKeys": [
        "kubernetes.io/hostname", "topology.kubernetes.io/zone", "rack", "example.com/Rack_1"
    ]}}));
    for (bad, index) in [
        ("", 0),
        ("kubernetes.io/", 0),
        ("/hostname", 0),
        ("Kubernetes.io/hostname", 0),
        ("a/b/c", 0),
        ("host name", 0),
        ("-rack", 0),
    ] {
        assert_refused(
            json!({"availability": {"spreadTopologyKeys": [bad]}}),
            &[
                &format!("availability.spreadTopologyKeys[{index}]"),
                &serde_json::to_string(bad).unwrap(),
                "not a valid label key",
            ],
        );
    }
    // The index names the offending entry.
    assert_refused(
        json!({"availability": {"spreadTopologyKeys": ["kubernetes.io/hostname", "zone!"]}}),
        &["availability.spreadTopologyKeys[1]", "\"zone!\""],
    );
    assert_refused(
        json!({"availability": {"spreadTopologyKeys": "kubernetes.io/hostname"}}),
        &["availability.spreadTopologyKeys"],
    );
    // As every list setting: null is neither the default nor "off"; write [] to turn it off.
    assert_refused(
        json!({"availability": {"spreadTopologyKeys": null}}),
        &["availability.spreadTopologyKeys"],
    );
    assert_refused(
        json!({"storage": {"allowedStorageClasses": null}}),
        &["storage.allowedStorageClasses"],
    );
    assert_refused(
        json!({"availability": {"podDisruptionBudget": "true"}}),
        &["availability.podDisruptionBudget"],
    );
    assert_refused(
        json!({"availability": ["kubernetes.io/hostname"]}),
        &["settings.availability", "expected an object"],
    );
}

#[test]
fn malformed_quantities_are_refused() {
    for bad in ["10GB", "", "1..5Gi", "1 Gi", "1e", "Pi", "\t1Gi"] {
        assert_refused(
            json!({"storage": {"minSize": bad}}),
            &["storage.minSize", "not a valid quantity"],
        );
        assert_refused(
            json!({"storage": {"maxSize": bad}}),
            &["storage.maxSize", "not a valid quantity"],
        );
    }
    assert_refused(json!({"storage": {"maxSize": true}}), &["storage.maxSize"]);
    // A JSON number is a quantity, as in Kubernetes objects; null is no bound.
    assert_valid(json!({"storage": {"minSize": 1073741824, "maxSize": "1Gi"}}));
    assert_valid(json!({"storage": {"minSize": null, "maxSize": null}}));
    assert_valid(json!({"storage": {"minSize": "1e9", "maxSize": "0.5Ti"}}));
    // Read as Kubernetes reads JSON: surrounding spaces trimmed, "Gi" is 0.
    assert_valid(json!({"storage": {"minSize": "Gi", "maxSize": " 1Gi "}}));
}

#[test]
fn min_size_above_max_size_is_refused() {
    assert_refused(
        json!({"storage": {"minSize": "10Gi", "maxSize": "5Gi"}}),
        &["storage.minSize", "storage.maxSize", "10Gi", "5Gi"],
    );
    // Compared by value, not by text: 1Gi > 1G.
    assert_refused(
        json!({"storage": {"minSize": "1Gi", "maxSize": "1G"}}),
        &["storage.minSize", "storage.maxSize"],
    );
    assert_refused(
        json!({"storage": {"minSize": 2049, "maxSize": "2Ki"}}),
        &["storage.minSize", "2049", "2Ki"],
    );
    assert_valid(json!({"storage": {"minSize": 2048, "maxSize": "2Ki"}}));
    // Equal values, however spelled, are a valid (fixed) size.
    assert_valid(json!({"storage": {"minSize": "1Gi", "maxSize": "1024Mi"}}));
    assert_valid(json!({"storage": {"minSize": "1G", "maxSize": "1Gi"}}));
}

#[test]
fn a_default_storage_class_must_pass_the_class_lists() {
    assert_refused(
        json!({"storage": {"allowedStorageClasses": ["fast", "standard"]},
               "defaults": {"storageClassName": "slow"}}),
        &[
            "defaults.storageClassName",
            "\"slow\"",
            "storage.allowedStorageClasses",
        ],
    );
    assert_refused(
        json!({"storage": {"deniedStorageClasses": ["slow"]},
               "defaults": {"storageClassName": "slow"}}),
        &[
            "defaults.storageClassName",
            "\"slow\"",
            "storage.deniedStorageClasses",
        ],
    );
    assert_valid(json!({"storage": {"allowedStorageClasses": ["fast"]},
                        "defaults": {"storageClassName": "fast"}}));
    assert_valid(json!({"storage": {"allowedStorageClasses": ["*"]},
                        "defaults": {"storageClassName": "anything"}}));
    assert_valid(json!({"storage": {"deniedStorageClasses": ["slow"]},
                        "defaults": {"storageClassName": "fast"}}));
    // With the check off, the lists do not apply, so there is no contradiction.
    assert_valid(json!({"storage": {"allowedStorageClasses": ["fast"]},
                        "defaults": {"storageClassName": "slow"},
                        "enforcement": {"storage-class-allowed": "off"}}));
}

#[test]
fn a_default_pod_management_policy_must_be_allowed() {
    assert_refused(
        json!({"rollout": {"allowedPodManagementPolicies": ["OrderedReady"]},
               "defaults": {"podManagementPolicy": "Parallel"}}),
        &[
            "defaults.podManagementPolicy",
            "Parallel",
            "rollout.allowedPodManagementPolicies",
        ],
    );
    assert_valid(
        json!({"rollout": {"allowedPodManagementPolicies": ["Parallel"]},
                        "defaults": {"podManagementPolicy": "Parallel"}}),
    );
    assert_valid(json!({"defaults": {"podManagementPolicy": "OrderedReady"}}));
}

#[test]
fn a_default_partition_needs_rolling_update_and_a_valid_number() {
    assert_refused(
        json!({"rollout": {"allowedUpdateStrategies": ["OnDelete"]},
               "defaults": {"partition": 1}}),
        &[
            "defaults.partition",
            "RollingUpdate",
            "rollout.allowedUpdateStrategies",
        ],
    );
    assert_refused(
        json!({"defaults": {"partition": -1}}),
        &["defaults.partition", "-1"],
    );
    assert_refused(
        json!({"defaults": {"partition": 2147483648_i64}}),
        &["defaults.partition"],
    );
    assert_refused(
        json!({"defaults": {"partition": 1.5}}),
        &["defaults.partition"],
    );
    assert_valid(
        json!({"rollout": {"allowedUpdateStrategies": ["RollingUpdate"]},
                        "defaults": {"partition": 2147483647}}),
    );
    assert_valid(json!({"defaults": {"partition": 0}}));
}

#[test]
fn a_delete_retention_default_contradicts_require_retain_policy() {
    for key in ["whenDeleted", "whenScaled"] {
        assert_refused(
            json!({"storage": {"requireRetainPolicy": true},
                   "defaults": {"persistentVolumeClaimRetentionPolicy": {key: "Delete"}}}),
            &[
                &format!("defaults.persistentVolumeClaimRetentionPolicy.{key}"),
                "Delete",
                "storage.requireRetainPolicy",
            ],
        );
        assert_valid(
            json!({"defaults": {"persistentVolumeClaimRetentionPolicy": {key: "Delete"}}}),
        );
    }
    assert_valid(json!({"storage": {"requireRetainPolicy": true},
                        "defaults": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}));
}
