//! Edits to the text of a JSON object, at the cost of the edit.
//!
//! The defaults change a handful of fields of an object that may be more than
//! a megabyte long. Parsing it whole into a `serde_json::Value` and writing it
//! back would cost more than the rest of the evaluation; instead, one pass over
//! the text finds where each edited member is (skipping every other value
//! without building anything) and the new text is the old one with the edits
//! spliced in. Everything else, key order, list order, fields unknown to the
//! policy and the spelling of numbers and strings, stays byte for byte.
//!
//! The text is one the typed view has already decoded, so it is valid JSON;
//! anything unexpected is still an error, never a panic.

use serde_json::Value;
use std::fmt;

/// One step of a path: an object member or an array element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Set the member at `path` to `value`: replace its value when the member is
/// there (`null` included), else append the member to the object that holds
/// it. Every step but the last must lead to an existing object or element.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub path: Vec<Step<'static>>,
    pub value: Value,
}

impl Edit {
    pub fn new(path: Vec<Step<'static>>, value: impl Into<Value>) -> Edit {
        Edit {
            path,
            value: value.into(),
        }
    }
}

/// Why edits could not be spliced into a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceError(String);

impl fmt::Display for SpliceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(what: impl Into<String>) -> Result<T, SpliceError> {
    Err(SpliceError(what.into()))
}

/// `text` with every edit applied. The edits' paths must be distinct and none
/// may lead through another's member (the defaults plan guarantees both).
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, SpliceError> {
    let bytes = text.as_bytes();
    let mut splices = Vec::with_capacity(edits.len());
    let targets: Vec<Target> = edits
        .iter()
        .enumerate()
        .map(|(edit, e)| Target {
            edit,
            rest: &e.path,
        })
        .collect();
    let start = skip_whitespace(bytes, 0);
    walk(bytes, start, &targets, edits, &mut splices)?;
    if splices.len() != edits.len() {
        return error("an edit's path does not lead to an object member");
    }
    // Stable: insertions at one place keep the order of their edits.
    splices.sort_by_key(|s| (s.start, s.end));
    let added: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = String::with_capacity(text.len() + added);
    let mut at = 0;
    for splice in &splices {
        if splice.start < at {
            return error("two edits overlap");
        }
        out.push_str(text.get(at..splice.start).unwrap_or_default());
        out.push_str(&splice.text);
        at = splice.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Ok(out)
}

/// Where the value at `path` is in `text`, without reading anything else:
/// `None` when a step is missing or leads through a value that is neither an
/// object nor an array (or when the text is not well-formed on the way).
pub fn find(text: &str, path: &[Step]) -> Option<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    for step in path {
        at = match (bytes.get(at), step) {
            (Some(b'{'), Step::Key(wanted)) => find_member(bytes, at, wanted).ok()??,
            (Some(b'['), Step::Index(wanted)) => find_element(bytes, at, *wanted).ok()??,
            _ => return None,
        };
    }
    let end = skip_value(bytes, at).ok()?;
    Some(at..end)
}

/// The start of the value of member `wanted` of the object at `open`.
fn find_member(bytes: &[u8], open: usize, wanted: &str) -> Result<Option<usize>, SpliceError> {
    let mut at = skip_whitespace(bytes, open + 1);
    while bytes.get(at) == Some(&b'"') {
        let (key, value) = member(bytes, at)?;
        if key == wanted {
            return Ok(Some(value));
        }
        at = skip_whitespace(bytes, skip_value(bytes, value)?);
        if bytes.get(at) == Some(&b',') {
            at = skip_whitespace(bytes, at + 1);
        }
    }
    Ok(None)
}

/// The start of element `wanted` of the array at `open`.
fn find_element(bytes: &[u8], open: usize, wanted: usize) -> Result<Option<usize>, SpliceError> {
    let mut at = skip_whitespace(bytes, open + 1);
    for _ in 0..wanted {
        if matches!(bytes.get(at), None | Some(b']')) {
            return Ok(None);
        }
        at = skip_whitespace(bytes, skip_value(bytes, at)?);
        if bytes.get(at) != Some(&b',') {
            return Ok(None);
        }
        at = skip_whitespace(bytes, at + 1);
    }
    Ok((!matches!(bytes.get(at), None | Some(b']'))).then_some(at))
}

/// An edit, with the steps still to walk.
#[derive(Clone, Copy)]
struct Target<'a> {
    edit: usize,
    rest: &'a [Step<'static>],
}

/// Replace `start..end` by `text` (an insertion when `start == end`).
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// Walks the value at `at`, recording the splices of `targets` (all of which
/// go through it); returns where the value ends.
fn walk(
    bytes: &[u8],
    at: usize,
    targets: &[Target],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<usize, SpliceError> {
    if targets.is_empty() {
        return skip_value(bytes, at);
    }
    match bytes.get(at) {
        Some(b'{') => walk_object(bytes, at, targets, edits, splices),
        Some(b'[') => walk_array(bytes, at, targets, edits, splices),
        _ => error("an edit's path goes through a value that is neither an object nor an array"),
    }
}

fn walk_object(
    bytes: &[u8],
    open: usize,
    targets: &[Target],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<usize, SpliceError> {
    let mut found = vec![false; targets.len()];
    let mut members = 0;
    let mut at = skip_whitespace(bytes, open + 1);
    loop {
        match bytes.get(at) {
            Some(b'}') => break,
            Some(b'"') => {}
            _ => return error("malformed object"),
        }
        let (key, value_start) = member(bytes, at)?;
        let mut deeper = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let Some((Step::Key(wanted), rest)) = target.rest.split_first() else {
                continue;
            };
            if *wanted != key {
                continue;
            }
            if found[i] {
                return error(format!("the key {key:?} is written twice"));
            }
            found[i] = true;
            if rest.is_empty() {
                deeper.push(None);
                splices.push(Splice {
                    start: value_start,
                    end: 0, // set once the value's end is known
                    text: edits[target.edit].value.to_string(),
                });
            } else {
                deeper.push(Some(Target {
                    edit: target.edit,
                    rest,
                }));
            }
        }
        let replaced = deeper.iter().filter(|t| t.is_none()).count();
        let through: Vec<Target> = deeper.into_iter().flatten().collect();
        if replaced > 0 && !through.is_empty() {
            return error("an edit replaces a member another edit goes through");
        }
        let value_end = walk(bytes, value_start, &through, edits, splices)?;
        for splice in splices.iter_mut().rev().take(replaced) {
            splice.end = value_end;
        }
        members += 1;
        at = skip_whitespace(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b'}') => break,
            _ => return error("malformed object"),
        }
    }
    // Members not found are appended, when they are the last step.
    for (target, _) in targets.iter().zip(&found).filter(|(_, found)| !**found) {
        let [Step::Key(key)] = target.rest else {
            return error("an edit's path leads through a member that is absent");
        };
        let comma = if members > 0 { "," } else { "" };
        members += 1;
        splices.push(Splice {
            start: at,
            end: at,
            text: format!("{comma}{}:{}", Value::from(*key), edits[target.edit].value),
        });
    }
    Ok(at + 1)
}

fn walk_array(
    bytes: &[u8],
    open: usize,
    targets: &[Target],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<usize, SpliceError> {
    let mut reached = 0;
    let mut index = 0;
    let mut at = skip_whitespace(bytes, open + 1);
    if bytes.get(at) == Some(&b']') {
        return error("an edit's path leads to an element that is absent");
    }
    loop {
        let through: Vec<Target> = targets
            .iter()
            .filter_map(|target| match target.rest.split_first() {
                Some((Step::Index(i), rest)) if *i == index && !rest.is_empty() => Some(Target {
                    edit: target.edit,
                    rest,
                }),
                _ => None,
            })
            .collect();
        reached += through.len();
        at = walk(bytes, at, &through, edits, splices)?;
        at = skip_whitespace(bytes, at);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b']') => break,
            _ => return error("malformed array"),
        }
        index += 1;
    }
    if reached != targets.len() {
        return error("an edit's path leads to an element that is absent");
    }
    Ok(at + 1)
}

/// The key of the object member whose key string starts at `at`, and where
/// its value starts.
fn member(bytes: &[u8], at: usize) -> Result<(String, usize), SpliceError> {
    let key_end = skip_string(bytes, at)?;
    let key = member_key(bytes, at, key_end)?;
    let colon = skip_whitespace(bytes, key_end);
    if bytes.get(colon) != Some(&b':') {
        return error("malformed object member");
    }
    Ok((key, skip_whitespace(bytes, colon + 1)))
}

/// A member's key, with escapes decoded when it has any.
fn member_key(bytes: &[u8], start: usize, end: usize) -> Result<String, SpliceError> {
    let raw = bytes.get(start + 1..end - 1).unwrap_or_default();
    if !raw.contains(&b'\\') {
        return match std::str::from_utf8(raw) {
            Ok(key) => Ok(key.to_string()),
            Err(_) => error("a key is not UTF-8"),
        };
    }
    serde_json::from_slice(bytes.get(start..end).unwrap_or_default())
        .or_else(|e| error(format!("a key does not decode: {e}")))
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// The end of the string starting at `at` (just past its closing quote).
fn skip_string(bytes: &[u8], at: usize) -> Result<usize, SpliceError> {
    let mut i = at + 1;
    loop {
        match bytes.get(i) {
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
            None => return error("unterminated string"),
        }
    }
}

/// The end of the value starting at `at`, whatever it is.
fn skip_value(bytes: &[u8], at: usize) -> Result<usize, SpliceError> {
    match bytes.get(at) {
        Some(b'"') => skip_string(bytes, at),
        Some(b'{' | b'[') => {
            // Brackets outside strings balance in valid JSON: count them.
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match bytes.get(i) {
                    Some(b'"') => {
                        i = skip_string(bytes, i)?;
                        continue;
                    }
                    Some(b'{' | b'[') => depth += 1,
                    Some(b'}' | b']') => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    Some(_) => {}
                    None => return error("unterminated value"),
                }
                i += 1;
            }
        }
        Some(_) => {
            // A number or a literal ends at the next delimiter.
            let mut i = at;
            while !matches!(
                bytes.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            ) {
                i += 1;
            }
            if i == at {
                return error("a value is missing");
            }
            Ok(i)
        }
        None => error("a value is missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::{apply, find, Edit, Step};
    use serde_json::{json, Value};

    fn spliced(text: &str, edits: &[Edit]) -> String {
        let out = apply(text, edits).unwrap_or_else(|e| panic!("{e}: {text}"));
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        out
    }

    #[test]
    fn replaces_present_members_and_keeps_every_other_byte() {
        let text =
            r#"{ "a" : 1.50 , "spec": {"x": null, "y": "old", "z": [1, {"q": 2}]}, "b": "\u00e9"}"#;
        let out = spliced(
            text,
            &[
                Edit::new(vec![Step::Key("spec"), Step::Key("y")], "new"),
                Edit::new(vec![Step::Key("spec"), Step::Key("x")], json!({"k": 1})),
            ],
        );
        assert_eq!(
            out,
            r#"{ "a" : 1.50 , "spec": {"x": {"k":1}, "y": "new", "z": [1, {"q": 2}]}, "b": "\u00e9"}"#
        );
    }

    #[test]
    fn appends_absent_members_in_edit_order() {
        let edits = [
            Edit::new(vec![Step::Key("spec"), Step::Key("p")], "P"),
            Edit::new(vec![Step::Key("spec"), Step::Key("u")], json!({"t": 3})),
        ];
        assert_eq!(
            spliced(r#"{"spec":{}}"#, &edits),
            r#"{"spec":{"p":"P","u":{"t":3}}}"#
        );
        assert_eq!(
            spliced(r#"{"spec":{"a":1} }"#, &edits),
            r#"{"spec":{"a":1,"p":"P","u":{"t":3}} }"#
        );
    }

    #[test]
    fn walks_array_elements_by_index() {
        let text = r#"{"c":[{"s":{}},{"s":{"n":"x"}},{"t":1},{"s":null}]}"#;
        let out = spliced(
            text,
            &[
                Edit::new(
                    vec![
                        Step::Key("c"),
                        Step::Index(0),
                        Step::Key("s"),
                        Step::Key("n"),
                    ],
                    "d",
                ),
                Edit::new(
                    vec![Step::Key("c"), Step::Index(2), Step::Key("s")],
                    json!({"n": "d"}),
                ),
                Edit::new(
                    vec![Step::Key("c"), Step::Index(3), Step::Key("s")],
                    json!({"n": "d"}),
                ),
            ],
        );
        assert_eq!(
            out,
            r#"{"c":[{"s":{"n":"d"}},{"s":{"n":"x"}},{"t":1,"s":{"n":"d"}},{"s":{"n":"d"}}]}"#
        );
    }

    #[test]
    fn keys_compare_after_unescaping_and_strings_hide_brackets() {
        let text = r#"{"m":"}]\"{","sp\u0065c":{"a":"x"}}"#;
        let out = spliced(
            text,
            &[Edit::new(vec![Step::Key("spec"), Step::Key("a")], "y")],
        );
        assert_eq!(out, r#"{"m":"}]\"{","sp\u0065c":{"a":"y"}}"#);
    }

    #[test]
    fn impossible_edits_are_errors_not_panics() {
        let key = |k| Step::Key(k);
        for (text, path) in [
            (r#"{"a":1}"#, vec![key("b"), key("c")]),
            (r#"{"a":1}"#, vec![key("a"), key("c")]),
            (r#"{"a":[]}"#, vec![key("a"), Step::Index(0), key("c")]),
            (r#"{"a":[{}]}"#, vec![key("a"), Step::Index(1), key("c")]),
            (r#"{"a":{"b":1},"a":{"b":2}}"#, vec![key("a"), key("b")]),
            (r#"{"a":"#, vec![key("a")]),
            (r#"{"a":{"b":"#, vec![key("a"), key("c")]),
            (r#"{"a" 1}"#, vec![key("a")]),
            ("", vec![key("a")]),
            (r#"["a"]"#, vec![key("a")]),
        ] {
            assert!(
                apply(text, &[Edit::new(path.clone(), 1)]).is_err(),
                "{text} {path:?}"
            );
        }
        let overlapping = [
            Edit::new(vec![key("a")], 1),
            Edit::new(vec![key("a"), key("b")], 2),
        ];
        assert!(apply(r#"{"a":{"b":0}}"#, &overlapping).is_err());
    }

    #[test]
    fn find_locates_values_without_reading_the_rest() {
        let text = r#" {"a": {"b": [10, {"c": null}], "sp\u0065c": "x"}, "d": "}"}"#;
        let at = |path: &[Step]| find(text, path).map(|r| &text[r]);
        assert_eq!(
            at(&[Step::Key("a"), Step::Key("b"), Step::Index(0)]),
            Some("10")
        );
        assert_eq!(
            at(&[
                Step::Key("a"),
                Step::Key("b"),
                Step::Index(1),
                Step::Key("c")
            ]),
            Some("null")
        );
        assert_eq!(at(&[Step::Key("a"), Step::Key("spec")]), Some(r#""x""#));
        assert_eq!(at(&[Step::Key("d")]), Some(r#""}""#));
        assert_eq!(
            at(&[]),
            Some(r#"{"a": {"b": [10, {"c": null}], "sp\u0065c": "x"}, "d": "}"}"#)
        );
        for missing in [
            vec![Step::Key("z")],
            vec![Step::Key("a"), Step::Key("b"), Step::Index(2)],
            vec![Step::Key("a"), Step::Index(0)],
            vec![Step::Key("d"), Step::Key("e")],
        ] {
            assert_eq!(at(&missing), None, "{missing:?}");
        }
        assert_eq!(find("[1,", &[Step::Index(3)]), None);
        assert_eq!(find("", &[]), None);
    }

    #[test]
    fn no_edit_gives_the_text_back() {
        let text = " {\"a\" : [1, 2]}\n";
        assert_eq!(spliced(text, &[]), text);
    }
}
