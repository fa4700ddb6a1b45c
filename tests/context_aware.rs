//! The context-aware checks through `FakeCluster`: what the cluster answers,
//! how a failed look-up is treated, and which look-ups are made.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

fn service_cluster(spec: Value) -> FakeCluster {
    FakeCluster::empty().with_service(NS, NAME, json!({ "spec": spec }))
}

// ---------------------------------------------------------------------------
// The governing Service

#[test]
fn a_headless_service_selecting_the_pods_is_accepted() {
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(&create(sts()).run(&mut fake));
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);
    // A selector that is a subset of the pod labels selects them.
    let labels = json!({"app": "web", "tier": "db", "version": "7"});
    let mut fake =
        service_cluster(json!({"clusterIP": "None", "selector": {"tier": "db", "app": "web"}}));
    accepted_cleanly(&create(with(sts(), "/spec/template/metadata/labels", labels)).run(&mut fake));
}

#[test]
fn the_service_is_looked_up_in_the_namespace_of_the_request() {
    // A StatefulSet without metadata.namespace (as kubectl sends it for the default namespace).
    let mut object = sts();
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .shift_remove("namespace");
    let mut req = create(object);
    req.request["namespace"] = json!("team-a");
    let mut fake = FakeCluster::healthy();
    let message = denied(&req.services_deny().run(&mut fake));
    assert_eq!(fake.calls, vec![Call::service("team-a", NAME)]);
    assert_mentions(
        &message,
        &["StatefulSet team-a/web", "namespace \"team-a\""],
    );
}

#[test]
fn a_missing_service_is_denied() {
    let mut fake = FakeCluster::empty();
    let message = denied(&create(sts()).services_deny().run(&mut fake));
    assert_eq!(check_ids(&message), vec!["service-exists"]);
    assert_mentions(
        &message,
        &[
            "spec.serviceName is \"web\"",
            "no Service of that name exists in namespace \"db\"",
        ],
    );
    // A Service of that name in another namespace does not count.
    let mut fake = FakeCluster::empty().with_service(
        "other",
        NAME,
        json!({"spec": {"clusterIP": "None", "selector": {"app": "web"}}}),
    );
    assert_eq!(
        check_ids(&denied(&create(sts()).services_deny().run(&mut fake))),
        vec!["service-exists"]
    );
    // mustExist off: a missing Service is not a violation (the other checks have nothing to judge).
    let mut fake = FakeCluster::empty();
    accepted_cleanly(
        &create(sts())
            .settings(json!({"serviceName": {"mustExist": false}}))
            .services_deny()
            .run(&mut fake),
    );
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);
}

#[test]
fn a_service_that_is_not_headless_is_denied() {
    let message = denied(&create(sts()).services_deny().run(&mut service_cluster(
        json!({"clusterIP": "10.0.0.7", "selector": {"app": "web"}}),
    )));
    assert_eq!(check_ids(&message), vec!["service-headless"]);
    assert_mentions(&message, &["that Service has clusterIP \"10.0.0.7\""]);
    // No clusterIP at all gets one allocated: not headless either.
    let message = denied(
        &create(sts())
            .services_deny()
            .run(&mut service_cluster(json!({"selector": {"app": "web"}}))),
    );
    assert_eq!(check_ids(&message), vec!["service-headless"]);
    assert_mentions(&message, &["no clusterIP"]);
    // "none" is not "None".
    let message = denied(&create(sts()).services_deny().run(&mut service_cluster(
        json!({"clusterIP": "none", "selector": {"app": "web"}}),
    )));
    assert_eq!(check_ids(&message), vec!["service-headless"]);
}

#[test]
fn a_service_that_does_not_select_the_pods_is_denied() {
    // A missing label and a label with another value.
    let mut fake = service_cluster(
        json!({"clusterIP": "None", "selector": {"app": "web", "tier": "db", "zone": "b"}}),
    );
    let labels = json!({"app": "web", "zone": "a"});
    let message = denied(
        &create(with(sts(), "/spec/template/metadata/labels", labels))
            .services_deny()
            .run(&mut fake),
    );
    assert_eq!(check_ids(&message), vec!["service-selects-pods"]);
    assert_mentions(
        &message,
        &["that Service selects app=web,tier=db,zone=b but spec.template.metadata.labels lack tier=db,zone=b, so it selects no replica"],
    );
    // The pairs the pods lack are named apart from the whole selector.
    assert!(!message.contains("lack app=web"), "{message}");
    // Pods without labels are selected by nothing.
    let mut fake = FakeCluster::healthy();
    let message = denied(
        &create(with(sts(), "/spec/template/metadata/labels", Value::Null))
            .services_deny()
            .run(&mut fake),
    );
    assert_mentions(&message, &["[service-selects-pods]", "app=web"]);
}

#[test]
fn a_service_without_a_selector_selects_no_pods() {
    for spec in [
        json!({"clusterIP": "None", "selector": {}}),
        json!({"clusterIP": "None"}),
    ] {
        let message = denied(
            &create(sts())
                .services_deny()
                .run(&mut service_cluster(spec.clone())),
        );
        assert_eq!(check_ids(&message), vec!["service-selects-pods"], "{spec}");
        assert_mentions(&message, &["has no selector"]);
    }
}

#[test]
fn a_service_both_not_headless_and_not_selecting_reports_both() {
    let message = denied(
        &create(sts())
            .services_deny()
            .run(&mut service_cluster(json!({"clusterIP": "10.0.0.7"}))),
    );
    assert_eq!(
        check_ids(&message),
        vec!["service-headless", "service-selects-pods"]
    );
    assert!(message.contains("violates 2 rules"), "{message}");
}

// ---------------------------------------------------------------------------
// Storage classes

fn exists_and_expandable() -> Value {
    json!({"storage": {"storageClassMustExist": true, "requireVolumeExpansion": true}})
}

#[test]
fn a_claim_without_class_resolves_to_the_default_class() {
    let data = || sts_with_claims(vec![claim("data", None, "1Gi")]);
    // healthy(): "standard" is the default and expandable.
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(
        &create(data())
            .settings(exists_and_expandable())
            .run(&mut fake),
    );
    assert_eq!(
        fake.calls,
        vec![Call::service(NS, NAME), Call::StorageClasses]
    );

    // A default that does not expand is named.
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.clear();
    let mut fake =
        fake.with_class("fast", false, Some(true))
            .with_class("standard", true, Some(false));
    let message = denied(
        &create(data())
            .settings(exists_and_expandable())
            .run(&mut fake),
    );
    assert_eq!(check_ids(&message), vec!["storage-class-expandable"]);
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is absent",
            "StorageClass \"standard\"",
        ],
    );

    // The beta default annotation counts too.
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.clear();
    let mut fake = fake.with_storage_class(json!({
        "metadata": {"name": "legacy", "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}},
        "allowVolumeExpansion": true
    }));
    accepted_cleanly(
        &create(data())
            .settings(exists_and_expandable())
            .run(&mut fake),
    );
}

#[test]
fn without_a_default_class_a_claim_without_class_does_not_bind() {
    let data = || sts_with_claims(vec![claim("data", None, "1Gi")]);
    // "false" does not make a class the default.
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.clear();
    let mut fake = fake.with_storage_class(json!({
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}},
        "allowVolumeExpansion": true
    }));
    let message = denied(
        &create(data())
            .settings(exists_and_expandable())
            .run(&mut fake),
    );
    // Only the existence is reported; expansion of nothing is moot.
    assert_eq!(check_ids(&message), vec!["storage-class-exists"]);
    assert_mentions(
        &message,
        &[
            "spec.volumeClaimTemplates[0] (data).spec.storageClassName is absent",
            "no default StorageClass",
        ],
    );
    // With only the expansion rule, the claim is reported by that rule.
    let message = denied(
        &create(data())
            .settings(json!({"storage": {"requireVolumeExpansion": true}}))
            .run(&mut fake),
    );
    assert_eq!(check_ids(&message), vec!["storage-class-expandable"]);
    assert_mentions(&message, &["no StorageClass resolves"]);
}

#[test]
fn of_several_default_classes_the_newest_wins() {
    let class = |name: &str, created: &str, expandable: bool| {
        json!({
            "metadata": {
                "name": name,
                "creationTimestamp": created,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}
            },
            "allowVolumeExpansion": expandable
        })
    };
    let data = || sts_with_claims(vec![claim("data", None, "1Gi")]);
    let settings = json!({"storage": {"requireVolumeExpansion": true}});
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.clear();
    let mut fake = fake
        .with_storage_class(class("old", "2023-01-01T00:00:00Z", false))
        .with_storage_class(class("new", "2024-06-01T00:00:00Z", true));
    accepted_cleanly(&create(data()).settings(settings.clone()).run(&mut fake));
    let mut fake = FakeCluster::healthy();
    fake.storage_classes.clear();
    let mut fake = fake
        .with_storage_class(class("new", "2024-06-01T00:00:00Z", false))
        .with_storage_class(class("old", "2023-01-01T00:00:00Z", true));
    let message = denied(&create(data()).settings(settings).run(&mut fake));
    assert_mentions(&message, &["StorageClass \"new\""]);
}

#[test]
fn a_class_that_does_not_allow_expansion_is_denied() {
    let settings = json!({"storage": {"requireVolumeExpansion": true}});
    let claims = vec![
        claim("data", Some("fast"), "1Gi"),
        claim("wal", Some("slow"), "1Gi"),
        claim("logs", Some("frozen"), "1Gi"),
    ];
    let mut fake = FakeCluster::healthy().with_class("frozen", false, Some(false));
    let message = denied(
        &create(sts_with_claims(claims))
            .settings(settings)
            .run(&mut fake),
    );
    assert_eq!(
        check_ids(&message),
        vec!["storage-class-expandable", "storage-class-expandable"]
    );
    assert_mentions(
        &message,
        &[
            // allowVolumeExpansion absent
            "spec.volumeClaimTemplates[1] (wal).spec.storageClassName is \"slow\": StorageClass \"slow\" does not set allowVolumeExpansion: true",
            // allowVolumeExpansion: false
            "spec.volumeClaimTemplates[2] (logs).spec.storageClassName is \"frozen\"",
        ],
    );
    assert!(!message.contains("(data)"), "{message}");
}

#[test]
fn the_empty_class_needs_no_storage_class_object() {
    let empty = || sts_with_claims(vec![claim("static", Some(""), "1Gi")]);
    // It binds pre-provisioned volumes: nothing has to exist...
    accepted_cleanly(
        &create(empty())
            .settings(json!({"storage": {"storageClassMustExist": true}}))
            .run(&mut FakeCluster::healthy()),
    );
    // ...but such volumes cannot be expanded.
    let message = denied(
        &create(empty())
            .settings(json!({"storage": {"requireVolumeExpansion": true}}))
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(check_ids(&message), vec!["storage-class-expandable"]);
    assert_mentions(&message, &["is \"\"", "pre-provisioned"]);
}

// ---------------------------------------------------------------------------
// Failed look-ups

#[test]
fn a_failed_service_look_up_follows_lookup_failure() {
    let error = "Host error: the server is currently unable to handle the request";
    let run = |settings: Value| {
        let mut fake = FakeCluster::healthy().failing_services(error);
        let response = create(sts())
            .settings(settings)
            .services_deny()
            .run(&mut fake);
        assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);
        response
    };
    // Default: deny, naming the error and how to grant access.
    let message = denied(&run(json!({})));
    assert_eq!(check_ids(&message), vec!["service-exists"]);
    assert_mentions(
        &message,
        &[error, "contextAwareResources", "Service db/web"],
    );
    let message = denied(&run(json!({"lookupFailure": "deny"})));
    assert_eq!(check_ids(&message), vec!["service-exists"]);
    // warn: accepted with the same text as a warning.
    let warnings = accepted(&run(json!({"lookupFailure": "warn"})));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_mentions(&warnings[0], &["[service-exists]", error]);
    // The failure is reported under the first check that needed the look-up.
    let message = denied(&run(json!({"serviceName": {"mustExist": false}})));
    assert_eq!(check_ids(&message), vec!["service-headless"]);
    let message = denied(&run(
        json!({"enforcement": {"service-exists": "off", "service-headless": "off"}}),
    ));
    assert_eq!(check_ids(&message), vec!["service-selects-pods"]);
    // Never more strictly than the check: a warn check stays a warning.
    let warnings = accepted(&run(json!({"enforcement": {"service-exists": "warn"}})));
    assert_eq!(check_ids(&warnings.join("\n")), vec!["service-exists"]);
}

#[test]
fn a_failed_look_up_on_update_is_grandfathered_only_for_the_unchanged_service_name() {
    let error = "Host error: the server is currently unable to handle the request";
    // serviceName is immutable: the old object needed the same look-up, so the
    // failure cannot hide a new fault and the update (scale, new image) goes through.
    let mut fake = FakeCluster::healthy().failing_services(error);
    let warnings = accepted(
        &update(spread(sts(), 5), sts())
            .services_deny()
            .run(&mut fake),
    );
    assert_eq!(check_ids(&warnings.join("\n")), vec!["service-exists"]);
    assert_mentions(&warnings[0], &[error, "already so before this update"]);
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);
    // A changed serviceName is a new value: the failure denies.
    let mut fake = FakeCluster::healthy().failing_services(error);
    let renamed = with(sts(), "/spec/serviceName", json!("other"));
    let message = denied(&update(renamed, sts()).services_deny().run(&mut fake));
    assert_mentions(&message, &["[service-exists]", error]);
    // The pod labels are mutable, and service-selects-pods reads them: a
    // failure after they changed may hide a Service that no longer selects
    // the pods, so it denies.
    let mut fake = FakeCluster::healthy().failing_services(error);
    let relabelled = with(
        sts(),
        "/spec/template/metadata/labels",
        json!({"app": "other"}),
    );
    let message = denied(
        &update(relabelled.clone(), sts())
            .services_deny()
            .run(&mut fake),
    );
    assert_mentions(&message, &["[service-exists]", error]);
    // Unless service-selects-pods does not run: then the labels are not read.
    let mut fake = FakeCluster::healthy().failing_services(error);
    let warnings = accepted(
        &update(relabelled, sts())
            .settings(json!({"serviceName": {"mustSelectPods": false}}))
            .services_deny()
            .run(&mut fake),
    );
    assert_mentions(&warnings[0], &["already so before this update"]);
}

#[test]
fn on_update_a_service_that_misses_other_labels_is_a_new_fault() {
    // The Service selects app=web,tier=db. The old pods lacked tier=db; the
    // new ones lack app=web: another fault, not the old one.
    let service = || {
        FakeCluster::empty().with_service(
            NS,
            NAME,
            json!({"spec": {"clusterIP": "None", "selector": {"app": "web", "tier": "db"}}}),
        )
    };
    let old = with(
        sts(),
        "/spec/template/metadata/labels",
        json!({"app": "web"}),
    );
    let new = with(
        sts(),
        "/spec/template/metadata/labels",
        json!({"tier": "db"}),
    );
    let message = denied(&update(new, old.clone()).services_deny().run(&mut service()));
    assert_mentions(&message, &["[service-selects-pods]", "lack app=web,"]);
    // The very same missing label is grandfathered.
    let scaled = with(old.clone(), "/spec/replicas", json!(4));
    let warnings = accepted(&update(scaled, old).services_deny().run(&mut service()));
    assert_mentions(
        &warnings[0],
        &["lack tier=db,", "already so before this update"],
    );
}

#[test]
fn headless_is_read_from_cluster_ip_and_type() {
    let run = |spec: Value| {
        let mut fake = FakeCluster::empty().with_service(NS, NAME, spec);
        create(sts()).services_deny().run(&mut fake)
    };
    // Dual-stack headless: clusterIPs holds the same None.
    accepted_cleanly(&run(
        json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "web"}}}),
    ));
    let message = denied(&run(
        json!({"spec": {"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7", "fd00::7"], "selector": {"app": "web"}}}),
    ));
    assert_mentions(&message, &["[service-headless]", "clusterIP \"10.0.0.7\""]);
    // An ExternalName Service is a DNS alias: no cluster IP is allocated for it.
    let message = denied(&run(
        json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
    ));
    assert_mentions(
        &message,
        &["type ExternalName (a DNS alias of \"db.example.com\"), which has no cluster IP"],
    );
    assert!(!message.contains("allocated"), "{message}");
}

#[test]
fn a_failed_storage_class_look_up_follows_lookup_failure() {
    let error = "Host error: Policy has not been granted access to Kubernetes storage.k8s.io/v1/StorageClass resources";
    let claims = || {
        sts_with_claims(vec![
            claim("data", Some("fast"), "1Gi"),
            claim("wal", None, "1Gi"),
        ])
    };
    let run = |settings: Value| {
        let mut fake = FakeCluster::healthy().failing_storage_classes(error);
        let response = create(claims()).settings(settings).run(&mut fake);
        assert_eq!(
            fake.calls,
            vec![Call::service(NS, NAME), Call::StorageClasses]
        );
        response
    };
    // One violation for the look-up, not one per claim.
    let message = denied(&run(exists_and_expandable()));
    assert_eq!(check_ids(&message), vec!["storage-class-exists"]);
    assert_mentions(
        &message,
        &[
            error,
            "spec.volumeClaimTemplates is unverified",
            "list it in contextAwareResources",
        ],
    );
    let message = denied(&run(json!({"storage": {"requireVolumeExpansion": true}})));
    assert_eq!(check_ids(&message), vec!["storage-class-expandable"]);
    let mut settings = exists_and_expandable();
    settings["lookupFailure"] = json!("warn");
    let warnings = accepted(&run(settings));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_mentions(&warnings[0], &["[storage-class-exists]", error]);
    // Other checks still deny while the look-up only warns.
    let mut settings = exists_and_expandable();
    settings["lookupFailure"] = json!("warn");
    settings["storage"]["requireStorageClass"] = json!(true);
    let response = run(settings);
    let message = denied(&response);
    assert_eq!(check_ids(&message), vec!["storage-class-required"]);
    assert_eq!(response.warnings.as_ref().map(Vec::len), Some(1));
}

#[test]
fn both_look_ups_failing_are_both_reported() {
    let mut fake = FakeCluster::healthy()
        .failing_services("Host error: timeout")
        .failing_storage_classes("Host error: forbidden");
    let response = create(sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]))
        .settings(json!({"storage": {"storageClassMustExist": true}, "lookupFailure": "warn"}))
        .run(&mut fake);
    let warnings = accepted(&response);
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["service-exists", "storage-class-exists"]
    );
    assert_mentions(&warnings.join("\n"), &["timeout", "forbidden"]);
}

// ---------------------------------------------------------------------------
// Which look-ups are made

fn storage_lookup_settings() -> Value {
    json!({"storage": {"storageClassMustExist": true, "requireVolumeExpansion": true}})
}

#[test]
fn the_service_is_looked_up_before_the_storage_classes_once_each() {
    let claims: Vec<Value> = (0..6)
        .map(|i| {
            claim(
                &format!("c{i}"),
                if i % 2 == 0 { Some("fast") } else { None },
                "1Gi",
            )
        })
        .collect();
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(
        &create(sts_with_claims(claims.clone()))
            .settings(storage_lookup_settings())
            .run(&mut fake),
    );
    assert_eq!(
        fake.calls,
        vec![Call::service(NS, NAME), Call::StorageClasses]
    );

    // On UPDATE the old object is judged with the same answers: no second look-up.
    let mut old = sts_with_claims(claims.clone());
    set(&mut old, "/spec/replicas", json!(1));
    let new = spread(sts_with_claims(claims), 5);
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(
        &update(new, old)
            .settings(storage_lookup_settings())
            .run(&mut fake),
    );
    assert_eq!(
        fake.calls,
        vec![Call::service(NS, NAME), Call::StorageClasses]
    );

    // Also when the old object names another Service and other classes.
    let old = with(
        sts_with_claims(vec![claim("x", Some("gold"), "1Gi")]),
        "/spec/serviceName",
        json!("legacy"),
    );
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(
        &update(sts_with_claims(vec![claim("x", Some("fast"), "1Gi")]), old)
            .settings(storage_lookup_settings())
            .run(&mut fake),
    );
    assert_eq!(
        fake.calls,
        vec![Call::service(NS, NAME), Call::StorageClasses]
    );
}

#[test]
fn nothing_is_looked_up_when_the_checks_are_off() {
    let object = || sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]);
    let cases = [
        json!({"serviceName": {"mustExist": false, "mustBeHeadless": false, "mustSelectPods": false}}),
        json!({"enforcement": {"service-exists": "off", "service-headless": "off", "service-selects-pods": "off"}}),
        json!({"serviceName": {"mustExist": false, "mustBeHeadless": false},
               "enforcement": {"service-selects-pods": "off"}}),
    ];
    for settings in cases {
        let mut fake = FakeCluster::empty();
        accepted_cleanly(&create(object()).settings(settings.clone()).run(&mut fake));
        assert!(fake.calls.is_empty(), "{settings}: {:?}", fake.calls);
    }
    // Only one of the three on: the look-up is made.
    let mut fake = FakeCluster::healthy();
    let settings = json!({"serviceName": {"mustExist": false, "mustBeHeadless": false}});
    accepted_cleanly(&create(object()).settings(settings).run(&mut fake));
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);

    // Storage: the default settings need no StorageClass; nor do the rules when off.
    for settings in [
        json!({}),
        json!({"storage": {"requireStorageClass": true, "allowedStorageClasses": ["fast"], "maxSize": "1Ti"}}),
        json!({"storage": {"storageClassMustExist": true, "requireVolumeExpansion": true},
               "enforcement": {"storage-class-exists": "off", "storage-class-expandable": "off"}}),
    ] {
        let mut fake = FakeCluster::healthy();
        accepted_cleanly(&create(object()).settings(settings.clone()).run(&mut fake));
        assert_eq!(fake.calls, vec![Call::service(NS, NAME)], "{settings}");
    }
    // One rule on is enough to look them up.
    for settings in [
        json!({"storage": {"storageClassMustExist": true}}),
        json!({"storage": {"requireVolumeExpansion": true}, "enforcement": {"storage-class-expandable": "warn"}}),
    ] {
        let mut fake = FakeCluster::healthy();
        accepted_cleanly(&create(object()).settings(settings.clone()).run(&mut fake));
        assert_eq!(
            fake.calls,
            vec![Call::service(NS, NAME), Call::StorageClasses],
            "{settings}"
        );
    }
}

#[test]
fn nothing_is_looked_up_without_claims_or_without_a_service_name() {
    let mut fake = FakeCluster::healthy();
    accepted_cleanly(
        &create(sts())
            .settings(storage_lookup_settings())
            .services_deny()
            .run(&mut fake),
    );
    assert_eq!(fake.calls, vec![Call::service(NS, NAME)]);

    let mut fake = FakeCluster::healthy();
    let object = with(
        sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]),
        "/spec/serviceName",
        Value::Null,
    );
    let message = denied(
        &create(object)
            .settings(storage_lookup_settings())
            .services_deny()
            .run(&mut fake),
    );
    assert_eq!(check_ids(&message), vec!["service-name-required"]);
    assert_eq!(fake.calls, vec![Call::StorageClasses]);
}

// ---------------------------------------------------------------------------
// Service DELETE: service-in-use

fn member(name: &str, replicas: Option<i64>) -> Value {
    let mut object = with(sts(), "/metadata/name", json!(name));
    if let Some(replicas) = replicas {
        set(&mut object, "/spec/replicas", json!(replicas));
    }
    object
}

#[test]
fn deleting_a_service_in_use_warns_by_default() {
    let mut fake = FakeCluster::empty()
        .with_stateful_set(NS, member("web", Some(3)))
        .with_stateful_set(NS, member("web-b", None))
        .with_stateful_set(
            NS,
            with(
                member("cache", Some(2)),
                "/spec/serviceName",
                json!("cache"),
            ),
        )
        .with_stateful_set("other", member("web-elsewhere", Some(1)));
    let response = delete_service(NS, NAME).run(&mut fake);
    assert_eq!(fake.calls, vec![Call::stateful_sets(NS)]);
    let warnings = accepted(&response);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_mentions(
        &warnings[0],
        &[
            "[service-in-use] StatefulSet db/web spec.serviceName is \"web\"",
            "3 replica(s)",
        ],
    );
    // Absent replicas default to 1.
    assert_mentions(
        &warnings[1],
        &["StatefulSet db/web-b spec.serviceName", "1 replica(s)"],
    );
    assert!(!warnings.join(" ").contains("cache"));
    assert!(!warnings.join(" ").contains("elsewhere"));
}

#[test]
fn deleting_a_service_in_use_can_be_denied() {
    let mut fake = FakeCluster::empty().with_stateful_set(NS, member("web", Some(3)));
    let message = denied(
        &delete_service(NS, NAME)
            .settings(json!({"enforcement": {"service-in-use": "deny"}}))
            .run(&mut fake),
    );
    assert!(
        message.starts_with("deleting Service db/web violates 1 rule: (1) [service-in-use]"),
        "{message}"
    );
}

#[test]
fn terminating_and_scaled_down_sets_do_not_hold_the_service() {
    let terminating = with(
        member("old", Some(3)),
        "/metadata/deletionTimestamp",
        json!("2024-05-01T10:00:00Z"),
    );
    let mut fake = FakeCluster::empty()
        .with_stateful_set(NS, terminating)
        .with_stateful_set(NS, member("idle", Some(0)));
    accepted_cleanly(
        &delete_service(NS, NAME)
            .settings(json!({"enforcement": {"service-in-use": "deny"}}))
            .run(&mut fake),
    );
    assert_eq!(fake.calls, vec![Call::stateful_sets(NS)]);
    // An empty namespace has nothing to hold it either.
    accepted_cleanly(&delete_service(NS, NAME).run(&mut FakeCluster::empty()));
}

#[test]
fn a_failed_stateful_set_look_up_on_service_delete() {
    let error = "Host error: Policy has not been granted access to Kubernetes apps/v1/StatefulSet resources";
    let run = |settings: Value| {
        let mut fake = FakeCluster::empty().failing_stateful_sets(error);
        delete_service(NS, NAME).settings(settings).run(&mut fake)
    };
    // Default (warn): a warning naming the error.
    let warnings = accepted(&run(json!({})));
    assert_eq!(warnings.len(), 1);
    assert_mentions(
        &warnings[0],
        &["[service-in-use]", error, "contextAwareResources"],
    );
    // The check denying and lookupFailure deny: denied.
    let message = denied(&run(json!({"enforcement": {"service-in-use": "deny"}})));
    assert_mentions(&message, &[error]);
    // The check denying and lookupFailure warn: warned.
    let warnings = accepted(&run(
        json!({"enforcement": {"service-in-use": "deny"}, "lookupFailure": "warn"}),
    ));
    assert_eq!(check_ids(&warnings.join("\n")), vec!["service-in-use"]);
}

#[test]
fn other_service_operations_and_stateful_set_deletes_look_nothing_up() {
    let mut fake = FakeCluster::empty().with_stateful_set(NS, member("web", Some(3)));
    let mut req = delete_service(NS, NAME);
    req.request["operation"] = json!("UPDATE");
    req.request["object"] = req.request["oldObject"].clone();
    let warnings = accepted(&req.run(&mut fake));
    // Not a StatefulSet: accepted with a note that the policy got something else.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_mentions(&warnings[0], &["Service"]);
    let mut req = create(sts());
    req.request["operation"] = json!("DELETE");
    req.request["oldObject"] = req.request["object"].take();
    accepted_cleanly(&req.run(&mut fake));
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
}

/// The fix a failed look-up names depends on its cause, read from the
/// first line of the host's error (texts of policy-evaluator, kube-rs and
/// policy-server's error chain; the backtrace policy-server appends with
/// RUST_BACKTRACE never reaches the message).
#[test]
fn a_failed_look_up_names_the_fix_for_its_cause() {
    let cases = [
        (
            "Host error: Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported.",
            "list it in the policy's hostCapabilities",
        ),
        (
            "Host error: Policy has not been granted access to Kubernetes v1/Service resources. The violation has been reported.",
            "list it in contextAwareResources of a ClusterAdmissionPolicy",
        ),
        (
            "Host error: Callback evaluation failure: ApiError: services \"web\" is forbidden: User \"system:serviceaccount:kubewarden:policy-server\" cannot get resource \"services\" in API group \"\" in the namespace \"db\": Forbidden (ErrorResponse { status: \"Failure\", code: 403 })\n\nCaused by:\n    services \"web\" is forbidden",
            "policy-server's ServiceAccount may not read services (core group): grant it get, list and watch",
        ),
        (
            "Host error: Callback evaluation failure: ServiceError: client error (Connect)\n\nCaused by:\n    0: client error (Connect)\n    1: tcp connect error: Connection refused (os error 111)\n\nStack backtrace:\n   0: std::backtrace::Backtrace::create\n   1: anyhow::error::<impl anyhow::Error>::msg",
            "the API server is unreachable from policy-server",
        ),
        (
            "Host error: Callback evaluation failure: kube::Client was not initialized properly",
            "policy-server has no connection to a cluster",
        ),
    ];
    for (error, fix) in cases {
        let mut fake = FakeCluster::healthy().failing_services(error);
        let message = denied(&create(sts()).services_deny().run(&mut fake));
        assert_mentions(
            &message,
            &[
                "[service-exists]",
                "the look-up of Service db/web failed (",
                fix,
            ],
        );
        let first_line = error.lines().next().unwrap();
        assert_mentions(&message, &[first_line]);
        assert!(
            !message.contains("Caused by") && !message.contains("Stack backtrace"),
            "{message}"
        );
    }
    // A list that could not start (RBAC or connection) names both.
    let mut fake = FakeCluster::healthy().failing_storage_classes(
        "Host error: Callback evaluation failure: writer was dropped before store became ready",
    );
    let claims = sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]);
    let message = denied(
        &create(claims)
            .settings(exists_and_expandable())
            .services_deny()
            .run(&mut fake),
    );
    assert_mentions(
        &message,
        &[
            "could not list StorageClass objects",
            "storage.k8s.io storageclasses",
        ],
    );
}

// ---------------------------------------------------------------------------
// PodDisruptionBudgets

fn budgets_on() -> Value {
    json!({"availability": {"podDisruptionBudget": true}})
}

fn web_selector() -> Value {
    json!({"matchLabels": {"app": "web"}})
}

/// Three spread replicas judged with the budgets checks on against `budgets`
/// (name, spec) in the set's namespace.
fn judge_budgets(replicas: i64, budgets: &[(&str, Value)]) -> (ValidationResponse, FakeCluster) {
    let mut fake = FakeCluster::healthy();
    for (name, spec) in budgets {
        fake = fake.with_pdb(NS, name, spec.clone());
    }
    let response = create(spread(sts(), replicas))
        .settings(budgets_on())
        .run(&mut fake);
    (response, fake)
}

fn budget_warnings(replicas: i64, budgets: &[(&str, Value)]) -> Vec<String> {
    let (response, _) = judge_budgets(replicas, budgets);
    let warnings = accepted(&response);
    assert!(
        warnings.iter().all(|w| w.starts_with("[pdb-")),
        "{warnings:?}"
    );
    warnings
}

#[test]
fn budgets_are_listed_after_the_service_and_the_classes_once_only_with_replicas() {
    let settings = json!({
        "storage": {"storageClassMustExist": true},
        "availability": {"podDisruptionBudget": true}
    });
    let object = || spread(sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]), 3);
    let mut fake = FakeCluster::healthy().with_pdb(
        NS,
        "web",
        json!({"maxUnavailable": 1, "selector": web_selector()}),
    );
    accepted_cleanly(&create(object()).settings(settings.clone()).run(&mut fake));
    assert_eq!(
        fake.calls,
        vec![
            Call::service(NS, NAME),
            Call::StorageClasses,
            Call::pod_disruption_budgets(NS)
        ]
    );
    // On UPDATE the old object is judged with the same list.
    let mut fake = FakeCluster::healthy();
    let old = with(object(), "/spec/replicas", json!(2));
    let response = update(object(), old)
        .settings(settings.clone())
        .run(&mut fake);
    assert_eq!(fake.pod_disruption_budget_calls(), 1);
    assert_eq!(
        check_ids(&accepted(&response).join("\n")),
        vec!["pdb-covers-pods"]
    );
    // One replica (absent, 1) or none: nothing to drain around, no look-up.
    for replicas in [Value::Null, json!(1), json!(0)] {
        let mut fake = FakeCluster::healthy();
        let object = with(object(), "/spec/replicas", replicas.clone());
        accepted_cleanly(&create(object).settings(settings.clone()).run(&mut fake));
        assert_eq!(fake.pod_disruption_budget_calls(), 0, "{replicas}");
    }
    // Both checks off, by setting or by enforcement: no look-up.
    for settings in [
        json!({}),
        json!({"availability": {"podDisruptionBudget": true},
               "enforcement": {"pdb-covers-pods": "off", "pdb-allows-disruption": "off"}}),
    ] {
        let mut fake = FakeCluster::healthy();
        accepted_cleanly(
            &create(spread(sts(), 3))
                .settings(settings.clone())
                .run(&mut fake),
        );
        assert_eq!(fake.pod_disruption_budget_calls(), 0, "{settings}");
    }
    // Either check alone needs the list.
    for off in ["pdb-covers-pods", "pdb-allows-disruption"] {
        let mut fake = FakeCluster::healthy();
        let settings =
            json!({"availability": {"podDisruptionBudget": true}, "enforcement": {off: "off"}});
        let _ = create(spread(sts(), 3)).settings(settings).run(&mut fake);
        assert_eq!(
            fake.calls.last(),
            Some(&Call::pod_disruption_budgets(NS)),
            "{off}"
        );
    }
    // The namespace of the request when the object has none.
    let mut object = spread(sts(), 3);
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .shift_remove("namespace");
    let mut req = create(object).settings(budgets_on());
    req.request["namespace"] = json!("team-a");
    let mut fake = FakeCluster::healthy();
    let _ = req.run(&mut fake);
    assert_eq!(
        fake.calls.last(),
        Some(&Call::pod_disruption_budgets("team-a"))
    );
}

#[test]
fn a_budget_covers_the_pods_its_selector_selects() {
    let expression = |key: &str, operator: &str, values: Option<Value>| {
        let mut requirement = json!({"key": key, "operator": operator});
        if let Some(values) = values {
            requirement["values"] = values;
        }
        json!({"matchExpressions": [requirement]})
    };
    // Selectors that select app=web pods (metav1.LabelSelectorAsSelector).
    for selector in [
        web_selector(),
        expression("app", "In", Some(json!(["web", "api"]))),
        expression("app", "NotIn", Some(json!(["cache"]))),
        expression("zone", "NotIn", Some(json!(["a"]))),
        expression("app", "Exists", None),
        expression("tier", "DoesNotExist", None),
        // policy/v1: an empty selector selects every pod of the namespace.
        json!({}),
    ] {
        let spec = json!({"maxUnavailable": 1, "selector": selector});
        assert_eq!(
            budget_warnings(3, &[("b", spec)]),
            Vec::<String>::new(),
            "{selector}"
        );
    }
    // Selectors that do not.
    for (selector, reason) in [
        (
            json!({"matchLabels": {"app": "cache"}}),
            "\"b\" selects app=cache",
        ),
        (
            json!({"matchLabels": {"app": "web", "tier": "db"}}),
            "\"b\" selects app=web,tier=db",
        ),
        (
            expression("app", "In", Some(json!(["api"]))),
            "selects app in (api)",
        ),
        (
            expression("app", "NotIn", Some(json!(["web"]))),
            "selects app notin (web)",
        ),
        (expression("tier", "Exists", None), "selects tier,"),
        (expression("app", "DoesNotExist", None), "selects !app,"),
        // How a policy/v1beta1 empty selector reads through policy/v1: it selects no pod.
        (
            expression(
                "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match",
                "Exists",
                None,
            ),
            "selects pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match,",
        ),
        (Value::Null, "\"b\" has a null labelSelector"),
        (
            expression("app", "In", Some(json!([]))),
            "has an invalid labelSelector",
        ),
    ] {
        let spec = json!({"maxUnavailable": 1, "selector": selector});
        let warnings = budget_warnings(3, &[("b", spec)]);
        assert_eq!(
            check_ids(&warnings.join("\n")),
            vec!["pdb-covers-pods"],
            "{selector}"
        );
        assert_mentions(
            &warnings[0],
            &[
                "[pdb-covers-pods] spec.template.metadata.labels is app=web",
                "no PodDisruptionBudget in namespace \"db\" selects these pods",
                reason,
            ],
        );
    }
    // A budget of another namespace covers nothing here.
    let mut fake = FakeCluster::healthy().with_pdb(
        "other",
        "b",
        json!({"maxUnavailable": 1, "selector": web_selector()}),
    );
    let response = create(spread(sts(), 3))
        .settings(budgets_on())
        .run(&mut fake);
    assert_eq!(
        check_ids(&accepted(&response).join("\n")),
        vec!["pdb-covers-pods"]
    );
}

#[test]
fn a_budget_that_allows_no_disruption_is_named() {
    // (replicas, spec, blocks): desired healthy as the disruption controller
    // computes it, percentages rounded up (GetScaledValueFromIntOrPercent).
    let cases = [
        (3, json!({"maxUnavailable": 0}), true),
        (3, json!({"maxUnavailable": "0%"}), true),
        (3, json!({"maxUnavailable": 1}), false),
        (3, json!({"maxUnavailable": "1%"}), false),
        (3, json!({"maxUnavailable": "34%"}), false),
        (3, json!({"minAvailable": 3}), true),
        (3, json!({"minAvailable": 5}), true),
        (3, json!({"minAvailable": 2}), false),
        (3, json!({"minAvailable": 0}), false),
        (3, json!({"minAvailable": "100%"}), true),
        // ceil(67 × 3 / 100) = 3 of 3.
        (3, json!({"minAvailable": "67%"}), true),
        // ceil(66 × 3 / 100) = 2 of 3.
        (3, json!({"minAvailable": "66%"}), false),
        (2, json!({"minAvailable": "51%"}), true),
        (2, json!({"minAvailable": "50%"}), false),
        (10, json!({"minAvailable": "91%"}), true),
        (10, json!({"minAvailable": "90%"}), false),
        (2, json!({"minAvailable": 1}), false),
        // Neither field: the expected count stays 0, so nothing is allowed
        // (getExpectedPodCount, updatePdbStatus in pkg/controller/disruption/disruption.go).
        (3, json!({}), true),
        // Not a percentage: the controller fails safe, allowing nothing.
        (3, json!({"minAvailable": "half"}), true),
        (3, json!({"maxUnavailable": "1"}), true),
    ];
    for (replicas, spec, blocks) in cases {
        let mut spec = spec;
        spec["selector"] = web_selector();
        let warnings = budget_warnings(replicas, &[("web-pdb", spec.clone())]);
        if !blocks {
            assert_eq!(
                warnings,
                Vec::<String>::new(),
                "{replicas} replicas, {spec}"
            );
            continue;
        }
        assert_eq!(
            check_ids(&warnings.join("\n")),
            vec!["pdb-allows-disruption"],
            "{replicas} replicas, {spec}"
        );
        assert_mentions(
            &warnings[0],
            &[
                "PodDisruptionBudget db/web-pdb spec.",
                "every node drain blocks",
            ],
        );
    }
    let warnings = budget_warnings(
        3,
        &[(
            "web-pdb",
            json!({"minAvailable": "67%", "selector": web_selector()}),
        )],
    );
    assert_mentions(
        &warnings[0],
        &[
            "[pdb-allows-disruption] PodDisruptionBudget db/web-pdb spec.minAvailable is \"67%\"",
            "requires 3 of the 3 replicas available, percentages rounded up",
            "require at most 2",
        ],
    );
    let warnings = budget_warnings(
        3,
        &[(
            "web-pdb",
            json!({"maxUnavailable": 0, "selector": web_selector()}),
        )],
    );
    assert_mentions(
        &warnings[0],
        &[
            "PodDisruptionBudget db/web-pdb spec.maxUnavailable is 0",
            "it selects all 3 replicas and lets none of them be unavailable",
        ],
    );
    // A blocking budget that does not select the set's pods is not this set's problem.
    let other = json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "cache"}}});
    let spare = json!({"maxUnavailable": 1, "selector": web_selector()});
    assert_eq!(
        budget_warnings(3, &[("cache", other), ("web", spare)]),
        Vec::<String>::new()
    );
}

#[test]
fn two_budgets_selecting_the_pods_block_every_eviction() {
    // The eviction API refuses a pod with more than one budget (pkg/registry/core/pod/storage/eviction.go).
    let spare = json!({"maxUnavailable": 1, "selector": web_selector()});
    let all = json!({"maxUnavailable": 1, "selector": {}});
    let warnings = budget_warnings(3, &[("web", spare.clone()), ("everything", all)]);
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["pdb-allows-disruption"]
    );
    assert_mentions(
        &warnings[0],
        &[
            "spec.template.metadata.labels is app=web",
            "PodDisruptionBudgets \"web\", \"everything\" select the same pods of this set",
            "more than one PodDisruptionBudget",
        ],
    );
    // And each blocking one is named as well.
    let frozen = json!({"minAvailable": "100%", "selector": web_selector()});
    let warnings = budget_warnings(3, &[("web", spare), ("frozen", frozen)]);
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["pdb-allows-disruption", "pdb-allows-disruption"]
    );
    assert_mentions(
        &warnings[1],
        &["PodDisruptionBudget db/frozen spec.minAvailable is \"100%\""],
    );
}

#[test]
fn a_failed_budget_look_up_follows_lookup_failure_but_never_beyond_the_check() {
    let error = "Host error: Policy has not been granted access to Kubernetes policy/v1/PodDisruptionBudget resources";
    let run = |settings: Value| {
        let mut fake = FakeCluster::healthy().failing_pod_disruption_budgets(error);
        let response = create(spread(sts(), 3)).settings(settings).run(&mut fake);
        assert_eq!(fake.pod_disruption_budget_calls(), 1);
        response
    };
    // Both checks warn by default, so the failure warns even with lookupFailure deny.
    let warnings = accepted(&run(budgets_on()));
    assert_eq!(check_ids(&warnings.join("\n")), vec!["pdb-covers-pods"]);
    assert_mentions(
        &warnings[0],
        &[
            "spec.template.metadata.labels is unverified",
            "the look-up of the PodDisruptionBudgets of namespace db failed",
            error,
            "the policy is not granted policy/v1 PodDisruptionBudget: list it in contextAwareResources",
        ],
    );
    // Raised to deny, the failure denies under lookupFailure deny...
    let mut settings = budgets_on();
    settings["enforcement"] = json!({"pdb-covers-pods": "deny"});
    let message = denied(&run(settings.clone()));
    assert_eq!(check_ids(&message), vec!["pdb-covers-pods"]);
    // ...and warns under lookupFailure warn.
    settings["lookupFailure"] = json!("warn");
    accepted(&run(settings));
    // With pdb-covers-pods off, the failure is reported under pdb-allows-disruption.
    let settings = json!({"availability": {"podDisruptionBudget": true},
        "enforcement": {"pdb-covers-pods": "off", "pdb-allows-disruption": "deny"}});
    let message = denied(&run(settings));
    assert_eq!(check_ids(&message), vec!["pdb-allows-disruption"]);
}

#[test]
fn a_blocking_budget_the_old_object_had_is_grandfathered_on_update() {
    let deny = json!({"availability": {"podDisruptionBudget": true},
        "enforcement": {"pdb-allows-disruption": "deny"}});
    let cluster = || {
        FakeCluster::healthy().with_pdb(
            NS,
            "web-pdb",
            json!({"minAvailable": 3, "selector": web_selector()}),
        )
    };
    // A new image on the same 3 replicas: the same fault, a warning.
    let old = spread(sts(), 3);
    let new = with(
        old.clone(),
        "/spec/template/spec/containers/0/image",
        json!("nginx:2"),
    );
    let warnings = accepted(&update(new, old).settings(deny.clone()).run(&mut cluster()));
    assert_mentions(
        &warnings[0],
        &["[pdb-allows-disruption]", "already so before this update"],
    );
    // Scaling 5 down to 3 makes the budget block: a new fault, denied.
    let message = denied(
        &update(spread(sts(), 3), spread(sts(), 5))
            .settings(deny.clone())
            .run(&mut cluster()),
    );
    assert_eq!(check_ids(&message), vec!["pdb-allows-disruption"]);
    // And scaling up out of it is fine.
    accepted_cleanly(
        &update(spread(sts(), 5), spread(sts(), 3))
            .settings(deny)
            .run(&mut cluster()),
    );
}
