//! Conformance with Kubernetes: test vectors taken from Kubernetes' own code
//! and tests, one data file per topic in `tests/conformance/<topic>.yml`, one
//! test function per topic below. Every vector names the Kubernetes file and
//! function or test it comes from (`source`), so a disagreement can be checked
//! against Kubernetes rather than against this policy.
//!
//! To add a topic: write `tests/conformance/<topic>.yml`, a struct for its
//! vectors, and a test function that calls [`load`] and reports every failing
//! vector through [`Report`].

use std::fmt::Display;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use statefulset_policy::quantity::Quantity;

/// Reads `tests/conformance/<topic>.yml`; unknown keys are errors.
fn load<T: DeserializeOwned>(topic: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(format!("{topic}.yml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Collects the failures of one topic, to report them all at once.
struct Report {
    topic: &'static str,
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn new(topic: &'static str) -> Self {
        Report {
            topic,
            checked: 0,
            failures: Vec::new(),
        }
    }

    /// Records one vector; `problems` lists what disagreed with Kubernetes.
    fn vector(&mut self, what: impl Display, source: &str, problems: Vec<String>) {
        self.checked += 1;
        if !source.contains(".go") {
            self.failures.push(format!(
                "{what}: source {source:?} names no Kubernetes file"
            ));
        }
        for problem in problems {
            self.failures
                .push(format!("{what}: {problem}\n    source: {source}"));
        }
    }

    fn finish(self, at_least: usize) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} vectors disagree with Kubernetes:\n{}",
            self.topic,
            self.failures.len(),
            self.checked,
            self.failures.join("\n")
        );
        assert!(
            self.checked >= at_least,
            "{}: only {} vectors, expected at least {at_least}",
            self.topic,
            self.checked
        );
    }
}

// ---------------------------------------------------------------- quantities

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityVectors {
    vectors: Vec<QuantityVector>,
    comparisons: Vec<QuantityComparison>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityVector {
    /// Given to `ParseQuantity` as is.
    parse: Option<String>,
    /// A JSON value as written, read as `Quantity.UnmarshalJSON` reads it.
    json: Option<String>,
    #[serde(default = "accepted")]
    valid: bool,
    /// The exact value, as a decimal number.
    value: Option<String>,
    format: Option<String>,
    canonical: Option<String>,
    source: String,
    #[allow(dead_code)]
    note: Option<String>,
}

fn accepted() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityComparison {
    a: String,
    b: String,
    /// -1: a < b, 0: equal, 1: a > b (Go's `Cmp`).
    order: i8,
    source: String,
}

/// A decimal number written `[-]digits[.digits][e[-]digits]`, reduced to its
/// sign, significant digits and power of ten. Written for this test alone, so
/// that expected values are not read by the parser under test.
fn exact(number: &str) -> Result<(bool, String, i64), String> {
    let (negative, rest) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, mut exponent) = match rest.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|e| format!("{number}: {e}"))?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!("{number:?} is not a decimal number"));
    }
    exponent -= i64::try_from(fraction.len()).map_err(|e| e.to_string())?;
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Ok((false, String::new(), 0));
    }
    exponent += i64::try_from(digits.len() - significant.len()).map_err(|e| e.to_string())?;
    Ok((negative, significant.to_owned(), exponent))
}

fn check_quantity(vector: &QuantityVector) -> Vec<String> {
    let mut problems = Vec::new();
    let parsed = match (&vector.parse, &vector.json) {
        (Some(text), None) => Quantity::parse(text),
        (None, Some(raw)) => Quantity::from_json(raw),
        _ => return vec!["give exactly one of `parse` and `json`".to_owned()],
    };
    let quantity = match (parsed, vector.valid) {
        (Ok(quantity), true) => quantity,
        (Ok(quantity), false) => {
            return vec![format!(
                "Kubernetes refuses it, the policy reads {}",
                quantity.exact_decimal()
            )]
        }
        (Err(_), false) => {
            if vector.value.is_some() || vector.format.is_some() || vector.canonical.is_some() {
                problems.push("an invalid vector has no value, format or canonical".to_owned());
            }
            return problems;
        }
        (Err(e), true) => return vec![format!("Kubernetes accepts it, the policy refuses: {e}")],
    };
    match vector.value.as_deref().map(exact) {
        None => problems.push("a valid vector needs its value".to_owned()),
        Some(Err(e)) => problems.push(e),
        Some(Ok(expected)) => match exact(&quantity.exact_decimal()) {
            Ok(got) if got == expected => {}
            Ok(_) => problems.push(format!(
                "value: Kubernetes {}, policy {}",
                vector.value.as_deref().unwrap_or_default(),
                quantity.exact_decimal()
            )),
            Err(e) => problems.push(format!("the policy's value does not read back: {e}")),
        },
    }
    if let Some(format) = &vector.format {
        let got = format!("{:?}", quantity.format());
        if &got != format {
            problems.push(format!("format: Kubernetes {format}, policy {got}"));
        }
    }
    if let Some(canonical) = &vector.canonical {
        let got = quantity.canonical();
        if &got != canonical {
            problems.push(format!(
                "canonical: Kubernetes {canonical:?}, policy {got:?}"
            ));
        }
    }
    problems
}

/// Kubernetes 1.34/1.35 quantities: which texts are accepted, the exact value
/// of each, its format and the string the API server writes back.
#[test]
fn quantities() {
    let data: QuantityVectors = load("quantities");
    let mut report = Report::new("quantities");
    for vector in &data.vectors {
        let input = match (&vector.parse, &vector.json) {
            (Some(text), _) => format!("parse {text:?}"),
            (_, Some(raw)) => format!("json {raw}"),
            _ => "a vector without input".to_owned(),
        };
        report.vector(input, &vector.source, check_quantity(vector));
    }
    for comparison in &data.comparisons {
        let problems = match (
            Quantity::parse(&comparison.a),
            Quantity::parse(&comparison.b),
        ) {
            (Ok(a), Ok(b)) => {
                let got = a.cmp(&b) as i8;
                if got == comparison.order {
                    Vec::new()
                } else {
                    vec![format!(
                        "Kubernetes orders them {}, the policy {got}",
                        comparison.order
                    )]
                }
            }
            _ => vec!["both sides must be valid quantities".to_owned()],
        };
        let what = format!("compare {:?} with {:?}", comparison.a, comparison.b);
        report.vector(what, &comparison.source, problems);
    }
    // The corpus must keep covering both readings and both verdicts.
    let count = |f: &dyn Fn(&QuantityVector) -> bool| data.vectors.iter().filter(|v| f(v)).count();
    assert!(count(&|v| v.json.is_some()) >= 10, "too few JSON vectors");
    assert!(count(&|v| !v.valid) >= 20, "too few refused vectors");
    assert!(
        count(&|v| v.canonical.is_some()) >= 50,
        "too few canonical forms"
    );
    report.finish(150);
}

#[test]
fn the_decimal_reader_of_this_test_is_exact() {
    assert_eq!(
        exact("1073849198.1824"),
        Ok((false, "10738491981824".into(), -4))
    );
    assert_eq!(exact("-0.000000001"), Ok((true, "1".into(), -9)));
    assert_eq!(exact("15e2147483647"), Ok((false, "15".into(), 2147483647)));
    assert_eq!(exact("1000"), Ok((false, "1".into(), 3)));
    assert_eq!(exact("-0.0"), Ok((false, String::new(), 0)));
    assert!(exact("1Gi").is_err());
    assert!(exact("").is_err());
}
