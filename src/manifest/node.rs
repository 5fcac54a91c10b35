//! The located document tree that both manifest readers (YAML and KDL) produce.
//!
//! Scalars keep the meaning `az ml` gives them: its YAML reader is PyYAML, which follows
//! YAML 1.1, so `version: 01` is the integer 1, `learning_rate: 2e-5` is the *string* "2e-5"
//! (a YAML 1.1 float needs a dot), and `on`/`yes` are booleans. [`Scalar::python_str`] gives
//! the text the SDK sends for a scalar wherever it stringifies one (versions, literal inputs).

use crate::diag::{Loc, Located};

/// A node of a manifest document with the place it was written.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: NodeValue,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub enum NodeValue {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping, in document order.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: Located<String>,
    pub value: Node,
}

/// A scalar with its resolved type and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub kind: ScalarKind,
    /// The string value for strings; the source spelling for every other kind.
    pub text: String,
    /// Written in quotes or as a block scalar, so never resolved to another type.
    pub quoted: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str,
    /// A YAML 1.1 timestamp such as `2021-03-10T21:21:07`, kept as written.
    Timestamp,
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            NodeValue::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(
            self.scalar(),
            Some(Scalar {
                kind: ScalarKind::Null,
                ..
            })
        )
    }

    /// The value of key `name` when this node is a mapping.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .rev()
            .find(|e| e.key.value == name)
            .map(|e| &e.value)
    }

    /// The string value of key `name`, when it is a string scalar.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)?.scalar()? {
            s if s.kind == ScalarKind::Str => Some(&s.text),
            _ => None,
        }
    }

    /// What kind of node this is, in the words an error message uses.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            NodeValue::Scalar(s) => s.describe(),
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// Converts the node to JSON, with scalars typed as PyYAML types them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Scalar(s) => s.to_json(),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.value.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Scalar {
    pub fn string(text: impl Into<String>) -> Self {
        Self {
            kind: ScalarKind::Str,
            text: text.into(),
            quoted: true,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self.kind {
            ScalarKind::Null => "null",
            ScalarKind::Bool(_) => "a boolean",
            ScalarKind::Int(_) => "an integer",
            ScalarKind::Float(_) => "a number",
            ScalarKind::Str => "a string",
            ScalarKind::Timestamp => "a timestamp",
        }
    }

    /// The text Python's `str()` gives for the value PyYAML reads, which is what the SDK sends
    /// wherever it turns a scalar into a string.
    pub fn python_str(&self) -> String {
        match &self.kind {
            ScalarKind::Null => "None".into(),
            ScalarKind::Bool(true) => "True".into(),
            ScalarKind::Bool(false) => "False".into(),
            ScalarKind::Int(i) => i.to_string(),
            ScalarKind::Float(f) => python_float_repr(*f),
            ScalarKind::Str => self.text.clone(),
            ScalarKind::Timestamp => python_timestamp_str(&self.text),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            ScalarKind::Null => Value::Null,
            ScalarKind::Bool(b) => Value::Bool(*b),
            ScalarKind::Int(i) => i64::try_from(*i)
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(i.to_string())),
            ScalarKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(python_float_repr(*f))),
            ScalarKind::Str => Value::String(self.text.clone()),
            ScalarKind::Timestamp => Value::String(python_timestamp_str(&self.text)),
        }
    }
}

/// Resolves a plain (unquoted) scalar as PyYAML's YAML 1.1 resolver does.
pub fn resolve_plain(text: &str) -> ScalarKind {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return ScalarKind::Null;
    }
    if let Some(b) = yaml11_bool(text) {
        return ScalarKind::Bool(b);
    }
    if let Some(i) = yaml11_int(text) {
        return ScalarKind::Int(i);
    }
    if let Some(f) = yaml11_float(text) {
        return ScalarKind::Float(f);
    }
    if is_yaml11_timestamp(text) {
        return ScalarKind::Timestamp;
    }
    ScalarKind::Str
}

fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (i128, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

/// YAML 1.1 integers: binary `0b`, octal with a leading `0`, decimal, hex `0x`, and base 60
/// (`1:30`), all allowing `_` separators.
fn yaml11_int(text: &str) -> Option<i128> {
    let (sign, body) = split_sign(text);
    let digits_in =
        |s: &str, ok: fn(u8) -> bool| !s.is_empty() && s.bytes().all(|b| ok(b) || b == b'_');
    let parse = |s: &str, radix: u32| -> Option<i128> {
        let cleaned: String = s.chars().filter(|c| *c != '_').collect();
        if cleaned.is_empty() {
            return Some(0);
        }
        i128::from_str_radix(&cleaned, radix).ok()
    };
    let value = if let Some(bin) = body.strip_prefix("0b") {
        digits_in(bin, |b| b == b'0' || b == b'1').then(|| parse(bin, 2))??
    } else if let Some(hex) = body.strip_prefix("0x") {
        digits_in(hex, |b| b.is_ascii_hexdigit()).then(|| parse(hex, 16))??
    } else if body == "0" {
        0
    } else if let Some(oct) = body.strip_prefix('0') {
        digits_in(oct, |b| (b'0'..=b'7').contains(&b)).then(|| parse(oct, 8))??
    } else if body.contains(':') {
        let mut parts = body.split(':');
        let first = parts.next()?;
        if !first.starts_with(|c: char| ('1'..='9').contains(&c))
            || !digits_in(first, |b| b.is_ascii_digit())
        {
            return None;
        }
        let mut value = parse(first, 10)?;
        for part in parts {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: i128 = part.parse().ok()?;
            if n > 59 {
                return None;
            }
            value = value * 60 + n;
        }
        value
    } else if body.starts_with(|c: char| ('1'..='9').contains(&c))
        && digits_in(body, |b| b.is_ascii_digit())
    {
        parse(body, 10)?
    } else {
        return None;
    };
    Some(sign * value)
}

/// YAML 1.1 floats: a dot is required (`2e-5` is a string), plus `.inf`, `.nan` and base 60.
fn yaml11_float(text: &str) -> Option<f64> {
    match text {
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let (sign, body) = split_sign(text);
    let sign = sign as f64;
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return Some(sign * f64::INFINITY);
    }
    if body.contains(':') {
        let (whole, frac) = body.split_once('.')?;
        let mut parts = whole.split(':');
        let first = parts.next()?;
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        let mut value: f64 = first.replace('_', "").parse().ok()?;
        for part in parts {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: f64 = part.parse().ok()?;
            if n >= 60.0 {
                return None;
            }
            value = value * 60.0 + n;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        let frac: f64 = format!("0.{}", frac.replace('_', ""))
            .parse()
            .unwrap_or(0.0);
        return Some(sign * (value + frac));
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, frac) = mantissa.split_once('.')?;
    let whole_ok = if whole.is_empty() {
        // `.5` is a float, but only with digits after the dot, the first being a digit.
        frac.starts_with(|c: char| c.is_ascii_digit())
    } else {
        whole.starts_with(|c: char| c.is_ascii_digit())
            && whole.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    };
    if !whole_ok || !frac.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    if let Some(exp) = exponent {
        let digits = exp.strip_prefix(['+', '-'])?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let cleaned: String = format!("{}{}", if text.starts_with('-') { "-" } else { "" }, body)
        .chars()
        .filter(|c| *c != '_')
        .collect();
    let cleaned = if cleaned.ends_with('.') || cleaned.contains(".e") || cleaned.contains(".E") {
        cleaned.replacen('.', ".0", 1)
    } else {
        cleaned
    };
    cleaned.parse().ok()
}

fn is_yaml11_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // Date only: YYYY-MM-DD.
    if b.len() == 10
        && (0..4).all(digit)
        && b[4] == b'-'
        && digit(5)
        && digit(6)
        && b[7] == b'-'
        && digit(8)
        && digit(9)
    {
        return true;
    }
    // Date and time: YYYY-M[M]-D[D](T|t|spaces)H[H]:MM:SS[.frac][zone].
    let mut i = 0;
    let take_digits = |min: usize, max: usize, i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    if !take_digits(4, 4, &mut i) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !take_digits(1, 2, &mut i) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !take_digits(1, 2, &mut i) {
        return false;
    }
    match b.get(i) {
        Some(b'T' | b't') => i += 1,
        Some(b' ' | b'\t') => {
            while matches!(b.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
        }
        _ => return false,
    }
    if !take_digits(1, 2, &mut i) || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    if !take_digits(2, 2, &mut i) || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    if !take_digits(2, 2, &mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match b.get(i) {
        None => true,
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i += 1;
            if !take_digits(1, 2, &mut i) {
                return false;
            }
            if b.get(i) == Some(&b':') {
                i += 1;
                if !take_digits(2, 2, &mut i) {
                    return false;
                }
            }
            i == b.len()
        }
        _ => false,
    }
}

/// `str(datetime)` for a YAML 1.1 timestamp: a space between date and time.
fn python_timestamp_str(text: &str) -> String {
    match text.find(['T', 't']) {
        Some(i) => format!("{} {}", &text[..i], &text[i + 1..]),
        None => text.to_owned(),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in scientific notation when
/// the decimal exponent is below -4 or at least 16.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, frac) = digits.split_at(point as usize);
        format!("{whole}.{frac}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_pyyaml() {
        let cases: &[(&str, ScalarKind)] = &[
            ("01", ScalarKind::Int(1)),
            ("1", ScalarKind::Int(1)),
            ("08", ScalarKind::Str),
            ("0x1F", ScalarKind::Int(31)),
            ("0b101", ScalarKind::Int(5)),
            ("1_000", ScalarKind::Int(1000)),
            ("1:30", ScalarKind::Int(90)),
            ("-7", ScalarKind::Int(-7)),
            ("2e-5", ScalarKind::Str),
            ("1e-4", ScalarKind::Str),
            ("1.5e-4", ScalarKind::Float(1.5e-4)),
            ("1.10", ScalarKind::Float(1.1)),
            ("1.", ScalarKind::Float(1.0)),
            (".5", ScalarKind::Float(0.5)),
            ("0.0.1", ScalarKind::Str),
            ("yes", ScalarKind::Bool(true)),
            ("Off", ScalarKind::Bool(false)),
            ("y", ScalarKind::Str),
            ("~", ScalarKind::Null),
            ("", ScalarKind::Null),
            ("2021-03-10", ScalarKind::Timestamp),
            ("2021-03-10T21:21:07", ScalarKind::Timestamp),
            ("2021-3-1 1:02:03.5 +01:00", ScalarKind::Timestamp),
            ("latest", ScalarKind::Str),
            ("STANDARD_DS3_v2", ScalarKind::Str),
        ];
        for (text, expected) in cases {
            assert_eq!(&resolve_plain(text), expected, "{text:?}");
        }
        assert!(matches!(resolve_plain(".nan"), ScalarKind::Float(f) if f.is_nan()));
        assert_eq!(resolve_plain("-.inf"), ScalarKind::Float(f64::NEG_INFINITY));
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (2.5e-5, "2.5e-05"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-0.8, "-0.8"),
            (1.1, "1.1"),
            (100.0, "100.0"),
        ];
        for (value, text) in cases {
            assert_eq!(python_float_repr(value), text);
        }
    }
}
