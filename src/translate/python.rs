//! Values as Python writes them: the SDK turns YAML values into Python objects and then into
//! text (`str()`) or JSON (`json.dumps`), and the requests carry that text.

use serde_json::Value;

use crate::manifest::node::{Scalar, ScalarKind, python_float_repr};

/// A scalar converted to a component parameter of `port_type` and written with `str()`, as
/// the SDK parses defaults, minimums and maximums: an `integer` goes through `int(float(v))`,
/// a `number` through `float(v)`, a `boolean` accepts `true`/`false` in any case. Data ports
/// keep their text. `None` when the value cannot be converted.
pub fn coerce(scalar: &Scalar, port_type: &str) -> Option<String> {
    match port_type {
        "integer" => match &scalar.kind {
            ScalarKind::Int(i) => Some(i.to_string()),
            ScalarKind::Bool(b) => Some(python_bool(*b).into()),
            ScalarKind::Float(f) if f.is_finite() => Some(format!("{}", f.trunc() as i128)),
            ScalarKind::Str => parse_float(&scalar.text)
                .filter(|f| f.is_finite())
                .map(|f| format!("{}", f.trunc() as i128)),
            _ => None,
        },
        "number" => match &scalar.kind {
            ScalarKind::Int(i) => Some(python_float_repr(*i as f64)),
            ScalarKind::Float(f) => Some(python_float_repr(*f)),
            ScalarKind::Bool(b) => Some(python_bool(*b).into()),
            ScalarKind::Str => parse_float(&scalar.text).map(python_float_repr),
            _ => None,
        },
        "boolean" => match &scalar.kind {
            ScalarKind::Bool(b) => Some(python_bool(*b).into()),
            ScalarKind::Str => match scalar.text.to_ascii_lowercase().as_str() {
                "true" => Some("True".into()),
                "false" => Some("False".into()),
                _ => None,
            },
            _ => None,
        },
        _ => match &scalar.kind {
            ScalarKind::Null => None,
            _ => Some(scalar.python_str()),
        },
    }
}

fn python_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Python's `float(text)`: surrounding spaces and `_` between digits allowed.
pub fn parse_float(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let cleaned: String = trimmed.chars().filter(|c| *c != '_').collect();
    match cleaned.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => {}
        body if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
            return None;
        }
        _ => {}
    }
    cleaned.parse().ok()
}

/// Python's `json.dumps(value, sort_keys=True)`: `", "` and `": "` separators, keys sorted,
/// non-ASCII characters escaped, floats as `repr` writes them.
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.is_nan() => out.push_str("NaN"),
            (_, _, Some(f)) if f.is_infinite() => {
                out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" })
            }
            (_, _, Some(f)) => out.push_str(&python_float_repr(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map.iter().collect(), out),
    }
}

/// `json_dumps` of a mapping given as its entries.
pub fn json_dumps_entries(entries: Vec<(&String, &Value)>) -> String {
    let mut out = String::new();
    write_object(entries, &mut out);
    out
}

fn write_object(mut entries: Vec<(&String, &Value)>, out: &mut String) {
    entries.sort_by(|a, b| python_order(a.0, b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(key, out);
        out.push_str(": ");
        write_json(value, out);
    }
    out.push('}');
}

/// Python sorts strings by code point; Rust's `str` order (UTF-8 bytes) is the same.
fn python_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.cmp(b)
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scalar(kind: ScalarKind, text: &str) -> Scalar {
        Scalar {
            kind,
            text: text.into(),
            quoted: false,
        }
    }

    #[test]
    fn defaults_are_parsed_as_their_type() {
        assert_eq!(
            coerce(&scalar(ScalarKind::Int(1024), "1024"), "number").as_deref(),
            Some("1024.0")
        );
        assert_eq!(
            coerce(&scalar(ScalarKind::Str, "1e-3"), "number").as_deref(),
            Some("0.001")
        );
        assert_eq!(
            coerce(&scalar(ScalarKind::Int(3), "3"), "integer").as_deref(),
            Some("3")
        );
        assert_eq!(
            coerce(&scalar(ScalarKind::Float(10.0), "10.0"), "integer").as_deref(),
            Some("10")
        );
        assert_eq!(
            coerce(&scalar(ScalarKind::Bool(false), "false"), "boolean").as_deref(),
            Some("False")
        );
        assert_eq!(
            coerce(&scalar(ScalarKind::Str, "TRUE"), "boolean").as_deref(),
            Some("True")
        );
        assert_eq!(coerce(&scalar(ScalarKind::Str, "maybe"), "boolean"), None);
        assert_eq!(coerce(&scalar(ScalarKind::Str, "abc"), "number"), None);
        assert_eq!(
            coerce(&scalar(ScalarKind::Float(0.5), "0.5"), "string").as_deref(),
            Some("0.5")
        );
    }

    #[test]
    fn json_like_python() {
        let value = json!({"b": [1, 2.5, 1e-05], "a": "é\n\"x\"", "c": {"z": null, "y": true}});
        assert_eq!(
            json_dumps(&value),
            r#"{"a": "\u00e9\n\"x\"", "b": [1, 2.5, 1e-05], "c": {"y": true, "z": null}}"#
        );
        assert_eq!(json_dumps(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(json_dumps(&json!(1.0)), "1.0");
    }
}
