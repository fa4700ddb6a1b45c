//! Defaults on CREATE: what is set, what counts as a user's choice, that the
//! checks judge the mutated object, and that nothing else changes.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

const KEEP: &str = "statefulset-policy.kubewarden.io/keep-kubernetes-defaults";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Asserts acceptance with a mutation; returns the mutated object.
#[track_caller]
fn mutated(response: &ValidationResponse) -> Value {
    accepted(response);
    response.mutated_object.clone().expect("a mutated object")
}

/// Asserts that `output` equals `input` once the `defaulted` paths are removed
/// from both, key order and list order included.
#[track_caller]
fn assert_equal_except(input: &Value, output: &Value, defaulted: &[&str]) {
    let (mut input, mut output) = (input.clone(), output.clone());
    for pointer in defaulted {
        remove(&mut input, pointer);
        remove(&mut output, pointer);
    }
    // The serialized text compares values, key order and list order at once.
    let input = serde_json::to_string_pretty(&input).unwrap();
    let output = serde_json::to_string_pretty(&output).unwrap();
    assert!(
        input == output,
        "the object changed beyond the defaulted paths:\n--- input\n{input}\n--- output\n{output}"
    );
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn real_object() -> Value {
    real_request()["object"].clone()
}

fn run_real(object: Value, settings: Value) -> ValidationResponse {
    real_create(object)
        .settings(settings)
        .run(&mut real_cluster())
}

// ---------------------------------------------------------------------------
// Each default

#[test]
fn an_absent_pod_management_policy_gets_the_default() {
    let settings = json!({"defaults": {"podManagementPolicy": "Parallel"}});
    let input = sts();
    let output = mutated(
        &create(input.clone())
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_equal_except(&input, &output, &["/spec/podManagementPolicy"]);
    // A null field is absent.
    let input = with(sts(), "/spec/podManagementPolicy", Value::Null);
    let output = mutated(
        &create(input.clone())
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    // The same position: null replaced in place.
    assert_eq!(keys(&output["spec"]), keys(&input["spec"]));
    // A non-default value is the user's: kept, nothing to mutate.
    let settings = json!({"defaults": {"podManagementPolicy": "OrderedReady"}});
    let response = create(with(sts(), "/spec/podManagementPolicy", json!("Parallel")))
        .settings(settings)
        .run(&mut FakeCluster::healthy());
    accepted_cleanly(&response);
}

#[test]
fn the_kubernetes_default_value_is_replaced_when_nobody_chose_it() {
    // The hand-written shape as the API server would default it, no sign of a choice.
    let settings = json!({"defaults": {"podManagementPolicy": "Parallel"}});
    let input = with(sts(), "/spec/podManagementPolicy", json!("OrderedReady"));
    let output = mutated(
        &create(input.clone())
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_equal_except(&input, &output, &["/spec/podManagementPolicy"]);
    assert_eq!(keys(&output["spec"]), keys(&input["spec"]));
}

#[test]
fn nothing_to_change_means_no_mutated_object() {
    let settings = json!({"defaults": {
        "podManagementPolicy": "Parallel",
        "partition": 2,
        "storageClassName": "fast",
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}
    }});
    let mut input = spread(sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]), 3);
    set(&mut input, "/spec/podManagementPolicy", json!("Parallel"));
    set(
        &mut input,
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    );
    set(
        &mut input,
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Delete"}),
    );
    accepted_cleanly(
        &create(input)
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
}

#[test]
fn a_partition_default_under_rolling_update() {
    let settings = json!({"defaults": {"partition": 2}});
    let run = |input: &Value| {
        let mut object = input.clone();
        set(&mut object, "/spec/replicas", json!(3));
        let output = mutated(
            &create(object.clone())
                .settings(settings.clone())
                .run(&mut FakeCluster::healthy()),
        );
        (object, output)
    };
    // No updateStrategy: a RollingUpdate with the partition.
    let (input, output) = run(&sts());
    assert_eq!(
        output["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    );
    assert_equal_except(&input, &output, &["/spec/updateStrategy"]);
    // RollingUpdate without rollingUpdate, and an empty updateStrategy (type defaults to RollingUpdate).
    for strategy in [
        json!({"type": "RollingUpdate"}),
        json!({}),
        json!({"type": "RollingUpdate", "rollingUpdate": null}),
    ] {
        let (input, output) = run(&with(sts(), "/spec/updateStrategy", strategy.clone()));
        assert_eq!(
            output["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"partition": 2}),
            "{strategy}"
        );
        assert_equal_except(&input, &output, &["/spec/updateStrategy/rollingUpdate"]);
    }
    // maxUnavailable beside it is kept; the partition 0 that the API server put there is replaced.
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "partition": 0}});
    let (input, output) = run(&with(sts(), "/spec/updateStrategy", strategy));
    assert_eq!(
        output["spec"]["updateStrategy"]["rollingUpdate"],
        json!({"maxUnavailable": 2, "partition": 2})
    );
    assert_eq!(
        keys(&output["spec"]["updateStrategy"]["rollingUpdate"]),
        vec!["maxUnavailable", "partition"]
    );
    assert_equal_except(
        &input,
        &output,
        &["/spec/updateStrategy/rollingUpdate/partition"],
    );
}

#[test]
fn a_chosen_partition_is_kept() {
    let settings = json!({"defaults": {"partition": 2}});
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    accepted_cleanly(
        &create(with(sts(), "/spec/updateStrategy", strategy))
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    // 0 is kept when the last applied configuration says so.
    let mut input = with(
        sts(),
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    );
    let applied = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}});
    set(
        &mut input,
        &annotation_pointer(LAST_APPLIED),
        json!(applied.to_string()),
    );
    accepted_cleanly(
        &create(input)
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
}

#[test]
fn a_partition_default_never_adds_rolling_update_under_on_delete() {
    let settings = json!({"defaults": {"partition": 2}});
    for strategy in [
        json!({"type": "OnDelete"}),
        json!({"type": "OnDelete", "rollingUpdate": null}),
        json!({"type": "OnDelete", "rollingUpdate": {"partition": 0}}),
    ] {
        let response = create(with(sts(), "/spec/updateStrategy", strategy.clone()))
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy());
        accepted_cleanly(&response);
    }
}

#[test]
fn a_storage_class_default_for_claims_naming_no_class() {
    let settings = json!({"defaults": {"storageClassName": "fast"}});
    let null_class = with(
        claim("logs", None, "1Gi"),
        "/spec/storageClassName",
        Value::Null,
    );
    let beta = {
        let mut c = claim("cache", None, "1Gi");
        c["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "slow"});
        c
    };
    let no_spec = json!({"metadata": {"name": "bare"}});
    let input = sts_with_claims(vec![
        claim("data", None, "1Gi"),
        claim("wal", Some("slow"), "1Gi"),
        claim("static", Some(""), "1Gi"),
        null_class,
        beta,
        no_spec,
    ]);
    let output = mutated(
        &create(input.clone())
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
    let classes: Vec<Value> = output["spec"]["volumeClaimTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.pointer("/spec/storageClassName")
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect();
    assert_eq!(
        classes,
        vec![
            json!("fast"),
            json!("slow"),
            json!(""),
            json!("fast"),
            Value::Null,
            json!("fast")
        ]
    );
    // The claim with the annotation got no field.
    assert!(output
        .pointer("/spec/volumeClaimTemplates/4/spec/storageClassName")
        .is_none());
    assert_equal_except(
        &input,
        &output,
        &[
            "/spec/volumeClaimTemplates/0/spec/storageClassName",
            "/spec/volumeClaimTemplates/3/spec/storageClassName",
            "/spec/volumeClaimTemplates/5/spec",
        ],
    );
    // The null field was replaced in place.
    assert_eq!(
        keys(&output["spec"]["volumeClaimTemplates"][3]["spec"]),
        keys(&input["spec"]["volumeClaimTemplates"][3]["spec"])
    );
}

#[test]
fn a_retention_policy_default() {
    let settings = json!({"defaults": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Retain"}}});
    // Absent: created, in the order whenDeleted, whenScaled.
    let input = with_claim(sts());
    let output = mutated(
        &create(input.clone())
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    let policy = &output["spec"]["persistentVolumeClaimRetentionPolicy"];
    assert_eq!(
        policy,
        &json!({"whenDeleted": "Retain", "whenScaled": "Delete"})
    );
    assert_equal_except(
        &input,
        &output,
        &["/spec/persistentVolumeClaimRetentionPolicy"],
    );

    // As the API server defaults it (Retain, Retain) with no sign of a choice: whenScaled replaced.
    let input = with(
        with_claim(sts()),
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    let output = mutated(
        &create(input.clone())
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(
        output["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Delete"})
    );
    assert_equal_except(
        &input,
        &output,
        &["/spec/persistentVolumeClaimRetentionPolicy/whenScaled"],
    );

    // Half set: the other half is filled in.
    let input = with(
        with_claim(sts()),
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Delete"}),
    );
    let output = mutated(
        &create(input.clone())
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(
        output["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Delete", "whenScaled": "Delete"})
    );

    // Chosen in the last applied configuration: kept.
    let mut input = with(
        with_claim(sts()),
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    let applied =
        json!({"spec": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Retain"}}});
    set(
        &mut input,
        &annotation_pointer(LAST_APPLIED),
        json!(applied.to_string()),
    );
    accepted_cleanly(
        &create(input)
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
}

// ---------------------------------------------------------------------------
// The real request (kubectl client-side apply, API-server defaulted)

#[test]
fn the_real_request_passes_the_default_settings_untouched() {
    // Its 3 replicas have no anti-affinity: pods-spread warns, nothing else.
    let mut fake = real_cluster();
    accepted_warning(&real_create(real_object()).run(&mut fake), &["pods-spread"]);
    assert_eq!(fake.calls, vec![Call::service("default", "nginx")]);
}

#[test]
fn on_the_real_request_an_unchosen_kubernetes_default_is_replaced() {
    // last-applied-configuration lacks podManagementPolicy; the managedFields entry
    // lists it, but its operation is Update (kubectl client-side apply), no choice.
    let input = real_object();
    assert!(!input["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap()
        .contains("podManagementPolicy"));
    assert_eq!(
        input["metadata"]["managedFields"][0]["operation"],
        json!("Update")
    );
    assert_eq!(input["spec"]["podManagementPolicy"], json!("OrderedReady"));

    let output = mutated(&run_real(
        input.clone(),
        json!({"defaults": {"podManagementPolicy": "Parallel", "partition": 1}}),
    ));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_eq!(
        output["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
        json!(1)
    );
    assert_equal_except(
        &input,
        &output,
        &[
            "/spec/podManagementPolicy",
            "/spec/updateStrategy/rollingUpdate/partition",
        ],
    );
    assert_eq!(keys(&output["spec"]), keys(&input["spec"]));
}

#[test]
fn on_the_real_request_a_field_in_last_applied_is_kept() {
    let mut input = real_object();
    let mut applied: Value = serde_json::from_str(
        input["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    applied["spec"]["podManagementPolicy"] = json!("OrderedReady");
    input["metadata"]["annotations"][LAST_APPLIED] = json!(applied.to_string());
    let response = run_real(
        input.clone(),
        json!({"defaults": {"podManagementPolicy": "Parallel"}}),
    );
    accepted_warning(&response, &["pods-spread"]);
    // Only that field: a partition default still applies.
    let output = mutated(&run_real(
        input.clone(),
        json!({"defaults": {"podManagementPolicy": "Parallel", "partition": 1}}),
    ));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("OrderedReady"));
    assert_equal_except(
        &input,
        &output,
        &["/spec/updateStrategy/rollingUpdate/partition"],
    );
}

#[test]
fn on_the_real_request_a_field_applied_server_side_is_kept() {
    // The same managedFields entry with operation Apply (server-side apply).
    let mut input = real_object();
    input["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    input["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    input["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .shift_remove(LAST_APPLIED);
    accepted_warning(
        &run_real(
            input.clone(),
            json!({"defaults": {"podManagementPolicy": "Parallel"}}),
        ),
        &["pods-spread"],
    );

    // An Apply entry that does not list the field is no choice of it.
    let fields = input
        .pointer_mut("/metadata/managedFields/0/fieldsV1/f:spec")
        .unwrap();
    fields
        .as_object_mut()
        .unwrap()
        .shift_remove("f:podManagementPolicy");
    let output = mutated(&run_real(
        input.clone(),
        json!({"defaults": {"podManagementPolicy": "Parallel"}}),
    ));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));

    // An Apply entry for another field (of another manager) next to an Update entry listing it.
    let mut input = real_object();
    input["metadata"]["managedFields"].as_array_mut().unwrap().push(json!({
        "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "manager": "helm", "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:replicas": {}}}
    }));
    let output = mutated(&run_real(
        input,
        json!({"defaults": {"podManagementPolicy": "Parallel"}}),
    ));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
}

#[test]
fn the_opt_out_annotation_keeps_every_kubernetes_default() {
    let settings = json!({
        "defaults": {
            "podManagementPolicy": "Parallel",
            "partition": 1,
            "storageClassName": "fast",
            "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}
        }
    });
    let mut input = real_object();
    input["metadata"]["annotations"][KEEP] = json!("true");
    input["spec"]["volumeClaimTemplates"][0]["spec"]
        .as_object_mut()
        .unwrap()
        .shift_remove("storageClassName");
    accepted_warning(&run_real(input.clone(), settings.clone()), &["pods-spread"]);
    // Only "true" opts out.
    input["metadata"]["annotations"][KEEP] = json!("yes");
    let output = mutated(&run_real(input.clone(), settings.clone()));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_eq!(
        output["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        json!("fast")
    );
    assert_eq!(
        output["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenScaled": "Delete"})
    );
    assert_equal_except(
        &input,
        &output,
        &[
            "/spec/podManagementPolicy",
            "/spec/updateStrategy/rollingUpdate/partition",
            "/spec/volumeClaimTemplates/0/spec/storageClassName",
            "/spec/persistentVolumeClaimRetentionPolicy",
        ],
    );
}

// ---------------------------------------------------------------------------
// The checks judge the mutated object

#[test]
fn checks_run_on_the_mutated_object() {
    // A default class satisfies storage-class-required and must itself exist.
    let settings = json!({
        "storage": {"requireStorageClass": true, "storageClassMustExist": true},
        "defaults": {"storageClassName": "fast"}
    });
    let input = sts_with_claims(vec![claim("data", None, "1Gi")]);
    let output = mutated(
        &create(input)
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(
        output["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        json!("fast")
    );
    // The same object, opted out: the class is missing.
    let mut opted_out = sts_with_claims(vec![claim("data", None, "1Gi")]);
    set(&mut opted_out, &annotation_pointer(KEEP), json!("true"));
    let message = denied(
        &create(opted_out)
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(check_ids(&message), vec!["storage-class-required"]);
    // A default class the cluster lacks is denied, and nothing is mutated.
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.retain(|c| c.metadata.name != "fast");
    let message = denied(
        &create(sts_with_claims(vec![claim("data", None, "1Gi")]))
            .settings(settings)
            .run(&mut fake),
    );
    assert_eq!(check_ids(&message), vec!["storage-class-exists"]);
    assert_mentions(
        &message,
        &["spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"fast\""],
    );

    // The defaulted policy is the one judged.
    let settings = json!({
        "rollout": {"allowedPodManagementPolicies": ["Parallel"]},
        "defaults": {"podManagementPolicy": "Parallel"}
    });
    let output = mutated(&run_real(real_object(), settings));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));

    // A defaulted partition above the replicas warns, and the mutation still goes out.
    let response = create(spread(sts(), 2))
        .settings(json!({"defaults": {"partition": 3}}))
        .run(&mut FakeCluster::healthy());
    let warnings = accepted(&response);
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["partition-within-replicas"]
    );
    assert!(response.mutated_object.is_some());
}

#[test]
fn no_mutation_on_update() {
    let settings = json!({"defaults": {
        "podManagementPolicy": "Parallel",
        "partition": 1,
        "storageClassName": "fast",
        "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}
    }});
    let object = sts_with_claims(vec![claim("data", None, "1Gi")]);
    let response = update(object.clone(), object)
        .settings(settings)
        .run(&mut FakeCluster::healthy());
    accepted_cleanly(&response);
    // The real object, sent as an UPDATE.
    let mut req = real_create(real_object());
    req.request["operation"] = json!("UPDATE");
    req.request["oldObject"] = real_object();
    let response = req
        .settings(json!({"defaults": {"podManagementPolicy": "Parallel"}}))
        .run(&mut real_cluster());
    accepted_warning(&response, &["pods-spread"]);
}

// ---------------------------------------------------------------------------
// Losslessness

/// A StatefulSet with fields no Kubernetes version knows, at every depth, keys
/// in no particular order, and values that a careless round trip would change.
fn rich_object() -> Value {
    json!({
        "kind": "StatefulSet",
        "apiVersion": "apps/v1",
        "metadata": {
            "namespace": NS,
            "name": NAME,
            "labels": {"zeta": "1", "alpha": "2"},
            "x-vendor-meta": {"nested": [3, 1, 2], "empty": {}, "none": null}
        },
        "zTopLevelFuture": {"b": 1, "a": [{"y": 1, "x": 2}, "text", 2.5, true, null]},
        "spec": {
            "zFutureField": {"order": ["c", "a", "b"], "bigInteger": 9007199254740993_u64, "negative": -12, "float": 0.1},
            "serviceName": NAME,
            "replicas": 3,
            "minReadySeconds": 10,
            "ordinals": {"start": 5},
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"rollingUpdate": {"maxUnavailable": 2, "partition": 0}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"tier": "db", "app": "web"}, "annotations": {"é": "ünïcode \u{1F600}"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx", "x-vendor": {"q": true, "p": null}, "ports": [{"containerPort": 80}]},
                        {"image": "busybox", "name": "sidecar", "args": ["b", "a"]}
                    ],
                    "futurePodField": 1.5
                }
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "wal", "x-meta": 1},
                    "spec": {
                        "resources": {"requests": {"storage": "1Gi"}},
                        "accessModes": ["ReadWriteOnce"],
                        "x-claim-extension": {"deep": {"deeper": [null, "s", 2.5, {"k": []}]}}
                    },
                    "status": {"phase": "Pending"}
                },
                {"metadata": {"name": "static"}, "spec": {"storageClassName": "", "resources": {"requests": {"storage": "2Gi"}}}},
                {
                    "metadata": {"name": "annotated", "annotations": {"volume.beta.kubernetes.io/storage-class": "fast"}},
                    "spec": {"resources": {"requests": {"storage": "1Gi"}}}
                },
                {"spec": {"storageClassName": null, "volumeMode": "Filesystem"}, "metadata": {"name": "logs"}}
            ]
        },
        "status": {"replicas": 0, "x-status": "kept"}
    })
}

fn all_defaults() -> Value {
    json!({"defaults": {
        "podManagementPolicy": "Parallel",
        "partition": 1,
        "storageClassName": "standard",
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}
    }})
}

#[test]
fn the_mutated_object_differs_only_at_the_defaulted_paths() {
    let input = rich_object();
    let output = mutated(
        &create(input.clone())
            .settings(all_defaults())
            .run(&mut FakeCluster::healthy()),
    );

    // The defaulted values.
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_eq!(
        output["spec"]["updateStrategy"]["rollingUpdate"],
        json!({"maxUnavailable": 2, "partition": 1})
    );
    assert_eq!(
        output["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        json!("standard")
    );
    assert_eq!(
        output["spec"]["volumeClaimTemplates"][3]["spec"]["storageClassName"],
        json!("standard")
    );
    assert_eq!(
        output["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Delete"})
    );

    // Everything else, byte for byte once serialized: unknown fields, key order, list order, numbers.
    assert_equal_except(
        &input,
        &output,
        &[
            "/spec/podManagementPolicy",
            "/spec/updateStrategy/rollingUpdate/partition",
            "/spec/volumeClaimTemplates/0/spec/storageClassName",
            "/spec/volumeClaimTemplates/3/spec/storageClassName",
            "/spec/persistentVolumeClaimRetentionPolicy",
        ],
    );

    // Existing keys keep their place; new ones come after them.
    let before = keys(&input["spec"]);
    let after = keys(&output["spec"]);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        after[before.len()..],
        [
            "podManagementPolicy",
            "persistentVolumeClaimRetentionPolicy"
        ]
    );
    assert_eq!(
        keys(&output["spec"]["volumeClaimTemplates"][3]["spec"]),
        vec!["storageClassName", "volumeMode"]
    );
    assert_eq!(keys(&output), keys(&input));
    // A number beyond 2^53 is not rounded through a float.
    assert_eq!(
        output["spec"]["zFutureField"]["bigInteger"],
        json!(9007199254740993_u64)
    );
}

#[test]
fn the_real_request_is_mutated_losslessly() {
    let input = real_object();
    let output = mutated(&run_real(input.clone(), all_defaults()));
    assert_eq!(output["spec"]["podManagementPolicy"], json!("Parallel"));
    assert_eq!(
        output["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
        json!(1)
    );
    // The claim names its class: untouched.
    assert_eq!(
        output["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        json!("my-storage-class")
    );
    assert_equal_except(
        &input,
        &output,
        &[
            "/spec/podManagementPolicy",
            "/spec/updateStrategy/rollingUpdate/partition",
            "/spec/persistentVolumeClaimRetentionPolicy",
        ],
    );
    // The text of the last-applied annotation is kept verbatim (trailing newline included).
    assert_eq!(
        output["metadata"]["annotations"][LAST_APPLIED],
        input["metadata"]["annotations"][LAST_APPLIED]
    );
}

#[test]
fn no_retention_policy_default_for_a_set_without_claims() {
    let settings =
        json!({"defaults": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}}});
    // sts() has no claims.
    let response = create(sts())
        .settings(settings.clone())
        .run(&mut FakeCluster::healthy());
    assert!(response.accepted);
    assert!(
        response.mutated_object.is_none(),
        "{:?}",
        response.mutated_object
    );
    let empty = with(sts(), "/spec/volumeClaimTemplates", json!([]));
    let response = create(empty)
        .settings(settings)
        .run(&mut FakeCluster::healthy());
    assert!(
        response.mutated_object.is_none(),
        "{:?}",
        response.mutated_object
    );
}

/// The retention policy default applies to sets that have claims.
/// `object` with one claim `data`, mounted by the container.
fn with_claim(object: Value) -> Value {
    let object = with(
        object,
        "/spec/template/spec/containers/0/volumeMounts",
        json!([{"name": "data", "mountPath": "/data"}]),
    );
    with(
        object,
        "/spec/volumeClaimTemplates",
        json!([claim("data", Some("standard"), "1Gi")]),
    )
}
