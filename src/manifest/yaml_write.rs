//! Located [`Node`] trees as YAML text that `az ml` (PyYAML, YAML 1.1) reads back as the
//! same tree: block style, keys in their order, a scalar plain only when it reads back as the
//! same type, multi-line strings as literal blocks. Comments collected from the source go
//! above the key they described.
//!
//! This is not [`super::pydump`]: that one reproduces `yaml.dump` byte for byte (keys sorted)
//! for what the SDK hashes; this one writes files for people.

use std::fmt::Write as _;

use super::kdl::comments::Comments;
use super::node::{Entry, Node, NodeValue, Scalar, ScalarKind, python_float_repr, resolve_plain};

/// The documents as one YAML file (`---` between documents).
pub fn documents(docs: &[Node], comments: &mut Comments) -> String {
    let mut writer = Writer {
        out: String::new(),
        comments,
    };
    for (index, doc) in docs.iter().enumerate() {
        if index > 0 {
            writer.out.push_str("---\n");
        }
        writer.document(doc);
    }
    for comment in writer.comments.take_rest() {
        let _ = writeln!(writer.out, "#{comment}");
    }
    writer.out
}

struct Writer<'c> {
    out: String,
    comments: &'c mut Comments,
}

impl Writer<'_> {
    fn document(&mut self, doc: &Node) {
        self.comments_above(doc.loc.line, 0);
        match &doc.value {
            NodeValue::Map(entries) if !entries.is_empty() => self.mapping(entries, 0, false),
            NodeValue::Seq(items) if !items.is_empty() => self.sequence(items, 0, false),
            _ => {
                self.out.push_str(&self.value_text(doc, 0));
                self.out.push('\n');
            }
        }
    }

    fn comments_above(&mut self, line: u32, indent: usize) {
        for comment in self.comments.take_before(line) {
            let _ = writeln!(self.out, "{}#{comment}", " ".repeat(indent));
        }
    }

    /// A block mapping at `indent`; `inline` when its first key follows a `- ` already written.
    fn mapping(&mut self, entries: &[Entry], indent: usize, inline: bool) {
        for (index, entry) in entries.iter().enumerate() {
            if !(inline && index == 0) {
                self.comments_above(entry.key.loc.line, indent);
                self.out.push_str(&" ".repeat(indent));
            }
            self.out.push_str(&key_text(&entry.key.value));
            self.out.push(':');
            self.after_indicator(&entry.value, indent, entry.key.loc.line);
        }
    }

    /// A block sequence at `indent`; `inline` when its first item follows a `- ` already
    /// written.
    fn sequence(&mut self, items: &[Node], indent: usize, inline: bool) {
        for (index, item) in items.iter().enumerate() {
            if !(inline && index == 0) {
                self.comments_above(item.loc.line, indent);
                if let NodeValue::Map(entries) = &item.value
                    && let Some(first) = entries.first()
                {
                    self.comments_above(first.key.loc.line, indent);
                }
                self.out.push_str(&" ".repeat(indent));
            }
            self.out.push('-');
            match &item.value {
                NodeValue::Map(entries) if !entries.is_empty() => {
                    self.out.push(' ');
                    self.mapping(entries, indent + 2, true);
                }
                NodeValue::Seq(nested) if !nested.is_empty() => {
                    self.out.push(' ');
                    self.sequence(nested, indent + 2, true);
                }
                _ => self.after_indicator(item, indent, item.loc.line),
            }
        }
    }

    /// What follows `key:` or `-` written at `line`: a scalar on the same line, or a block
    /// below.
    fn after_indicator(&mut self, value: &Node, indent: usize, line: u32) {
        match &value.value {
            NodeValue::Map(entries) if !entries.is_empty() => {
                self.block_start(value, line);
                self.mapping(entries, indent + 2, false);
            }
            NodeValue::Seq(items) if !items.is_empty() => {
                self.block_start(value, line);
                self.sequence(items, indent + 2, false);
            }
            NodeValue::Scalar(s) if s.kind == ScalarKind::Null => {
                self.end_of_line(value);
            }
            _ => {
                let text = self.value_text(value, indent + 2);
                match text.split_once('\n') {
                    Some((indicator, block)) => {
                        let _ = write!(self.out, " {indicator}");
                        self.end_of_line(value);
                        self.out.push_str(block);
                    }
                    None => {
                        let _ = write!(self.out, " {text}");
                        self.end_of_line(value);
                    }
                }
            }
        }
    }

    /// Ends the line of a key whose value is a block: with the comment written on the key's
    /// line, when the block's node was written there (as KDL writes `key { // why`).
    fn block_start(&mut self, value: &Node, line: u32) {
        if value.loc.line == line {
            self.end_of_line(value);
        } else {
            self.out.push('\n');
        }
    }

    fn end_of_line(&mut self, value: &Node) {
        if let Some(comment) = self.comments.take_after(value.loc.line) {
            let _ = write!(self.out, " #{comment}");
        }
        self.out.push('\n');
    }

    fn value_text(&self, node: &Node, indent: usize) -> String {
        match &node.value {
            NodeValue::Scalar(s) => scalar_text(s, indent),
            NodeValue::Map(_) => "{}".into(),
            NodeValue::Seq(_) => "[]".into(),
        }
    }
}

/// A scalar as YAML text; a literal block (`|` and its lines, at `indent`) for multi-line
/// strings that allow it.
pub fn scalar_text(scalar: &Scalar, indent: usize) -> String {
    match &scalar.kind {
        ScalarKind::Null => "null".into(),
        ScalarKind::Bool(b) => b.to_string(),
        ScalarKind::Int(i) => i.to_string(),
        ScalarKind::Float(f) => float_text(*f),
        ScalarKind::Timestamp if resolve_plain(&scalar.text) == ScalarKind::Timestamp => {
            scalar.text.clone()
        }
        ScalarKind::Timestamp => double_quoted(&scalar.text),
        ScalarKind::Str => literal_block(&scalar.text, indent).unwrap_or_else(|| {
            if plain_ok(&scalar.text) {
                scalar.text.clone()
            } else {
                double_quoted(&scalar.text)
            }
        }),
    }
}

/// A float as YAML 1.1 reads one: with a dot, and a signed exponent.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let text = python_float_repr(f);
    if text.contains('.') {
        return text;
    }
    match text.find('e') {
        Some(i) => format!("{}.0{}", &text[..i], &text[i..]),
        None => format!("{text}.0"),
    }
}

fn key_text(key: &str) -> String {
    if plain_ok(key) {
        key.to_owned()
    } else {
        double_quoted(key)
    }
}

/// Whether `text` can be written plain (unquoted) and read back as the same string.
fn plain_ok(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let indicator = "?:,[]{}#&*!|>'\"%@`".contains(first)
        || (first == '-' && (text.len() == 1 || text[1..].starts_with(' ')));
    !indicator
        && resolve_plain(text) == ScalarKind::Str
        && text.trim() == text
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.starts_with("---")
        && !text.starts_with("...")
        && text
            .chars()
            .all(|c| !c.is_control() && c != '\u{feff}' && c != '\u{85}')
        && !text.contains(['\u{2028}', '\u{2029}'])
}

/// A multi-line string as a literal block scalar, when one can hold it exactly.
fn literal_block(text: &str, indent: usize) -> Option<String> {
    if !text.contains('\n')
        || text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}' || c == '\u{85}')
        || text.contains(['\u{2028}', '\u{2029}'])
    {
        return None;
    }
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let lines: Vec<&str> = body.split('\n').collect();
    if lines
        .iter()
        .any(|l| !l.is_empty() && l.trim_start_matches(' ').is_empty())
    {
        return None;
    }
    if lines.iter().any(|l| l.starts_with('\t') && l.len() == 1) {
        return None;
    }
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let first_content = lines.iter().find(|l| !l.is_empty())?;
    let indicator = if first_content.starts_with([' ', '\t']) {
        "2"
    } else {
        ""
    };
    let pad = " ".repeat(indent);
    let mut out = format!("|{indicator}{chomp}\n");
    for line in &lines {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(out)
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::manifest::convert::same_tree;
    use crate::manifest::yaml;
    use std::path::Path;

    fn round_trip(text: &str) -> String {
        let file = SourceFile::new(Path::new("t.yml"), text.into());
        let docs = yaml::parse(&file, &mut Vec::new()).unwrap();
        let mut comments = Comments::of_yaml(&file, &docs);
        let written = documents(&docs, &mut comments);
        let again = SourceFile::new(Path::new("u.yml"), written.clone());
        let back =
            yaml::parse(&again, &mut Vec::new()).unwrap_or_else(|e| panic!("{written}\n{e}"));
        assert_eq!(docs.len(), back.len());
        for (a, b) in docs.iter().zip(&back) {
            same_tree(a, b, "").unwrap_or_else(|e| panic!("{e}\n{written}"));
        }
        written
    }

    #[test]
    fn scalars_keep_their_types() {
        let written = round_trip(concat!(
            "a: \"01\"\nb: 01\nc: \"yes\"\nd: 2e-5\ne: 1.0e-05\nf: \"1.5\"\ng: 1e+16\nh: ~\n",
            "i: \"- x\"\nj: \"a: b\"\nk: \"#x\"\nl: \"\"\nm: 2021-03-10\nn: \"2021-03-10\"\n",
            "o: --flag\np: \"x \"\nq: ${{inputs.x}}\nr: \"\\t\"\n"
        ));
        assert!(written.contains("q: ${{inputs.x}}\n"), "{written}");
        assert!(written.contains("o: --flag\n"), "{written}");
        assert!(written.contains("a: \"01\"\n"), "{written}");
    }

    #[test]
    fn blocks_and_nesting() {
        let written = round_trip(concat!(
            "# top\nname: x\nscript: |\n  line 1\n    indented\n\n  end\nkeep: |+\n  a\n\n",
            "strip: |-\n  a\n  b\nlead: \"  spaced\\nsecond\"\nlist:\n  - a\n  - {b: 1, c: [1, 2]}\n  - [x, y]\n  -\n",
            "empty: {}\nnone: []\nnested:\n  inner:\n    deep: 1 # deep\n# bottom\n"
        ));
        assert!(
            written.starts_with("# top\nname: x\nscript: |\n  line 1\n"),
            "{written}"
        );
        assert!(written.contains("    deep: 1 # deep\n"), "{written}");
        assert!(written.ends_with("# bottom\n"), "{written}");
    }

    #[test]
    fn multi_document_files() {
        let written = round_trip("a: 1\n---\nb: 2\n");
        assert_eq!(written, "a: 1\n---\nb: 2\n");
    }
}
