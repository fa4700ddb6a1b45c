//! A byte scan of JSON text that answers, without building anything, the two
//! questions every evaluation asks first: is some key repeated in an object
//! (`statefulset::decode` refuses that), and where are the members of the
//! `validate` payload (`request::ValidatePayload::parse`).
//!
//! The scan is a fast path only: it accepts a text when it is sure that
//! serde_json reads it without error, and answers "not sure" for anything else
//! (a duplicate, a `\u` escape in a key, a number with an exponent or hundreds of
//! digits, a lone surrogate, deep nesting, a syntax error). The callers then take
//! their exact serde_json path, which words the refusal, so the outcome of an
//! evaluation never depends on which path ran.

use std::borrow::Cow;
use std::ops::Range;

/// Deeper texts are left to serde_json (which stops at 128 levels).
const SCANNED_DEPTH: usize = 64;
/// Longer numbers are left to serde_json: an `f64` holds any shorter one
/// without overflowing to infinity, which serde_json refuses.
const SCANNED_DIGITS: usize = 300;

/// A member of an object: its key (escapes decoded) and where its value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    pub key: Cow<'a, [u8]>,
    pub value: Range<usize>,
    /// When the value is an object: its members.
    pub members: Vec<Member<'a>>,
}

/// `true` when the first JSON value of `json` is plain: well-formed, no key
/// twice in any object, nothing serde_json could refuse (see the module). Like
/// serde_json's `Deserializer` used without `end()`, it ignores what follows.
/// `false` means "not sure", never "invalid".
pub fn plainly_unique(json: &[u8]) -> bool {
    scan(json, false).is_some()
}

/// For a plain text (see [`plainly_unique`]) that is an object followed by
/// nothing but whitespace: its members, and the members of those that are
/// objects. `None` otherwise.
pub fn object_members(json: &[u8]) -> Option<Vec<Member<'_>>> {
    let (end, members) = scan(json, true)?;
    let is_object = json
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    let rest_is_blank = json[end..].iter().all(|&b| is_whitespace(b));
    (is_object && rest_is_blank).then_some(members)
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

enum Frame {
    /// An object whose keys start at this index of the key buffer.
    Object(usize),
    Array,
}

/// The scan itself: the end of the first value and, with `record`, the members
/// of the first two object levels.
fn scan(json: &[u8], record: bool) -> Option<(usize, Vec<Member<'_>>)> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut keys: Vec<Cow<[u8]>> = Vec::new();
    let mut members: Vec<Member> = Vec::new();
    // Where the value of the member being read at depth 1 and 2 starts.
    let mut starts = [0usize; 3];
    let mut at = 0;
    loop {
        // A value.
        skip_whitespace(json, &mut at);
        let depth = frames.len();
        if record && (1..=2).contains(&depth) && matches!(frames.last(), Some(Frame::Object(_))) {
            starts[depth] = at;
        }
        match json.get(at)? {
            b'{' => {
                at += 1;
                skip_whitespace(json, &mut at);
                if json.get(at) == Some(&b'}') {
                    at += 1;
                } else {
                    if depth >= SCANNED_DEPTH {
                        return None;
                    }
                    frames.push(Frame::Object(keys.len()));
                    let key = object_key(json, &mut at)?;
                    if record && depth < 2 {
                        record_key(&mut members, depth + 1, key.clone());
                    }
                    keys.push(key);
                    continue;
                }
            }
            b'[' => {
                at += 1;
                skip_whitespace(json, &mut at);
                if json.get(at) == Some(&b']') {
                    at += 1;
                } else {
                    if depth >= SCANNED_DEPTH {
                        return None;
                    }
                    frames.push(Frame::Array);
                    continue;
                }
            }
            b'"' => {
                plain_string(json, &mut at)?;
            }
            b'-' | b'0'..=b'9' => plain_number(json, &mut at)?,
            b't' if json[at..].starts_with(b"true") => at += 4,
            b'f' if json[at..].starts_with(b"false") => at += 5,
            b'n' if json[at..].starts_with(b"null") => at += 4,
            _ => return None,
        }
        // After a value: the next member or element, or the end of containers.
        loop {
            let depth = frames.len();
            let Some(frame) = frames.last() else {
                return Some((at, members));
            };
            if record && (1..=2).contains(&depth) && matches!(frame, Frame::Object(_)) {
                record_value(&mut members, depth, starts[depth]..at);
            }
            skip_whitespace(json, &mut at);
            match (frame, json.get(at)) {
                (Frame::Object(_), Some(b',')) => {
                    at += 1;
                    skip_whitespace(json, &mut at);
                    let key = object_key(json, &mut at)?;
                    if record && depth <= 2 {
                        record_key(&mut members, depth, key.clone());
                    }
                    keys.push(key);
                    break;
                }
                (Frame::Array, Some(b',')) => {
                    at += 1;
                    break;
                }
                (Frame::Object(start), Some(b'}')) => {
                    let start = *start;
                    let object_keys = &mut keys[start..];
                    if object_keys.len() > 1 {
                        object_keys.sort_unstable();
                        if object_keys.windows(2).any(|pair| pair[0] == pair[1]) {
                            return None;
                        }
                    }
                    keys.truncate(start);
                    frames.pop();
                    at += 1;
                }
                (Frame::Array, Some(b']')) => {
                    frames.pop();
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

/// A key met at `depth` (1: the top object) opens a member.
fn record_key<'a>(members: &mut Vec<Member<'a>>, depth: usize, key: Cow<'a, [u8]>) {
    let member = Member {
        key,
        value: 0..0,
        members: Vec::new(),
    };
    match depth {
        1 => members.push(member),
        2 => {
            if let Some(parent) = members.last_mut() {
                parent.members.push(member);
            }
        }
        _ => {}
    }
}

/// The value of the last member opened at `depth` ends here.
fn record_value(members: &mut [Member], depth: usize, value: Range<usize>) {
    let member = match depth {
        1 => members.last_mut(),
        _ => members
            .last_mut()
            .and_then(|parent| parent.members.last_mut()),
    };
    if let Some(member) = member {
        member.value = value;
    }
}

fn skip_whitespace(json: &[u8], at: &mut usize) {
    while json.get(*at).is_some_and(|&b| is_whitespace(b)) {
        *at += 1;
    }
}

/// A key and its colon; `None` when not sure. A key with escapes is decoded
/// (`"k:{\"name\":\"web\"}"`, as in managedFields), unless it holds a `\u` escape.
fn object_key<'a>(json: &'a [u8], at: &mut usize) -> Option<Cow<'a, [u8]>> {
    if json.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let escaped = plain_string(json, at)?;
    let raw = &json[start..*at - 1];
    let key = if escaped {
        let mut key = Vec::with_capacity(raw.len());
        let mut bytes = raw.iter();
        while let Some(&byte) = bytes.next() {
            key.push(if byte == b'\\' {
                match bytes.next()? {
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => return None,
                    // The quote, the backslash and the slash stand for themselves.
                    &other => other,
                }
            } else {
                byte
            });
        }
        Cow::Owned(key)
    } else {
        Cow::Borrowed(raw)
    };
    skip_whitespace(json, at);
    if json.get(*at) != Some(&b':') {
        return None;
    }
    *at += 1;
    Some(key)
}

/// A string at `json[*at] == '"'`, moved past: `Some(has escapes)`, or `None`
/// for an escape or a character that serde_json might refuse.
fn plain_string(json: &[u8], at: &mut usize) -> Option<bool> {
    let mut i = *at + 1;
    let mut escaped = false;
    loop {
        i = plain_run(json, i);
        match json.get(i)? {
            b'"' => {
                *at = i + 1;
                return Some(escaped);
            }
            b'\\' => {
                escaped = true;
                match json.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let code = json
                            .get(i + 2..i + 6)
                            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                            .and_then(|hex| std::str::from_utf8(hex).ok())
                            .and_then(|hex| u16::from_str_radix(hex, 16).ok())?;
                        // Surrogates must pair up: serde_json checks that.
                        if (0xD800..=0xDFFF).contains(&code) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            // Control characters must be escaped in JSON.
            0x00..=0x1F => return None,
            _ => i += 1,
        }
    }
}

/// Skips 8 bytes at a time while none of them is a quote, a backslash or a
/// control character (the bit tricks may stop early, never late).
fn plain_run(json: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    while let Some(chunk) = json.get(i..i + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(bytes);
        let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
        let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        if quote | backslash | control != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)?`, without exponent and not over-long.
fn plain_number(json: &[u8], at: &mut usize) -> Option<()> {
    let mut i = *at;
    if json.get(i) == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while let Some(b'0'..=b'9') = json.get(*i) {
            *i += 1;
        }
        *i - start
    };
    let first = json.get(i).copied();
    let integer = digits(&mut i);
    if integer == 0 || (first == Some(b'0') && integer > 1) {
        return None;
    }
    let mut count = integer;
    if json.get(i) == Some(&b'.') {
        i += 1;
        let fraction = digits(&mut i);
        if fraction == 0 {
            return None;
        }
        count += fraction;
    }
    if matches!(json.get(i), Some(b'e' | b'E')) || count > SCANNED_DIGITS {
        return None;
    }
    *at = i;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(json: &'a str, members: &[Member<'a>]) -> Vec<(String, &'a str, usize)> {
        members
            .iter()
            .map(|m| {
                (
                    String::from_utf8_lossy(&m.key).into_owned(),
                    &json[m.value.clone()],
                    m.members.len(),
                )
            })
            .collect()
    }

    #[test]
    fn members_of_the_first_two_levels_and_their_values() {
        let json = r#" {"request": {"uid": "1", "object": {"a": [1, {"b": 2}]}, "x\"y": null} , "settings" :{}, "n": -1.5 }
 "#;
        let members = object_members(json.as_bytes()).expect("plain");
        assert_eq!(
            keys(json, &members),
            vec![
                (
                    "request".to_string(),
                    r#"{"uid": "1", "object": {"a": [1, {"b": 2}]}, "x\"y": null}"#,
                    3
                ),
                ("settings".to_string(), "{}", 0),
                ("n".to_string(), "-1.5", 0),
            ]
        );
        assert_eq!(
            keys(json, &members[0].members),
            vec![
                ("uid".to_string(), r#""1""#, 0),
                ("object".to_string(), r#"{"a": [1, {"b": 2}]}"#, 0),
                ("x\"y".to_string(), "null", 0),
            ]
        );
    }

    #[test]
    fn long_strings_stop_at_quotes_escapes_and_control_characters() {
        for (text, plain) in [
            (r#""abcdefghijklmnopqrstuvwxyz""#, true),
            (r#""abcdefghijklmnop\"qrstuvwxyz""#, true),
            (r#""abcdefghijklmnopqrstuvwxyz"#, false),
            ("\"abcdefghijkl\u{1}mnopqrstuvwxyz\"", false),
            ("\"abcdefghijkl\u{7f}\u{e9}mnopqrstuvwxyz\"", true),
            (r#""abcdefghijklmnopqr\x""#, false),
        ] {
            assert_eq!(plainly_unique(text.as_bytes()), plain, "{text}");
        }
        let json = format!(r#"{{"{}":1,"{}":2}}"#, "k".repeat(40), "k".repeat(40));
        assert!(!plainly_unique(json.as_bytes()));
    }

    #[test]
    fn only_a_plain_object_alone_has_members() {
        for json in [
            r#"{"a":1} x"#,
            r#"[{"a":1}]"#,
            r#""a""#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":1e5}"#,
            "",
        ] {
            assert!(object_members(json.as_bytes()).is_none(), "{json}");
        }
        assert!(object_members(b"{}").is_some_and(|m| m.is_empty()));
    }
}
