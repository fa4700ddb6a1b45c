//! JSON text that `serde_json::Value` cannot represent: duplicate keys and
//! numbers written exactly as given (`1e400`, `1.0000000000000001`).
//!
//! The generators mark them inside an ordinary `Value` tree, and [`to_text`]
//! writes the marked tree out:
//! - a string `"\0NUM\0<text>"` is written as the bare `<text>`;
//! - a key `"\0DUP<n>\0<key>"` is written as `<key>`, so the object holds `<key>` twice.

use serde_json::{Map, Value};

pub const NUMBER: &str = "\u{0}NUM\u{0}";
const DUPLICATE: &str = "\u{0}DUP";

/// A raw number, written without quotes.
pub fn number(text: &str) -> Value {
    Value::String(format!("{NUMBER}{text}"))
}

/// A fresh key that is written as `key`, unique within `map`.
pub fn duplicate_key(map: &Map<String, Value>, key: &str) -> String {
    (0..)
        .map(|n| format!("{DUPLICATE}{n}\u{0}{key}"))
        .find(|k| !map.contains_key(k))
        .unwrap_or_default()
}

/// The key as written.
pub fn real_key(key: &str) -> &str {
    match key.strip_prefix(DUPLICATE) {
        Some(rest) => rest.split_once('\u{0}').map_or(rest, |(_, key)| key),
        None => key,
    }
}

/// Writes the marked tree as JSON text.
pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => match s.strip_prefix(NUMBER) {
            Some(raw) => out.push_str(raw),
            None => out.push_str(&Value::String(s.clone()).to_string()),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(real_key(key).to_string()).to_string());
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}
