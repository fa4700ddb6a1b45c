//! Edits to the text of a JSON object, at the cost of the edit.
//!
//! The defaults change a handful of fields of an object that may be more than
//! a megabyte long. Parsing it whole into a `serde_json::Value` and writing it
//! back would cost more than the rest of the evaluation; instead, the edited
//! members are found in the text and the new text is the old one with the
//! edits spliced in. Everything else, key order, list order, fields unknown to
//! the policy and the spelling of numbers and strings, stays byte for byte.
//!
//! Finding a member means skipping the values before it, which for a
//! StatefulSet's `spec` includes the pod template. When the decoder recorded
//! where an object's members are ([`KnownObject`]), the edits inside it start
//! from their member and read only its value (and, to append a member, the
//! object's last value); otherwise one pass over the text, from the top,
//! skips every value no edit goes through. Both give the same text.
//!
//! [`locate`] only finds the places; the new text is written once, straight
//! into the response ([`Spliced::write_to`]), not built and then copied.
//!
//! The text is one the typed view has already decoded, so it is valid JSON;
//! anything unexpected is still an error, never a panic.

use serde_json::Value;
use std::fmt;

use crate::json::MemberIndex;

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

/// An object whose members' places the decoder recorded: the one at `path`.
#[derive(Debug, Clone, Copy)]
pub struct KnownObject<'k> {
    pub path: &'k [Step<'static>],
    pub members: &'k MemberIndex,
}

/// A text and the places where edits change it: the edited text, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced<'a> {
    text: &'a str,
    /// Sorted, not overlapping.
    splices: Vec<Splice>,
}

impl Spliced<'_> {
    /// The length of the edited text.
    pub fn len(&self) -> usize {
        let removed: usize = self.splices.iter().map(|s| s.end - s.start).sum();
        let added: usize = self.splices.iter().map(|s| s.text.len()).sum();
        self.text.len() - removed + added
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces of the edited text, in order.
    fn pieces(&self) -> impl Iterator<Item = &str> {
        let mut at = 0;
        self.splices
            .iter()
            .flat_map(move |splice| {
                let kept = self.text.get(at..splice.start).unwrap_or_default();
                at = splice.end;
                [kept, splice.text.as_str()]
            })
            .chain(std::iter::once_with(move || {
                let last = self.splices.last().map_or(0, |s| s.end);
                self.text.get(last..).unwrap_or_default()
            }))
    }

    /// Appends the edited text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        for piece in self.pieces() {
            out.extend_from_slice(piece.as_bytes());
        }
    }
}

impl fmt::Display for Spliced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pieces().try_for_each(|piece| f.write_str(piece))
    }
}

/// `text` with every edit applied.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, SpliceError> {
    Ok(locate(text, edits, None)?.to_string())
}

/// Where every edit changes `text`. The edits' paths must be distinct and
/// none may lead through another's member (the defaults plan guarantees
/// both). With `known`, edits inside that object start from its members.
pub fn locate<'a>(
    text: &'a str,
    edits: &[Edit],
    known: Option<KnownObject>,
) -> Result<Spliced<'a>, SpliceError> {
    let bytes = text.as_bytes();
    let mut splices = Vec::with_capacity(edits.len());
    let inside = |known: &KnownObject| {
        edits
            .iter()
            .all(|e| e.path.len() > known.path.len() && e.path.starts_with(known.path))
    };
    let known = known
        .filter(inside)
        .and_then(|k| Some((k.path.len(), k.members.locate(text)?)));
    // The steps still to walk: below the known object, or from the top.
    let depth = known.as_ref().map_or(0, |(depth, _)| *depth);
    let targets: Vec<Target> = edits
        .iter()
        .enumerate()
        .map(|(edit, e)| Target {
            edit,
            rest: &e.path[depth..],
        })
        .collect();
    match known {
        Some((_, members)) => {
            splice_known_object(bytes, &members, &targets, edits, &mut splices)?;
        }
        None => {
            walk(
                bytes,
                skip_whitespace(bytes, 0),
                &targets,
                edits,
                &mut splices,
            )?;
        }
    }
    if splices.len() != edits.len() {
        return error("an edit's path does not lead to an object member");
    }
    // Stable: insertions at one place keep the order of their edits.
    splices.sort_by_key(|s| (s.start, s.end));
    let mut at = 0;
    for splice in &splices {
        if splice.start < at {
            return error("two edits overlap");
        }
        if text.get(splice.start..splice.end).is_none() {
            return error("an edit's place is not at a character boundary");
        }
        at = splice.end;
    }
    Ok(Spliced { text, splices })
}

/// The splices of `targets` inside an object whose members are at `members`
/// (key, offset of the key's quote): each member an edit names is read where
/// it is; absent members are appended after the last one.
fn splice_known_object(
    bytes: &[u8],
    members: &[(&str, usize)],
    targets: &[Target],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<(), SpliceError> {
    let mut found = vec![false; targets.len()];
    for (key, quote) in members {
        let named = |target: &Target| target.rest.first() == Some(&Step::Key(key));
        if !targets.iter().any(named) {
            continue;
        }
        let (_, value_start) = member(bytes, *quote)?;
        member_splices(bytes, key, value_start, targets, &mut found, edits, splices)?;
    }
    if found.iter().all(|f| *f) {
        return Ok(());
    }
    let Some((_, last)) = members.last() else {
        return error("malformed object");
    };
    let (_, value_start) = member(bytes, *last)?;
    let close = skip_whitespace(bytes, skip_value(bytes, value_start)?);
    if bytes.get(close) != Some(&b'}') {
        return error("malformed object");
    }
    append_absent(close, members.len(), targets, &found, edits, splices)
}

/// Where the value of the object member whose key's opening quote is at
/// offset `quote` of `text` starts; `None` when no key and colon are there.
pub fn value_start(text: &str, quote: usize) -> Option<usize> {
    member(text.as_bytes(), quote)
        .ok()
        .map(|(_, value_start)| value_start)
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let value_end = member_splices(
            bytes,
            &key,
            value_start,
            targets,
            &mut found,
            edits,
            splices,
        )?;
        members += 1;
        at = skip_whitespace(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b'}') => break,
            _ => return error("malformed object"),
        }
    }
    append_absent(at, members, targets, &found, edits, splices)?;
    Ok(at + 1)
}

/// Records the splices of the `targets` that name member `key` (whose value
/// starts at `value_start`), marking them found; returns where the value ends.
fn member_splices(
    bytes: &[u8],
    key: &str,
    value_start: usize,
    targets: &[Target],
    found: &mut [bool],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<usize, SpliceError> {
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
    Ok(value_end)
}

/// Appends, at `close` (the object's closing brace, after `members` members),
/// the members of the targets not found, which must be their last step.
fn append_absent(
    close: usize,
    mut members: usize,
    targets: &[Target],
    found: &[bool],
    edits: &[Edit],
    splices: &mut Vec<Splice>,
) -> Result<(), SpliceError> {
    for (target, _) in targets.iter().zip(found).filter(|(_, found)| !**found) {
        let [Step::Key(key)] = target.rest else {
            return error("an edit's path leads through a member that is absent");
        };
        let comma = if members > 0 { "," } else { "" };
        members += 1;
        splices.push(Splice {
            start: close,
            end: close,
            text: format!("{comma}{}:{}", Value::from(*key), edits[target.edit].value),
        });
    }
    Ok(())
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
    use super::{apply, find, locate, Edit, KnownObject, Step};
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

    /// Edits inside an object whose members the decoder indexed give the
    /// text one pass from the top gives, wherever the members are.
    #[test]
    fn known_members_give_the_text_of_the_walk() {
        let spec = [Step::Key("spec")];
        let edits = [
            Edit::new(
                vec![Step::Key("spec"), Step::Key("podManagementPolicy")],
                "Parallel",
            ),
            Edit::new(
                vec![
                    Step::Key("spec"),
                    Step::Key("updateStrategy"),
                    Step::Key("rollingUpdate"),
                ],
                json!({"partition": 1}),
            ),
            Edit::new(
                vec![
                    Step::Key("spec"),
                    Step::Key("volumeClaimTemplates"),
                    Step::Index(1),
                    Step::Key("spec"),
                    Step::Key("storageClassName"),
                ],
                "fast",
            ),
            Edit::new(
                vec![
                    Step::Key("spec"),
                    Step::Key("persistentVolumeClaimRetentionPolicy"),
                ],
                json!({"whenDeleted": "Retain"}),
            ),
        ];
        let claims = r#"[{"spec":{}}, {"spec": {"storageClassName": null, "x": "]"}}]"#;
        for (text, indexed) in [
            format!(
                r#"{{"metadata":{{"name":"a"}},"spec":{{"updateStrategy":{{}},"template":{{"a":"}}"}},"volumeClaimTemplates":{claims}}}}}"#
            ),
            format!(
                r#"{{ "spec" : {{ "volumeClaimTemplates" : {claims} , "podManagementPolicy" : null , "updateStrategy" : {{"type":"RollingUpdate"}} }} , "status": {{}} }}"#
            ),
            format!(
                r#"{{"spec":{{"podManagementPolicy":"OrderedReady","volumeClaimTemplates":{claims},"updateStrategy":{{"rollingUpdate":null}},"template":{{}}}}}}"#
            ),
            // An escaped key: no index, the walk from the top.
            format!(
                r#"{{"spec":{{"podManagementPolicy":"OrderedReady","volumeClaimTemplates":{claims},"updateStrategy":{{}},"t\u0065mplate":{{}}}}}}"#
            ),
        ]
        .into_iter()
        .zip([true, true, true, false])
        {
            let sts = crate::statefulset::decode(&text).expect("decodes");
            assert_eq!(sts.spec.members.locate(&text).is_some(), indexed, "{text}");
            let known = KnownObject {
                path: &spec,
                members: &sts.spec.members,
            };
            let located = locate(&text, &edits, Some(known)).expect("located");
            let walked = apply(&text, &edits).expect("walked");
            assert_eq!(located.to_string(), walked, "{text}");
            assert_eq!(located.len(), walked.len());
            let mut written = b"x".to_vec();
            located.write_to(&mut written);
            assert_eq!(written, format!("x{walked}").into_bytes());
            serde_json::from_str::<Value>(&walked).expect("valid JSON");
        }
    }

    /// An edit outside the indexed object, or an index of another text: the walk.
    #[test]
    fn known_members_are_used_only_where_they_apply() {
        let text = r#"{"metadata":{"a":1},"spec":{"b":2}}"#;
        let sts = crate::statefulset::decode(text).expect("decodes");
        let spec = [Step::Key("spec")];
        let known = KnownObject {
            path: &spec,
            members: &sts.spec.members,
        };
        let outside = [
            Edit::new(vec![Step::Key("spec"), Step::Key("b")], 3),
            Edit::new(vec![Step::Key("metadata"), Step::Key("a")], 4),
        ];
        assert_eq!(
            locate(text, &outside, Some(known)).unwrap().to_string(),
            r#"{"metadata":{"a":4},"spec":{"b":3}}"#
        );
        let copy = text.to_string();
        let inside = [Edit::new(vec![Step::Key("spec"), Step::Key("c")], 5)];
        assert_eq!(
            locate(&copy, &inside, Some(known)).unwrap().to_string(),
            r#"{"metadata":{"a":1},"spec":{"b":2,"c":5}}"#
        );
        let whole = [Edit::new(vec![Step::Key("spec")], json!({}))];
        assert_eq!(
            locate(text, &whole, Some(known)).unwrap().to_string(),
            r#"{"metadata":{"a":1},"spec":{}}"#
        );
    }

    #[test]
    fn no_edit_gives_the_text_back() {
        let text = " {\"a\" : [1, 2]}\n";
        assert_eq!(spliced(text, &[]), text);
    }
}
