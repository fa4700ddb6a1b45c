//! `volume-mounts-resolve` and `claims-mounted` through the full flow: which
//! names a pod of the set will have (template volumes and one volume per
//! claim template, a claim replacing a template volume of its name, as the
//! StatefulSet controller's `updateStorage` builds them), and which uses count
//! (volumeMounts and volumeDevices, of containers and init containers).

mod common;

use common::*;
use serde_json::{json, Value};

/// A set with a template volume `config`, a Filesystem claim `data` and a
/// Block claim `raw`: the main container mounts `config` and `data` twice
/// (two subPaths), an init container mounts `data`, and a sidecar uses `raw`
/// as a block device.
fn database() -> Value {
    let raw = with(
        claim("raw", Some("fast"), "1Gi"),
        "/spec/volumeMode",
        json!("Block"),
    );
    let mut object = sts_with_claims(vec![claim("data", Some("fast"), "1Gi"), raw]);
    object["spec"]["template"]["spec"] = json!({
        "volumes": [{"name": "config", "configMap": {"name": "db-config"}}],
        "initContainers": [{
            "name": "init",
            "image": "busybox",
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/db"}]
        }],
        "containers": [
            {
                "name": "db",
                "image": "postgres",
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/db"},
                    {"name": "data", "mountPath": "/var/lib/db", "subPath": "pgdata"},
                    {"name": "data", "mountPath": "/var/log/db", "subPath": "logs"}
                ]
            },
            {
                "name": "sidecar",
                "image": "raw-io",
                "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}]
            }
        ]
    });
    object
}

fn run(object: Value) -> kubewarden_policy_sdk::response::ValidationResponse {
    create(object).run(&mut FakeCluster::healthy())
}

#[test]
fn mounts_and_devices_resolve_to_template_volumes_and_claims() {
    accepted_cleanly(&run(database()));
}

#[test]
fn an_unknown_name_is_denied_wherever_it_is_used() {
    let cases = [
        (
            "/spec/template/spec/initContainers/0/volumeMounts/0/name",
            "spec.template.spec.initContainers[0] (init).volumeMounts[0].name is \"scratch\"",
        ),
        (
            "/spec/template/spec/containers/0/volumeMounts/0/name",
            "spec.template.spec.containers[0] (db).volumeMounts[0].name is \"scratch\"",
        ),
        (
            "/spec/template/spec/containers/1/volumeDevices/0/name",
            "spec.template.spec.containers[1] (sidecar).volumeDevices[0].name is \"scratch\"",
        ),
    ];
    for (pointer, mention) in cases {
        let response = run(with(database(), pointer, json!("scratch")));
        let message = denied(&response);
        assert_eq!(
            check_ids(&message),
            vec!["volume-mounts-resolve"],
            "{message}"
        );
        assert_mentions(
            &message,
            &[
                mention,
                "volumes: \"config\"; claim templates: \"data\", \"raw\"",
            ],
        );
    }
    // A name that differs only in case is another name.
    let message = denied(&run(with(
        database(),
        "/spec/template/spec/containers/0/volumeMounts/0/name",
        json!("Config"),
    )));
    assert_mentions(&message, &["volumeMounts[0].name is \"Config\""]);
}

#[test]
fn every_unresolved_use_is_named_and_a_missing_name_is_absent() {
    let mut object = database();
    object["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([
        {"name": "data", "mountPath": "/var/lib/db"},
        {"mountPath": "/tmp"},
        {"name": "cache", "mountPath": "/cache"},
        {"name": null, "mountPath": "/null"}
    ]);
    object["spec"]["template"]["spec"]["containers"][0]["name"] = Value::Null;
    let message = denied(&run(object));
    assert!(message.contains("violates 3 rules"), "{message}");
    assert_mentions(
        &message,
        &[
            "spec.template.spec.containers[0].volumeMounts[1].name is absent",
            "spec.template.spec.containers[0].volumeMounts[2].name is \"cache\"",
            "spec.template.spec.containers[0].volumeMounts[3].name is absent",
        ],
    );
}

#[test]
fn without_volumes_or_claims_every_mount_is_unresolved() {
    let object = with(
        sts(),
        "/spec/template/spec/containers/0/volumeMounts",
        json!([{"name": "www", "mountPath": "/usr/share/nginx/html"}]),
    );
    let message = denied(&run(object));
    assert_mentions(
        &message,
        &[
            "volumeMounts[0].name is \"www\"",
            "the template has no volumes and the set no claim templates",
        ],
    );
    // A set without mounts has nothing to resolve.
    accepted_cleanly(&run(sts()));
}

#[test]
fn a_template_volume_named_like_a_claim_is_replaced_by_the_claim() {
    // updateStorage drops the template volume of a claim's name and adds the
    // claim's volume: the mount resolves (to the claim), and the claim is used.
    let mut object = sts_with_claims(vec![claim("data", Some("fast"), "1Gi")]);
    object["spec"]["template"]["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    accepted_cleanly(&run(object));
}

#[test]
fn a_claim_is_used_by_a_mount_a_device_or_an_init_container() {
    // Only the init container mounts `data`, only a device uses `raw`.
    let mut object = database();
    object["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "config", "mountPath": "/etc/db"}]);
    accepted_cleanly(&run(object.clone()));
    // Nobody uses `data` any more: one warning, the request still goes through.
    object["spec"]["template"]["spec"]["initContainers"] = json!([]);
    let warnings = accepted_warning(&run(object.clone()), &["claims-mounted"]);
    assert_mentions(
        &warnings[0],
        &["spec.volumeClaimTemplates[0] (data).metadata.name is \"data\""],
    );
    // A template volume of that name does not count as a use of the claim.
    object["spec"]["template"]["spec"]["volumes"] = json!([
        {"name": "config", "configMap": {"name": "db-config"}},
        {"name": "data", "emptyDir": {}}
    ]);
    accepted_warning(&run(object.clone()), &["claims-mounted"]);
    // Without the device, `raw` is unused too: each unused claim is its own warning.
    object["spec"]["template"]["spec"]["containers"][1]["volumeDevices"] = json!([]);
    let warnings = accepted_warning(&run(object), &["claims-mounted", "claims-mounted"]);
    assert_mentions(&warnings[1], &["spec.volumeClaimTemplates[1] (raw)"]);
}

#[test]
fn a_claim_without_a_name_is_not_judged_by_claims_mounted() {
    let mut nameless = claim("x", Some("fast"), "1Gi");
    nameless["metadata"] = json!({});
    let object = with(sts(), "/spec/volumeClaimTemplates", json!([nameless]));
    accepted_cleanly(&run(object));
}

#[test]
fn the_volume_checks_can_be_turned_off_and_down() {
    let broken = with(
        database(),
        "/spec/template/spec/containers/0/volumeMounts/0/name",
        json!("scratch"),
    );
    let warnings = accepted(
        &create(broken.clone())
            .settings(json!({"enforcement": {"volume-mounts-resolve": "warn"}}))
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["volume-mounts-resolve"]
    );
    accepted_cleanly(
        &create(broken)
            .settings(json!({"enforcement": {"volume-mounts-resolve": "off"}}))
            .run(&mut FakeCluster::healthy()),
    );
}

#[test]
fn on_update_an_unresolved_mount_the_old_object_had_is_grandfathered() {
    let broken = with(
        database(),
        "/spec/template/spec/containers/0/volumeMounts/0/name",
        json!("scratch"),
    );
    let mut rolled = broken.clone();
    set(
        &mut rolled,
        "/spec/template/spec/containers/0/image",
        json!("postgres:17"),
    );
    let warnings = accepted(&update(rolled, broken.clone()).run(&mut FakeCluster::healthy()));
    assert_eq!(
        check_ids(&warnings.join("\n")),
        vec!["volume-mounts-resolve"]
    );
    assert_mentions(&warnings[0], &["already so before this update"]);
    // A new unresolved name is denied.
    let worse = with(
        broken.clone(),
        "/spec/template/spec/containers/0/volumeMounts/1/name",
        json!("other"),
    );
    let response = update(worse, broken).run(&mut FakeCluster::healthy());
    let message = denied(&response);
    assert_mentions(&message, &["volumeMounts[1].name is \"other\""]);
}
