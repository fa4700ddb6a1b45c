//! The admission flow as a whole: what it judges, bad input, UPDATE
//! grandfathering, and both request shapes.

mod common;

use common::*;
use serde_json::{json, Value};
use statefulset_policy::admission::evaluate;

// ---------------------------------------------------------------------------
// What the policy judges

#[test]
fn a_resource_other_than_a_stateful_set_is_accepted_with_a_warning() {
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": "not even checked", "template": {}}
    });
    let mut req = create(deployment);
    req.request["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let mut fake = FakeCluster::healthy();
    let response = req.run(&mut fake);
    let warnings = accepted(&response);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_mentions(&warnings[0], &["Deployment (apps/v1)", "StatefulSet"]);
    assert_eq!(response.mutated_object, None);
    assert!(fake.calls.is_empty());

    // A StatefulSet of another group is not a StatefulSet of apps.
    let mut req = create(sts());
    req.request["kind"] = json!({"group": "example.com", "version": "v1", "kind": "StatefulSet"});
    let warnings = accepted(&req.run(&mut FakeCluster::empty()));
    assert_mentions(&warnings[0], &["StatefulSet (example.com/v1)"]);
}

#[test]
fn subresources_and_other_operations_are_accepted_without_a_look_up() {
    let mut fake = FakeCluster::empty();
    // A scale of a set that breaks every rule.
    let broken = with(sts(), "/spec/serviceName", Value::Null);
    let mut req = update(broken.clone(), sts());
    req.request["subResource"] = json!("scale");
    accepted_cleanly(&req.run(&mut fake));
    // Kubewarden hosts may spell it snake_case.
    let mut req = update(broken.clone(), sts());
    req.request["sub_resource"] = json!("status");
    accepted_cleanly(&req.run(&mut fake));
    // DELETE and CONNECT of a StatefulSet.
    for operation in ["DELETE", "CONNECT"] {
        let mut req = create(broken.clone());
        req.request["operation"] = json!(operation);
        accepted_cleanly(&req.run(&mut fake));
    }
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    // An empty subResource is the object itself.
    let mut req = create(broken);
    req.request["subResource"] = json!("");
    assert_eq!(
        check_ids(&denied(&req.services_deny().run(&mut fake))),
        vec!["service-name-required"]
    );
}

// ---------------------------------------------------------------------------
// Bad input: 400, never a panic

#[test]
fn fields_of_the_wrong_type_are_a_bad_request_naming_the_field() {
    let cases = [
        ("/spec/replicas", json!("3"), "spec.replicas"),
        (
            "/spec/volumeClaimTemplates",
            json!({}),
            "spec.volumeClaimTemplates",
        ),
        ("/spec/serviceName", json!(7), "spec.serviceName"),
        (
            "/spec/updateStrategy/rollingUpdate/partition",
            json!("1"),
            "spec.updateStrategy.rollingUpdate.partition",
        ),
        (
            "/spec/template/metadata/labels",
            json!(["app=web"]),
            "spec.template.metadata.labels",
        ),
        (
            "/metadata/annotations",
            json!({"a": 1}),
            "metadata.annotations.a",
        ),
        ("/spec/replicas", json!(3_000_000_000_u64), "spec.replicas"),
        ("/spec", json!("spec"), "spec"),
        // An array where an object belongs is not read positionally.
        ("/spec", json!(["web", 3]), "spec"),
        ("/metadata", json!(["web", "db"]), "metadata"),
        (
            "/spec/updateStrategy",
            json!(["OnDelete"]),
            "spec.updateStrategy",
        ),
        (
            "/spec/updateStrategy/rollingUpdate",
            json!([9]),
            "spec.updateStrategy.rollingUpdate",
        ),
        (
            "/spec/persistentVolumeClaimRetentionPolicy",
            json!(["Delete", "Delete"]),
            "spec.persistentVolumeClaimRetentionPolicy",
        ),
        (
            "/spec/template",
            json!([{"labels": {"app": "web"}}]),
            "spec.template",
        ),
        (
            "/spec/template/metadata",
            json!("labels"),
            "spec.template.metadata",
        ),
        (
            "/spec/volumeClaimTemplates",
            json!([["data", {"storageClassName": "x"}]]),
            "spec.volumeClaimTemplates[0]",
        ),
        (
            "/spec/volumeClaimTemplates",
            json!([null]),
            "spec.volumeClaimTemplates[0]",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut fake = FakeCluster::healthy();
        let mut req = create(with(sts(), pointer, value.clone()));
        req.request["name"] = json!(NAME);
        let message = bad_request(&req.run(&mut fake));
        assert_mentions(
            &message,
            &["StatefulSet web does not decode", &format!(" {field}: ")],
        );
        assert!(fake.calls.is_empty(), "{pointer}: {:?}", fake.calls);
    }
    // A request without name (generateName) still reads well.
    let mut req = create(with(sts(), "/spec/replicas", json!("3")));
    req.request["name"] = json!("");
    let message = bad_request(&req.run(&mut FakeCluster::healthy()));
    assert!(
        message.starts_with("the StatefulSet does not decode: spec.replicas: "),
        "{message}"
    );
    // Inside a claim, the index is part of the path.
    let bad_claim = with(
        claim("wal", Some("fast"), "1Gi"),
        "/spec/accessModes",
        json!("ReadWriteOnce"),
    );
    let message = bad_request(
        &create(sts_with_claims(vec![claim("data", None, "1Gi"), bad_claim]))
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["spec.volumeClaimTemplates[1].spec.accessModes"]);
    let bad_size = with(
        claim("data", None, "1Gi"),
        "/spec/resources/requests/storage",
        json!(["1Gi"]),
    );
    let message =
        bad_request(&create(sts_with_claims(vec![bad_size])).run(&mut FakeCluster::healthy()));
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[0].spec.resources.requests.storage",
            "quantity",
        ],
    );
    let bad_resources = with(
        claim("data", None, "1Gi"),
        "/spec/resources",
        json!([{"storage": "1Gi"}]),
    );
    let message =
        bad_request(&create(sts_with_claims(vec![bad_resources])).run(&mut FakeCluster::healthy()));
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[0].spec.resources",
            "expected an object",
        ],
    );
    let bad_spec = with(claim("data", None, "1Gi"), "/spec", json!(["fast"]));
    let message =
        bad_request(&create(sts_with_claims(vec![bad_spec])).run(&mut FakeCluster::healthy()));
    assert_mentions(
        &message,
        &["spec.volumeClaimTemplates[0].spec", "expected an object"],
    );
}

#[test]
fn a_wrong_type_is_a_bad_request_with_defaults_configured_too() {
    let settings = json!({"defaults": {"podManagementPolicy": "Parallel"}});
    let message = bad_request(
        &create(with(sts(), "/spec/replicas", json!("3")))
            .settings(settings.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["spec.replicas"]);
    // A spec that is not an object cannot be defaulted either.
    let message = bad_request(
        &create(with(
            sts(),
            "/spec/podManagementPolicy",
            json!(["Parallel"]),
        ))
        .settings(settings)
        .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["spec.podManagementPolicy"]);
}

#[test]
fn garbage_is_a_bad_request() {
    let payloads: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        br#"{"request": 5}"#.to_vec(),
        br#"{"request": {"kind": "StatefulSet"}}"#.to_vec(),
        br#"{"request": {"operation": 1}}"#.to_vec(),
        vec![0xff, 0xfe, 0x00],
    ];
    for payload in payloads {
        let mut fake = FakeCluster::healthy();
        let response = wire(&evaluate(&payload, &mut fake));
        let message = bad_request(&response);
        assert_mentions(&message, &["the admission request does not decode"]);
        assert!(fake.calls.is_empty());
    }
}

#[test]
fn a_missing_or_non_object_stateful_set_is_a_bad_request() {
    let mut req = create(sts());
    req.request.as_object_mut().unwrap().shift_remove("object");
    assert_mentions(
        &bad_request(&req.run(&mut FakeCluster::healthy())),
        &["no object"],
    );
    req.request["object"] = Value::Null;
    assert_mentions(
        &bad_request(&req.run(&mut FakeCluster::healthy())),
        &["no object"],
    );
    for object in [json!("a string"), json!(42), json!([sts()])] {
        req.request["object"] = object.clone();
        let message = bad_request(&req.run(&mut FakeCluster::healthy()));
        assert_mentions(&message, &["does not decode"]);
    }
}

#[test]
fn invalid_settings_in_the_payload_are_a_bad_request_naming_the_key() {
    let message = bad_request(
        &create(sts())
            .settings(json!({"storage": {"maxSize": "lots"}}))
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["invalid policy settings", "storage.maxSize"]);
    let message = bad_request(
        &create(sts())
            .settings(json!({"storgae": {}}))
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["storgae"]);
    // null settings are the defaults.
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(&create(sts()).settings(Value::Null).run(&mut fake));
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);
}

// ---------------------------------------------------------------------------
// UPDATE: what the old object already had

fn allow_fast() -> Value {
    json!({"storage": {"allowedStorageClasses": ["fast"]}})
}

#[test]
fn an_existing_violation_is_a_warning_on_update() {
    let object = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let mut scaled = object.clone();
    set(&mut scaled, "/spec/replicas", json!(5));
    let response = update(scaled, object)
        .settings(allow_fast())
        .run(&mut FakeCluster::healthy());
    // Scaling from 1 to 5 replicas without anti-affinity is new: pods-spread warns.
    let warnings = accepted_warning(&response, &["storage-class-allowed", "pods-spread"]);
    assert_mentions(
        &warnings[0],
        &[
            "[storage-class-allowed] spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"slow\"",
            "already so before this update",
        ],
    );
    assert_mentions(&warnings[1], &["with 5 replicas"]);
    // The same object as a CREATE is denied.
    let object = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    denied(
        &create(object)
            .settings(allow_fast())
            .run(&mut FakeCluster::healthy()),
    );
}

#[test]
fn a_new_violation_is_denied_on_update_next_to_a_grandfathered_one() {
    let old = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let mut new = old.clone();
    set(&mut new, "/spec/podManagementPolicy", json!("Parallel"));
    let mut settings = allow_fast();
    settings["rollout"] = json!({"allowedPodManagementPolicies": ["OrderedReady"]});
    let response = update(new, old)
        .settings(settings)
        .run(&mut FakeCluster::healthy());
    let message = denied(&response);
    assert_eq!(check_ids(&message), vec!["pod-management-policy-allowed"]);
    assert!(message.contains("violates 1 rule:"), "{message}");
    let warnings = response
        .warnings
        .expect("the grandfathered violation is a warning");
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["storage-class-allowed"]
    );
}

#[test]
fn a_changed_class_is_not_grandfathered() {
    let old = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let new = sts_with_claims(vec![claim("data", Some("gold"), "1Gi")]);
    let message = denied(
        &update(new, old)
            .settings(allow_fast())
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["[storage-class-allowed] spec.volumeClaimTemplates[0] (data).spec.storageClassName is \"gold\""]);
    // Nor one that moved to another claim.
    let old = sts_with_claims(vec![
        claim("data", Some("slow"), "1Gi"),
        claim("wal", Some("fast"), "1Gi"),
    ]);
    let new = sts_with_claims(vec![
        claim("data", Some("fast"), "1Gi"),
        claim("wal", Some("slow"), "1Gi"),
    ]);
    let message = denied(
        &update(new, old)
            .settings(allow_fast())
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(&message, &["(wal).spec.storageClassName is \"slow\""]);
    // Nor the same class moved from the field to the beta annotation.
    let old = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let mut new = sts_with_claims(vec![claim("data", None, "1Gi")]);
    new["spec"]["volumeClaimTemplates"][0]["metadata"]["annotations"] =
        json!({"volume.beta.kubernetes.io/storage-class": "slow"});
    denied(
        &update(new, old)
            .settings(allow_fast())
            .run(&mut FakeCluster::healthy()),
    );
}

#[test]
fn a_changed_service_name_is_not_grandfathered() {
    // The old Service is gone; renaming to another missing one is a new fault.
    let old = with(sts(), "/spec/serviceName", json!("legacy"));
    let new = with(sts(), "/spec/serviceName", json!("renamed"));
    let mut fake = FakeCluster::empty();
    let message = denied(&update(new, old.clone()).services_deny().run(&mut fake));
    assert_eq!(check_ids(&message), vec!["service-exists"]);
    assert_mentions(&message, &["spec.serviceName is \"renamed\""]);
    assert_eq!(fake.calls, vec![Call::service(NS, "renamed")]);
    // Unchanged, the same missing Service is grandfathered.
    let mut fake = FakeCluster::empty();
    let warnings = accepted(&update(old.clone(), old).services_deny().run(&mut fake));
    assert_eq!(check_ids(&warnings.join("\n")), vec!["service-exists"]);
    assert_eq!(fake.calls, vec![Call::service(NS, "legacy")]);
    // A name that turned invalid is new as well.
    let old = with(sts(), "/spec/serviceName", json!("Bad_Name"));
    let new = with(sts(), "/spec/serviceName", json!("Worse_Name"));
    let message = denied(
        &update(new, old)
            .services_deny()
            .run(&mut FakeCluster::healthy()),
    );
    // Invalid, no pod can take it as its subdomain; no look-up is made.
    assert_eq!(check_ids(&message), vec!["service-name-valid"]);
    // Removing the name when the old one was fine is denied.
    let new = with(sts(), "/spec/serviceName", Value::Null);
    let message = denied(
        &update(new, sts())
            .services_deny()
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(check_ids(&message), vec!["service-name-required"]);
}

#[test]
fn grandfathering_keeps_warn_and_off_as_configured() {
    let old = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let mut settings = allow_fast();
    settings["enforcement"] = json!({"storage-class-allowed": "off"});
    accepted_cleanly(
        &update(old.clone(), old.clone())
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
    let mut settings = allow_fast();
    settings["enforcement"] = json!({"storage-class-allowed": "warn"});
    let warnings = accepted(
        &update(old.clone(), old)
            .settings(settings)
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(warnings.len(), 1);
    assert!(!warnings[0].contains("already so"), "{}", warnings[0]);
}

#[test]
fn an_update_without_an_old_object_is_judged_alone() {
    let object = sts_with_claims(vec![claim("data", Some("slow"), "1Gi")]);
    let mut req = update(object.clone(), object);
    req.request
        .as_object_mut()
        .unwrap()
        .shift_remove("oldObject");
    denied(
        &req.clone()
            .settings(allow_fast())
            .run(&mut FakeCluster::healthy()),
    );
    // Hosts may spell it snake_case: then it counts.
    req.request["old_object"] = req.request["object"].clone();
    accepted(&req.settings(allow_fast()).run(&mut FakeCluster::healthy()));
}

// ---------------------------------------------------------------------------
// Both shapes of request

#[test]
fn the_real_request_is_judged_like_a_hand_written_one() {
    // Default settings, a fitting cluster: accepted, one Service look-up; its
    // 3 replicas have no anti-affinity, so pods-spread warns.
    let mut fake = real_cluster();
    accepted_warning(
        &real_create(real_request()["object"].clone()).run(&mut fake),
        &["pods-spread"],
    );
    assert_eq!(fake.calls, vec![Call::service("default", "nginx")]);
    // The fields the API server filled in are judged as set.
    let settings = json!({
        "storage": {
            "allowedStorageClasses": ["fast"],
            "allowedVolumeModes": ["Block"],
            "maxSize": "512Mi",
            "storageClassMustExist": true
        },
        "rollout": {"allowedPodManagementPolicies": ["Parallel"], "allowedUpdateStrategies": ["OnDelete"]}
    });
    let mut fake = real_cluster();
    let message = denied(
        &real_create(real_request()["object"].clone())
            .settings(settings)
            .run(&mut fake),
    );
    assert!(
        message.starts_with("StatefulSet default/foo violates 5 rules:"),
        "{message}"
    );
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[0] (www).spec.storageClassName is \"my-storage-class\"",
            "spec.volumeClaimTemplates[0] (www).spec.resources.requests.storage is \"1Gi\"",
            "spec.volumeClaimTemplates[0] (www).spec.volumeMode is \"Filesystem\"",
            "spec.podManagementPolicy is \"OrderedReady\"",
            "spec.updateStrategy.type is \"RollingUpdate\"",
        ],
    );
    assert_eq!(
        fake.calls,
        vec![Call::service("default", "nginx"), Call::StorageClasses]
    );
    // Without the Service: service-exists, in namespace default; a warning by
    // default (Kubernetes accepts the set, the records appear with the Service).
    let request = real_create(real_request()["object"].clone());
    let warnings = accepted(&request.run(&mut FakeCluster::empty()));
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["service-exists", "pods-spread"]
    );
    assert_mentions(&warnings[0], &["namespace \"default\""]);
    let message = denied(&request.services_deny().run(&mut FakeCluster::empty()));
    assert_eq!(check_ids(&message), vec!["service-exists"]);
}

#[test]
fn the_real_request_with_an_extra_dry_run_and_options_still_decodes() {
    // Fields of the AdmissionRequest the policy does not read do not matter.
    let mut req = real_create(real_request()["object"].clone());
    req.request["dryRun"] = json!(true);
    req.request["futureField"] = json!({"x": [1, 2]});
    accepted_warning(&req.run(&mut real_cluster()), &["pods-spread"]);
}
