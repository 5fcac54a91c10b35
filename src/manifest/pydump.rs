//! YAML text as PyYAML's `yaml.dump` writes it (block style, keys sorted, width 80).
//!
//! The SDK re-serialises conda specifications with `yaml.dump` before sending them, and hashes
//! that text into anonymous environment versions; matching it byte for byte keeps amlops'
//! requests and versions identical to `az ml`'s.

use serde_json::Value;

use super::node::{ScalarKind, python_float_repr, resolve_plain};

const BEST_WIDTH: usize = 80;

/// Dumps `value` the way `yaml.dump(value)` does with PyYAML's defaults.
pub fn dump(value: &Value) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        column: 0,
    };
    match value {
        Value::Object(map) if !map.is_empty() => emitter.mapping(map, 0),
        Value::Array(items) if !items.is_empty() => emitter.sequence(items, 0),
        other => {
            emitter.inline(other, 0);
            emitter.newline();
            // A lone scalar document ends with the document end marker.
            if !matches!(other, Value::Object(_) | Value::Array(_)) {
                emitter.out.push_str("...\n");
            }
        }
    }
    emitter.out
}

struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn write(&mut self, text: &str) {
        self.out.push_str(text);
        match text.rfind('\n') {
            Some(i) => self.column = text.len() - i - 1,
            None => self.column += text.chars().count(),
        }
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn indent_to(&mut self, indent: usize) {
        self.write(&" ".repeat(indent));
    }

    fn is_block_collection(value: &Value) -> bool {
        matches!(value, Value::Object(m) if !m.is_empty())
            || matches!(value, Value::Array(a) if !a.is_empty())
    }

    fn mapping(&mut self, map: &serde_json::Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                self.indent_to(indent);
            }
            self.scalar_string(key, indent);
            self.write(":");
            let value = &map[key];
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    self.newline();
                    self.indent_to(indent + 2);
                    self.mapping(inner, indent + 2);
                }
                Value::Array(items) if !items.is_empty() => {
                    // PyYAML writes sequences inside mappings without extra indentation.
                    self.newline();
                    self.indent_to(indent);
                    self.sequence(items, indent);
                }
                other => {
                    self.write(" ");
                    self.inline(other, indent + 2);
                    self.newline();
                }
            }
        }
    }

    fn sequence(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.indent_to(indent);
            }
            self.write("- ");
            if Self::is_block_collection(item) {
                match item {
                    Value::Object(map) => self.mapping(map, indent + 2),
                    Value::Array(inner) => self.sequence(inner, indent + 2),
                    _ => unreachable!("checked by is_block_collection"),
                }
            } else {
                self.inline(item, indent + 2);
                self.newline();
            }
        }
    }

    /// A scalar or an empty collection on the current line.
    fn inline(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Null => self.write("null"),
            Value::Bool(true) => self.write("true"),
            Value::Bool(false) => self.write("false"),
            Value::Number(n) => {
                let text = if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    float_text(n.as_f64().unwrap_or(0.0))
                };
                self.write(&text);
            }
            Value::String(s) => self.scalar_string(s, indent),
            Value::Array(_) => self.write("[]"),
            Value::Object(_) => self.write("{}"),
        }
    }

    fn scalar_string(&mut self, text: &str, indent: usize) {
        match choose_style(text) {
            Style::Plain => self.write_folded(text, indent, false),
            Style::Single => self.write_folded(text, indent, true),
            Style::Double => {
                let quoted = double_quoted(text);
                self.write(&quoted);
            }
        }
    }

    /// Writes a plain or single-quoted scalar, breaking at single spaces once the line is
    /// past the best width, as PyYAML's `write_plain`/`write_single_quoted` do.
    fn write_folded(&mut self, text: &str, indent: usize, quoted: bool) {
        if quoted {
            self.write("'");
        }
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == ' ' {
                let start = i;
                while i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
                let single = i - start == 1;
                if single && self.column > BEST_WIDTH && i < chars.len() && (!quoted || start != 0)
                {
                    self.newline();
                    self.indent_to(indent);
                } else {
                    self.write(&" ".repeat(i - start));
                }
                continue;
            }
            let start = i;
            while i < chars.len() && chars[i] != ' ' {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if quoted {
                self.write(&word.replace('\'', "''"));
            } else {
                self.write(&word);
            }
        }
        if quoted {
            self.write("'");
        }
    }
}

/// PyYAML's float representation: `repr()` lowered, with `.0` added before a bare exponent.
fn float_text(value: f64) -> String {
    if value.is_nan() {
        return ".nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let text = python_float_repr(value).to_lowercase();
    if !text.contains('.') && text.contains('e') {
        text.replacen('e', ".0e", 1)
    } else {
        text
    }
}

enum Style {
    Plain,
    Single,
    Double,
}

/// PyYAML's `analyze_scalar` and `choose_scalar_style`, for block context.
fn choose_style(text: &str) -> Style {
    if text.is_empty() {
        return Style::Single;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = false;
    let mut special = false;
    let mut line_breaks = false;
    let mut leading_space = false;
    let mut trailing_space = false;
    if text.starts_with("---") || text.starts_with("...") {
        block_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for (index, &ch) in chars.iter().enumerate() {
        let followed_by_whitespace = chars
            .get(index + 1)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                block_indicators = true;
            }
            if matches!(ch, '?' | ':' | '-') && followed_by_whitespace {
                block_indicators = true;
            }
        } else {
            if ch == ':' && followed_by_whitespace {
                block_indicators = true;
            }
            if ch == '#' && preceded_by_whitespace {
                block_indicators = true;
            }
        }
        if ch == '\n' || ch == '\r' {
            line_breaks = true;
        }
        let printable = ch == '\n' || ('\x20'..='\x7e').contains(&ch);
        if !printable {
            special = true;
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == chars.len() - 1 {
                trailing_space = true;
            }
        }
        preceded_by_whitespace = matches!(ch, ' ' | '\t' | '\n' | '\r');
    }
    if special || line_breaks {
        return Style::Double;
    }
    let plain_allowed = !(leading_space || trailing_space || block_indicators);
    // A plain scalar must read back as the same string.
    if plain_allowed && resolve_plain(text) == ScalarKind::Str {
        return Style::Plain;
    }
    Style::Single
}

fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if ('\x20'..='\x7e').contains(&c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conda_file_as_the_sdk_sends_it() {
        let conda = json!({
            "name": "pydata-example",
            "channels": ["conda-forge"],
            "dependencies": ["python=3.8", "pip=21.2.4", {"pip": ["numpy==1.22", "scipy==1.7.1"]}],
        });
        assert_eq!(
            dump(&conda),
            "channels:\n- conda-forge\ndependencies:\n- python=3.8\n- pip=21.2.4\n- pip:\n  - numpy==1.22\n  - scipy==1.7.1\nname: pydata-example\n"
        );
    }

    #[test]
    fn quotes_what_would_read_back_differently() {
        let value = json!({"a": "3.8", "b": "yes", "c": "", "d": "x: y", "e": "#x", "f": "it's", "g": "é", "h": 1.5, "i": null, "j": {}, "k": []});
        assert_eq!(
            dump(&value),
            "a: '3.8'\nb: 'yes'\nc: ''\nd: 'x: y'\ne: '#x'\nf: it's\ng: \"\\xE9\"\nh: 1.5\ni: null\nj: {}\nk: []\n"
        );
    }

    #[test]
    fn nested_lists_and_long_lines() {
        let value = json!([["a"], {"k": "v"}]);
        assert_eq!(dump(&value), "- - a\n- k: v\n");
        let long = "word ".repeat(30).trim_end().to_owned();
        let text = dump(&json!({ "k": long }));
        assert!(text.lines().count() > 1, "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("  word"), "{text}");
    }
}
