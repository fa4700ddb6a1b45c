//! Hostile input through the built module: a few hundred randomly damaged
//! requests, each evaluated on a fresh instance as policy-server does. Every
//! answer must be a verdict: never a trap, a guest error or a deadline, which
//! policy-server turns into a 500.
//!
//! Module: `$POLICY_MODULE`, default the repository root's `annotated-policy.wasm`.

mod common;

use serde_json::{json, Value};

use policy_host::{settings_object, AdmissionRequest, Evaluator, EvaluatorOptions};

use common::{policy_module, repository_root};

const DAMAGED_REQUESTS: usize = 400;

/// A small deterministic generator (xorshift64*): the same damage on every run.
struct Damage(u64);

impl Damage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A value of a type the API would never put there, or a hostile one.
    fn hostile_value(&mut self) -> Value {
        let values = [
            Value::Null,
            json!(true),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e308),
            json!(0.5),
            json!(""),
            json!("x"),
            json!("1.5.3Gi"),
            json!("1e999999999"),
            json!("٣Gi"),
            json!("a".repeat(70_000)),
            json!([]),
            json!([null]),
            json!({}),
            json!({"storage": {"storage": []}}),
        ];
        values[self.below(values.len())].clone()
    }

    /// Damages one random place of `object`: replace a value, drop a key,
    /// or duplicate a list item.
    fn damage(&mut self, object: &mut Value) {
        let mut pointers = Vec::new();
        collect_pointers(object, String::new(), &mut pointers);
        let pointer = pointers[self.below(pointers.len())].clone();
        let action = self.below(4);
        let hostile = self.hostile_value();
        let Some(target) = object.pointer_mut(&pointer) else {
            return;
        };
        match (action, target) {
            (0, Value::Object(map)) if !map.is_empty() => {
                let key = map.keys().nth(self.below(map.len())).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
            }
            (1, Value::Array(items)) if !items.is_empty() => {
                let item = items[self.below(items.len())].clone();
                items.push(item);
            }
            (_, target) => *target = hostile,
        }
    }
}

fn collect_pointers(value: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_pointers(child, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The StatefulSet requests of the e2e suite and the examples.
fn seed_requests() -> Vec<Value> {
    let mut seeds = Vec::new();
    for dir in ["e2e/requests", "examples/requests"] {
        let mut paths: Vec<_> = std::fs::read_dir(repository_root().join(dir))
            .expect("request folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("request");
            // Some requests are deliberately not valid JSON (duplicate keys are
            // valid; a parse failure is not a seed for this test).
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let request = value.get("request").cloned().unwrap_or(value);
            let is_statefulset = request.pointer("/kind/kind") == Some(&json!("StatefulSet"));
            if is_statefulset && request.get("object").is_some_and(Value::is_object) {
                seeds.push(request);
            }
        }
    }
    seeds
}

#[test]
fn damaged_requests_always_get_a_verdict() {
    let module = policy_module();
    // The example profile: every kind of check and every default is on, so
    // decoding, mutation and the checks all see the damage. No look-ups are
    // granted: they fail, which is a verdict too.
    let settings_yaml =
        std::fs::read_to_string(repository_root().join("examples/settings.yml")).expect("settings");
    let settings =
        settings_object(serde_yaml::from_str(&settings_yaml).expect("settings parse")).unwrap();
    let evaluator = Evaluator::new(&module, EvaluatorOptions::default()).expect("module loads");

    let seeds = seed_requests();
    assert!(seeds.len() >= 10, "too few seed requests: {}", seeds.len());
    let mut damage = Damage(0x5eed_5eed_5eed_5eed);
    let (mut accepted, mut refused, mut bad_requests) = (0, 0, 0);
    let mut failures = Vec::new();
    for n in 0..DAMAGED_REQUESTS {
        let mut request = seeds[n % seeds.len()].clone();
        let object = request.get_mut("object").expect("object");
        for _ in 0..=damage.below(3) {
            damage.damage(object);
        }
        let Ok(admission) = AdmissionRequest::from_json(&request) else {
            continue;
        };
        let evaluation = evaluator
            .instantiate(None)
            .expect("instance")
            .validate(&admission, &settings);
        let response = &evaluation.response;
        let code = response.status.as_ref().and_then(|s| s.code);
        match (response.allowed, code) {
            (_, Some(500)) => failures.push(format!(
                "request {n}: {:?}\nobject: {}",
                response.status,
                serde_json::to_string(&request["object"]).unwrap_or_default()
            )),
            (true, _) => accepted += 1,
            (false, Some(400)) => bad_requests += 1,
            (false, _) => refused += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers were not verdicts:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The damage must actually reach the policy's decoding and its checks.
    assert!(
        bad_requests > 0 && refused > 0 && accepted > 0,
        "accepted {accepted}, refused {refused}, 400 {bad_requests}"
    );
}
