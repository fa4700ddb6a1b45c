//! Properties of the admission flow on random StatefulSets (proptest), and the
//! regression tests for what fuzzing found (`fuzz/README.md`).
//!
//! - the mutated object differs from the request's object only at the defaulted
//!   paths, whatever unknown fields, key order and list order it has;
//! - judging the mutated object again mutates nothing more (idempotence);
//! - an object that does not decode is never accepted;
//! - stricter settings never accept what was refused, and the order of claims
//!   and labels never changes the verdict.
//!
//! The oracle is the one the fuzz targets use: `fuzz/src/oracle.rs`, which reads
//! requests as plain JSON, independently of the policy's typed view.
//! `PROPTEST_CASES=10000 cargo test --test properties` runs longer.

#[allow(dead_code)]
#[path = "../fuzz/src/oracle.rs"]
mod oracle;

use kubewarden_policy_sdk::response::ValidationResponse;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use statefulset_policy::admission;
use statefulset_policy::cluster::{
    Cluster, LookupError, PodDisruptionBudget, Service, StorageClass,
};
use statefulset_policy::request::ValidatePayload;
use statefulset_policy::statefulset::StatefulSet;

/// The policy's answer as hosts read it: `validate`'s bytes, decoded with the
/// SDK's type. Every evaluation of these properties also holds the payload's
/// reading in one pass to the reading in two (see `request`): same bytes.
/// Look-ups are answered by [`HappyCluster`].
fn evaluate(payload: &[u8]) -> ValidationResponse {
    let bytes = admission::evaluate(payload, &mut HappyCluster)
        .to_json()
        .expect("the response serialises");
    let in_two_passes = admission::evaluate_read(
        ValidatePayload::parse_in_two_passes(payload),
        &mut HappyCluster,
    )
    .to_json()
    .expect("the response serialises");
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&in_two_passes),
        "read in one pass and in two: {}",
        String::from_utf8_lossy(payload)
    );
    serde_json::from_slice(&bytes).expect("the response is the SDK's ValidationResponse")
}

// ---------------------------------------------------------------------------
// Harness

/// A cluster where everything the policy looks up exists: the headless Service
/// `nginx` selecting `app=nginx`, a default class `standard` and `fast-ssd`.
struct HappyCluster;

impl Cluster for HappyCluster {
    fn service(&mut self, _: &str, _: &str) -> Result<Option<Service>, LookupError> {
        Ok(Some(
            serde_json::from_value(
                json!({"spec": {"clusterIP": "None", "selector": {"app": "nginx"}}}),
            )
            .expect("a Service"),
        ))
    }

    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError> {
        Ok(serde_json::from_value(json!([
            {"metadata": {"name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
             "allowVolumeExpansion": true},
            {"metadata": {"name": "fast-ssd"}, "allowVolumeExpansion": true}
        ]))
        .expect("StorageClasses"))
    }

    fn stateful_sets(&mut self, _: &str) -> Result<Vec<StatefulSet>, LookupError> {
        Ok(Vec::new())
    }

    fn pod_disruption_budgets(&mut self, _: &str) -> Result<Vec<PodDisruptionBudget>, LookupError> {
        Ok(serde_json::from_value(json!([
            {"metadata": {"name": "nginx"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nginx"}}}}
        ]))
        .expect("PodDisruptionBudgets"))
    }
}

fn payload_text(operation: &str, object: &str, settings: &Value) -> String {
    format!(
        r#"{{"request":{{"uid":"1","kind":{{"group":"apps","version":"v1","kind":"StatefulSet"}},"name":"web","namespace":"default","operation":"{operation}","object":{object}}},"settings":{settings}}}"#
    )
}

fn judge(operation: &str, object: &str, settings: &Value) -> ValidationResponse {
    evaluate(payload_text(operation, object, settings).as_bytes())
}

fn create(object: &Value, settings: &Value) -> ValidationResponse {
    judge("CREATE", &object.to_string(), settings)
}

// ---------------------------------------------------------------------------
// Random StatefulSets

/// A small deterministic generator for the shuffles, seeded by proptest.
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Puts the keys of every object in a random order, and adds unknown
    /// fields (`x-<n>`) at random positions, at every depth (but not in the
    /// maps of strings: annotations, labels, requests, matchLabels).
    fn scramble(&mut self, value: &mut Value, depth: usize, key: &str) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                for (child_key, child) in entries.iter_mut() {
                    self.scramble(child, depth + 1, child_key);
                }
                for i in (1..entries.len()).rev() {
                    entries.swap(i, self.below(i + 1));
                }
                let string_map =
                    matches!(key, "annotations" | "labels" | "requests" | "matchLabels");
                if !string_map && self.below(3) == 0 {
                    let at = self.below(entries.len() + 1);
                    let unknown = self.unknown(depth);
                    entries.insert(at, (format!("x-{}", self.below(1000)), unknown));
                }
                map.extend(entries);
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    self.scramble(item, depth + 1, "");
                }
            }
            _ => {}
        }
    }

    fn unknown(&mut self, depth: usize) -> Value {
        match self.below(if depth > 6 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => json!(self.next() % 100_000),
            2 => json!("unknown"),
            3 => json!(true),
            4 => json!([1, "two", {"three": 3}, null]),
            _ => json!({"nested": {"deeper": [self.next() % 10]}}),
        }
    }
}

/// A field that is absent, `null`, or one of `values`.
fn field(values: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => prop::sample::select(values).prop_map(|v| Some(json!(v))),
    ]
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value);
    }
}

fn claim() -> impl Strategy<Value = Value> {
    (
        field(&["standard", "fast-ssd", ""]),
        prop::option::of(prop::sample::select(&["standard", "fast-ssd"][..])),
        prop_oneof![Just(0u8), Just(1), Just(2)],
        prop::sample::subsequence(
            &["ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod"][..],
            0..=3,
        ),
        prop::option::of(prop::sample::select(&["1Gi", "1024Mi", "500Mi", "2Gi"][..])),
        0..1000u32,
    )
        .prop_map(|(class, annotation, spec_kind, modes, size, n)| {
            let mut meta = Map::new();
            meta.insert("name".into(), json!(format!("data-{n}")));
            if let Some(annotation) = annotation {
                meta.insert(
                    "annotations".into(),
                    json!({oracle::BETA_STORAGE_CLASS: annotation}),
                );
            }
            let mut claim = Map::new();
            claim.insert("metadata".into(), Value::Object(meta));
            match spec_kind {
                // No spec at all, or `spec: null`: a default class creates it.
                0 => {}
                1 => {
                    claim.insert("spec".into(), Value::Null);
                }
                _ => {
                    let mut spec = Map::new();
                    put(&mut spec, "storageClassName", class);
                    spec.insert("accessModes".into(), json!(modes));
                    let mut resources = Map::new();
                    if let Some(size) = size {
                        resources.insert("requests".into(), json!({"storage": size}));
                    }
                    spec.insert("resources".into(), Value::Object(resources));
                    claim.insert("spec".into(), Value::Object(spec));
                }
            }
            Value::Object(claim)
        })
}

/// Which fields a `last-applied-configuration` or an Apply managedFields entry names.
fn choices() -> impl Strategy<Value = (u8, bool, Vec<&'static str>)> {
    (
        0..3u8,
        any::<bool>(),
        prop::sample::subsequence(
            &[
                "podManagementPolicy",
                "partition",
                "whenDeleted",
                "whenScaled",
            ][..],
            0..=4,
        ),
    )
}

fn chosen_fields(fields: &[&str], prefix: &str) -> Value {
    let key = |k: &str| format!("{prefix}{k}");
    let mut spec = Map::new();
    if fields.contains(&"podManagementPolicy") {
        spec.insert(key("podManagementPolicy"), json!("OrderedReady"));
    }
    if fields.contains(&"partition") {
        spec.insert(
            key("updateStrategy"),
            json!({key("rollingUpdate"): {key("partition"): 0}}),
        );
    }
    let mut retention = Map::new();
    for f in ["whenDeleted", "whenScaled"] {
        if fields.contains(&f) {
            retention.insert(key(f), json!("Retain"));
        }
    }
    if !retention.is_empty() {
        spec.insert(
            key("persistentVolumeClaimRetentionPolicy"),
            Value::Object(retention),
        );
    }
    json!({key("spec"): spec})
}

prop_compose! {
    fn statefulset()(
        pmp in field(&["OrderedReady", "Parallel"]),
        strategy in prop_oneof![Just(0u8), Just(1), Just(2), Just(3)],
        strategy_type in field(&["RollingUpdate", "OnDelete"]),
        partition in prop_oneof![Just(None), Just(Some(Value::Null)), Just(Some(json!(0))), (1..5i32).prop_map(|p| Some(json!(p)))],
        retention in prop_oneof![Just(0u8), Just(1), Just(2)],
        when_deleted in field(&["Retain", "Delete"]),
        when_scaled in field(&["Retain", "Delete"]),
        replicas in prop::option::of(0..5i32),
        claims in prop::collection::vec(claim(), 0..4),
        keep in prop_oneof![4 => Just(None), 1 => Just(Some("true")), 1 => Just(Some("false"))],
        (signs, applied, chosen) in choices(),
        shuffle in any::<u64>(),
    ) -> Value {
        let mut spec = Map::new();
        spec.insert("serviceName".into(), json!("nginx"));
        if let Some(replicas) = replicas {
            spec.insert("replicas".into(), json!(replicas));
        }
        spec.insert("selector".into(), json!({"matchLabels": {"app": "nginx"}}));
        put(&mut spec, "podManagementPolicy", pmp);
        match strategy {
            0 => {}
            1 => { spec.insert("updateStrategy".into(), Value::Null); }
            _ => {
                let mut s = Map::new();
                put(&mut s, "type", strategy_type);
                if strategy == 3 {
                    let mut rolling = Map::new();
                    put(&mut rolling, "partition", partition);
                    s.insert("rollingUpdate".into(), Value::Object(rolling));
                }
                spec.insert("updateStrategy".into(), Value::Object(s));
            }
        }
        match retention {
            0 => {}
            1 => { spec.insert("persistentVolumeClaimRetentionPolicy".into(), Value::Null); }
            _ => {
                let mut r = Map::new();
                put(&mut r, "whenDeleted", when_deleted);
                put(&mut r, "whenScaled", when_scaled);
                spec.insert("persistentVolumeClaimRetentionPolicy".into(), Value::Object(r));
            }
        }
        // The container mounts every claim, and the replicas are kept apart,
        // as in a set without faults of its own in these fields.
        let mounts: Vec<Value> = claims
            .iter()
            .filter_map(|c| c.pointer("/metadata/name").cloned())
            .map(|name| json!({"name": name, "mountPath": "/data"}))
            .collect();
        spec.insert("template".into(), json!({
            "metadata": {"labels": {"app": "nginx", "tier": "web"}},
            "spec": {
                "containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                    "volumeMounts": mounts}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "nginx"}}}}
                ]}}
            }
        }));
        spec.insert("volumeClaimTemplates".into(), Value::Array(claims));

        let mut annotations = Map::new();
        if let Some(keep) = keep {
            annotations.insert(oracle::KEEP_DEFAULTS.into(), json!(keep));
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!("web"));
        metadata.insert("namespace".into(), json!("default"));
        match signs {
            1 => {
                annotations.insert(
                    "kubectl.kubernetes.io/last-applied-configuration".into(),
                    json!(chosen_fields(&chosen, "").to_string()),
                );
            }
            2 => {
                metadata.insert("managedFields".into(), json!([{
                    "manager": "kubectl",
                    "operation": if applied { "Apply" } else { "Update" },
                    "fieldsType": "FieldsV1",
                    "fieldsV1": chosen_fields(&chosen, "f:"),
                }]));
            }
            _ => {}
        }
        if !annotations.is_empty() {
            metadata.insert("annotations".into(), Value::Object(annotations));
        }
        let mut object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec});
        let mut shuffle = Shuffle(shuffle | 1);
        shuffle.scramble(&mut object, 0, "");
        // Random list orders: the claims, and each claim's access modes.
        if let Some(claims) = object.pointer_mut("/spec/volumeClaimTemplates").and_then(Value::as_array_mut) {
            for i in (1..claims.len()).rev() {
                let j = shuffle.below(i + 1);
                claims.swap(i, j);
            }
            for claim in claims.iter_mut() {
                if let Some(modes) = claim.pointer_mut("/spec/accessModes").and_then(Value::as_array_mut) {
                    modes.reverse();
                }
            }
        }
        object
    }
}

prop_compose! {
    /// Settings with random defaults and checks that accept the generated sets.
    fn defaults_settings()(
        pmp in field(&["OrderedReady", "Parallel"]),
        partition in prop::option::of(0..4i64),
        class in prop::option::of(prop::sample::select(&["standard", "fast-ssd", ""][..])),
        when_deleted in prop::option::of(prop::sample::select(&["Retain", "Delete"][..])),
        when_scaled in prop::option::of(prop::sample::select(&["Retain", "Delete"][..])),
        exists in any::<bool>(),
    ) -> Value {
        let mut defaults = Map::new();
        if let Some(Value::String(p)) = pmp {
            defaults.insert("podManagementPolicy".into(), json!(p));
        }
        if let Some(p) = partition {
            defaults.insert("partition".into(), json!(p));
        }
        if let Some(c) = class {
            defaults.insert("storageClassName".into(), json!(c));
        }
        let mut retention = Map::new();
        if let Some(a) = when_deleted {
            retention.insert("whenDeleted".into(), json!(a));
        }
        if let Some(a) = when_scaled {
            retention.insert("whenScaled".into(), json!(a));
        }
        if !retention.is_empty() {
            defaults.insert("persistentVolumeClaimRetentionPolicy".into(), Value::Object(retention));
        }
        json!({
            "storage": {"storageClassMustExist": exists},
            "defaults": defaults,
            "enforcement": {"partition-within-replicas": "warn"}
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// The mutated object equals the input except at the defaulted paths, with
    /// key order, list order and unknown fields untouched; and judging it
    /// again mutates nothing more.
    #[test]
    fn mutation_touches_only_defaulted_paths_and_is_idempotent(
        object in statefulset(),
        settings in defaults_settings(),
    ) {
        if let Err(why) = oracle::well_typed(&object) { prop_assert!(false, "{}", why); }
        let first = create(&object, &settings);
        prop_assert!(first.accepted, "refused: {:?}", first.message);
        let Some(mutated) = first.mutated_object else {
            return Ok(());
        };
        prop_assert!(!oracle::opted_out(&object), "an object that opted out was mutated");
        let defaults = oracle::DefaultsSpec::from_settings(Some(&settings));
        if let Err(why) = oracle::check_mutation(&object, &mutated, &defaults) {
            prop_assert!(false, "{}\ninput:   {}\nmutated: {}", why, object, mutated);
        }
        let second = create(&mutated, &settings);
        prop_assert!(second.accepted, "the mutated object is refused: {:?}", second.message);
        prop_assert!(
            second.mutated_object.is_none(),
            "a second evaluation mutates again: {:?}",
            second.mutated_object
        );
    }

    /// UPDATE never mutates, whatever the defaults.
    #[test]
    fn update_never_mutates(object in statefulset(), settings in defaults_settings()) {
        let response = judge("UPDATE", &object.to_string(), &settings);
        prop_assert!(response.mutated_object.is_none());
    }

    /// A field the policy reads, holding a value of the wrong JSON type, makes
    /// the request refused (400), never judged on a misread value.
    #[test]
    fn a_wrong_type_is_never_accepted(
        object in statefulset(),
        settings in defaults_settings(),
        target in prop::sample::select(&[
            "/metadata", "/metadata/annotations", "/spec", "/spec/serviceName",
            "/spec/replicas", "/spec/podManagementPolicy", "/spec/updateStrategy",
            "/spec/template", "/spec/template/metadata", "/spec/template/metadata/labels",
            "/spec/template/spec", "/spec/template/spec/containers", "/spec/template/spec/containers/0",
            "/spec/template/spec/containers/0/name", "/spec/template/spec/containers/0/volumeMounts",
            "/spec/template/spec/affinity", "/spec/template/spec/affinity/podAntiAffinity",
            "/spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/podAffinityTerm/labelSelector",
            "/spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/podAffinityTerm/topologyKey",
            "/spec/volumeClaimTemplates", "/spec/volumeClaimTemplates/0",
            "/spec/volumeClaimTemplates/0/metadata", "/spec/volumeClaimTemplates/0/spec",
        ][..]),
        wrong in prop::sample::select(vec![
            json!(true), json!(1.5), json!("text"), json!(["a", "b"]),
            json!({"k": "v"}), json!([{"storageClassName": "forbidden"}]), json!(2147483648u64),
        ]),
    ) {
        let mut object = object;
        let Some(slot) = object.pointer_mut(target) else {
            return Ok(());
        };
        *slot = wrong;
        let well_typed = oracle::well_typed(&object);
        let response = create(&object, &settings);
        if let Err(why) = well_typed {
            prop_assert!(!response.accepted, "accepted although {}", why);
            prop_assert_eq!(response.code, Some(400));
        }
    }
}

// ---------------------------------------------------------------------------
// Relations between two verdicts: they need no copy of the rules.

prop_compose! {
    /// Settings with restrictive checks, each at a random action.
    fn checks_settings()(
        allowed in prop::sample::select(vec![vec![], vec!["standard"], vec!["standard", "fast-ssd"], vec!["*"]]),
        denied in prop::sample::select(vec![vec![], vec!["fast-ssd"]]),
        modes in prop::sample::select(vec![vec![], vec!["ReadWriteOnce"], vec!["ReadWriteMany"]]),
        sizes in prop::sample::select(vec![(None, None), (Some("1Gi"), None), (None, Some("5Gi")), (Some("500Mi"), Some("1Ti"))]),
        policies in prop::sample::select(vec![vec![], vec!["OrderedReady"], vec!["Parallel"]]),
        strategies in prop::sample::select(vec![vec![], vec!["RollingUpdate"], vec!["OnDelete"]]),
        exists in any::<bool>(),
        retain in any::<bool>(),
        actions in prop::collection::vec(prop::sample::select(&["deny", "warn", "off"][..]), 8),
    ) -> Value {
        let mut storage = json!({
            "allowedAccessModes": modes,
            "storageClassMustExist": exists,
            "requireRetainPolicy": retain,
        });
        // The two lists are exclusive.
        if allowed.is_empty() {
            storage["deniedStorageClasses"] = json!(denied);
        } else {
            storage["allowedStorageClasses"] = json!(allowed);
        }
        if let Some(min) = sizes.0 {
            storage["minSize"] = json!(min);
        }
        if let Some(max) = sizes.1 {
            storage["maxSize"] = json!(max);
        }
        let checks = [
            "service-name-required", "storage-class-allowed", "storage-class-exists",
            "access-modes-allowed", "storage-size", "pod-management-policy-allowed",
            "update-strategy-allowed", "pvc-retention",
        ];
        let enforcement: Map<String, Value> = checks
            .iter()
            .zip(&actions)
            .map(|(check, action)| (check.to_string(), json!(action)))
            .collect();
        json!({
            "storage": storage,
            "rollout": {"allowedPodManagementPolicies": policies, "allowedUpdateStrategies": strategies},
            "enforcement": enforcement,
        })
    }
}

fn valid_settings(settings: &Value) -> bool {
    statefulset_policy::settings_verdict(settings.to_string().as_bytes()).valid
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Raising every check to `deny` never turns a denial into an acceptance.
    #[test]
    fn stricter_settings_never_accept_what_was_refused(
        object in statefulset(),
        settings in checks_settings(),
    ) {
        prop_assume!(valid_settings(&settings));
        let response = create(&object, &settings);
        let stricter = oracle::stricter(Some(&settings)).expect("settings are an object");
        prop_assume!(valid_settings(&stricter));
        let strict = create(&object, &stricter);
        prop_assert!(
            response.accepted || !strict.accepted,
            "refused with {:?}, accepted with {}", response.message, stricter
        );
        // Raised to deny, every warning becomes part of a denial.
        if response.warnings.is_some() && !strict.accepted {
            prop_assert!(strict.message.is_some());
        }
    }

    /// The order of the claim templates and of the pod labels never changes
    /// the verdict.
    #[test]
    fn reordering_claims_and_labels_keeps_the_verdict(
        object in statefulset(),
        settings in checks_settings(),
    ) {
        prop_assume!(valid_settings(&settings));
        let request = json!({"object": object});
        let reordered = oracle::reordered(&request)["object"].clone();
        let (plain, other) = (create(&object, &settings), create(&reordered, &settings));
        prop_assert_eq!(
            (plain.accepted, plain.code),
            (other.accepted, other.code),
            "{:?} / {:?}", plain.message, other.message
        );
        prop_assert_eq!(
            plain.warnings.map(|w| w.len()),
            other.warnings.map(|w| w.len())
        );
    }
}

/// The relations above are not vacuous: the generated settings refuse some
/// sets and accept others.
#[test]
fn the_checks_settings_reach_both_verdicts() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::default());
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..300 {
        let object = statefulset().new_tree(&mut runner).unwrap().current();
        let settings = checks_settings().new_tree(&mut runner).unwrap().current();
        if !valid_settings(&settings) {
            continue;
        }
        match create(&object, &settings).accepted {
            true => accepted += 1,
            false => refused += 1,
        }
    }
    assert!(
        accepted >= 30 && refused >= 30,
        "accepted {accepted}, refused {refused}"
    );
}

// ---------------------------------------------------------------------------
// Regressions found by fuzzing (see fuzz/README.md)

const CLAIMS_ALLOWLIST: &str =
    r#"{"storage":{"allowedStorageClasses":["standard"],"maxSize":"1Gi"}}"#;

fn web_with_claim(claim: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"web","namespace":"default"}},"spec":{{"serviceName":"nginx","template":{{"metadata":{{"labels":{{"app":"nginx"}}}}}},"volumeClaimTemplates":[{claim}]}}}}"#
    )
}

fn settings(text: &str) -> Value {
    serde_json::from_str(text).expect("settings")
}

/// A key written twice never reaches the policy from policy-server or kwctl:
/// both re-serialise the object from a parsed value. Where serde refuses a
/// duplicate for free (a field of the typed view), the policy refuses it too,
/// in either order, naming the field.
#[test]
fn a_duplicate_field_of_the_view_is_refused_in_either_order() {
    for claim in [
        r#"{"spec":{"storageClassName":"standard","storageClassName":"forbidden","resources":{"requests":{"storage":"1Gi"}}}}"#,
        r#"{"spec":{"storageClassName":"forbidden","storageClassName":"standard","resources":{"requests":{"storage":"1Gi"}}}}"#,
    ] {
        let response = judge(
            "CREATE",
            &web_with_claim(claim),
            &settings(CLAIMS_ALLOWLIST),
        );
        assert!(!response.accepted, "{claim}");
        assert_eq!(response.code, Some(400));
        let message = response.message.unwrap_or_default();
        assert!(
            message.contains("spec.volumeClaimTemplates[0].spec")
                && message.contains("duplicate field `storageClassName`"),
            "{message}"
        );
    }
}

/// In a map (annotations, requests) the last of a duplicated key counts, as
/// in the parsed value policy-server re-serialises: the policy judges what
/// the host would have handed it.
#[test]
fn a_duplicated_map_key_is_judged_by_its_last_value() {
    let annotated = |first: &str, last: &str| {
        web_with_claim(&format!(
            r#"{{"metadata":{{"annotations":{{"volume.beta.kubernetes.io/storage-class":"{first}","volume.beta.kubernetes.io/storage-class":"{last}"}}}},"spec":{{"resources":{{"requests":{{"storage":"1Gi"}}}}}}}}"#
        ))
    };
    let allowlist = settings(CLAIMS_ALLOWLIST);
    assert!(judge("CREATE", &annotated("forbidden", "standard"), &allowlist).accepted);
    let response = judge("CREATE", &annotated("standard", "forbidden"), &allowlist);
    assert!(!response.accepted);
    assert_eq!(response.code, None);
    assert!(response
        .message
        .unwrap_or_default()
        .contains(r#"[storage-class-allowed] spec.volumeClaimTemplates[0].metadata.annotations["volume.beta.kubernetes.io/storage-class"] is "forbidden""#));
    let last_value = |object: &str| -> Value { serde_json::from_str(object).unwrap() };
    assert_eq!(
        last_value(&annotated("standard", "forbidden"))["spec"]["volumeClaimTemplates"][0]
            ["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"],
        "forbidden",
        "serde_json, as policy-server parses, keeps the last value"
    );
}

/// Keys the policy does not read may be written twice: they are left alone,
/// and the mutated object keeps them as they were.
#[test]
fn a_duplicate_key_the_policy_does_not_read_is_left_alone() {
    let object = r#"{"kind":"StatefulSet","metadata":{"name":"web"},"kind":"Deployment","spec":{"serviceName":"nginx","template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"a","image":"x","image":"y"}]}}}}"#;
    assert!(judge("CREATE", object, &settings("{}")).accepted);
    let response = judge(
        "CREATE",
        object,
        &settings(r#"{"defaults":{"podManagementPolicy":"Parallel"}}"#),
    );
    assert!(response.accepted);
    let mutated = response.mutated_object.expect("a mutated object");
    assert_eq!(mutated["spec"]["podManagementPolicy"], "Parallel");
    assert_eq!(
        mutated["spec"]["template"]["spec"]["containers"][0]["image"],
        "y"
    );
}

/// Found by validate_statefulset: a JSON number that a double cannot hold was
/// read as the rounded double, so `1.0000000000000001` passed `maxSize: 1`
/// (Kubernetes reads it exactly, and rounds it up to 1000000001n).
#[test]
fn a_quantity_number_is_read_exactly_or_refused() {
    let claim = |storage: &str| {
        web_with_claim(&format!(
            r#"{{"spec":{{"storageClassName":"standard","resources":{{"requests":{{"storage":{storage}}}}}}}}}"#
        ))
    };
    let bounds = settings(r#"{"storage":{"minSize":"1","maxSize":"1Gi"}}"#);
    for inexact in [
        "1073741824.0000000001",
        "1.0000000000000001",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e400",
        "1e-400",
    ] {
        let response = judge("CREATE", &claim(inexact), &bounds);
        assert!(!response.accepted, "{inexact}");
        assert_eq!(response.code, Some(400), "{inexact}");
        let message = response.message.unwrap_or_default();
        assert!(
            message.contains("spec.volumeClaimTemplates[0].spec.resources.requests.storage: ")
                && (message.contains("write the quantity as a string")
                    || message.contains("number out of range")),
            "{inexact}: {message}"
        );
    }
    // Numbers that a double holds exactly are compared by value.
    for exact in ["1073741824", "1e3", "1E3", "1500.5", "0.5e9", "1"] {
        let response = judge("CREATE", &claim(exact), &bounds);
        assert!(response.accepted, "{exact}: {:?}", response.message);
    }
    let response = judge("CREATE", &claim("1073741825"), &bounds);
    assert!(!response.accepted);
    assert!(response
        .message
        .unwrap_or_default()
        .contains("[storage-size]"));
}

/// A refused duplicate names where it is, at any depth of the view.
#[test]
fn the_duplicate_message_names_the_path() {
    let object = r#"{"metadata":{"name":"web"},"spec":{"serviceName":"nginx","volumeClaimTemplates":[{},{"spec":{"volumeMode":"Block","volumeMode":"Filesystem"}}]}}"#;
    let response = judge("CREATE", object, &settings("{}"));
    assert_eq!(response.code, Some(400));
    let message = response.message.unwrap_or_default();
    assert!(
        message.starts_with("StatefulSet web does not decode: spec.volumeClaimTemplates[1].spec")
            && message.contains("duplicate field `volumeMode`"),
        "{message}"
    );
}

/// The oracle itself: it notices a change outside the defaulted paths, a
/// reordered key, a wrong default value, and a replaced choice.
#[test]
fn the_oracle_notices_stray_changes() {
    let original = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "podManagementPolicy": "OrderedReady",
        "volumeClaimTemplates": [{"spec": {"accessModes": ["ReadWriteOnce"]}}]}});
    let defaults = oracle::DefaultsSpec {
        pod_management_policy: Some("Parallel".into()),
        storage_class_name: Some("standard".into()),
        ..Default::default()
    };
    let good = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "podManagementPolicy": "Parallel",
        "volumeClaimTemplates": [{"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard"}}]}});
    assert_eq!(oracle::check_mutation(&original, &good, &defaults), Ok(()));
    let bad = [
        // an unrelated field changed
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "podManagementPolicy": "Parallel",
            "volumeClaimTemplates": [{"spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        // keys reordered
        json!({"spec": {"replicas": 2, "podManagementPolicy": "Parallel",
            "volumeClaimTemplates": [{"spec": {"accessModes": ["ReadWriteOnce"]}}]}, "metadata": {"name": "web"}}),
        // another value than the default
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "podManagementPolicy": "Parallel",
            "volumeClaimTemplates": [{"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gold"}}]}}),
        // a field removed
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "podManagementPolicy": "Parallel",
            "volumeClaimTemplates": [{"spec": {}}]}}),
    ];
    for mutated in bad {
        assert!(
            oracle::check_mutation(&original, &mutated, &defaults).is_err(),
            "{mutated}"
        );
    }
    // A choice recorded by kubectl apply is not replaced.
    let applied = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
        "{\"spec\":{\"podManagementPolicy\":\"OrderedReady\"}}"}}, "spec": {"podManagementPolicy": "OrderedReady"}});
    let replaced = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
        "{\"spec\":{\"podManagementPolicy\":\"OrderedReady\"}}"}}, "spec": {"podManagementPolicy": "Parallel"}});
    assert!(oracle::check_mutation(&applied, &replaced, &defaults).is_err());
}

/// Found by validate_statefulset: the request's `kind` (and the request
/// itself) written as an array was read by position, so
/// `"kind": ["", "v1", "Service"]` counted as a Service.
#[test]
fn an_envelope_array_is_not_read_by_position() {
    for payload in [
        r#"{"request":{"uid":"1","kind":["","v1","Service"],"operation":"DELETE","name":"nginx","namespace":"default"},"settings":{}}"#,
        r#"{"request":["1",{"group":"apps","version":"v1","kind":"StatefulSet"},"CREATE"],"settings":{}}"#,
    ] {
        let response = evaluate(payload.as_bytes());
        assert!(!response.accepted, "{payload}");
        assert_eq!(response.code, Some(400), "{payload}");
        let message = response.message.unwrap_or_default();
        assert!(message.contains("expected an object"), "{message}");
    }
}

/// The property above is not vacuous: the generators make the policy mutate
/// often, and also leave objects alone (opt-out, chosen or absent defaults).
#[test]
fn the_generators_reach_both_mutation_and_none() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::default());
    let (mut mutated, mut untouched) = (0, 0);
    for _ in 0..200 {
        let object = statefulset().new_tree(&mut runner).unwrap().current();
        let settings = defaults_settings().new_tree(&mut runner).unwrap().current();
        let response = create(&object, &settings);
        assert!(response.accepted, "{:?}", response.message);
        match response.mutated_object {
            Some(_) => mutated += 1,
            None => untouched += 1,
        }
    }
    assert!(
        mutated >= 50 && untouched >= 10,
        "mutated {mutated}, untouched {untouched}"
    );
}
