//! KDL documents in amlops' one layout: what `amlops fmt` writes and `amlops convert` prints.
//!
//! - one node per line, four spaces per level, `{` on the node's line;
//! - strings always quoted; a string with line breaks as a `"""` block one level deeper (a
//!   one-line string continued over several lines with `\` is kept as written);
//! - integers in decimal; `#true`, `#false`, `#null`, `#inf`, `#-inf`, `#nan`;
//! - comments kept: whole-line comments stay above the node they precede, re-indented to it;
//!   a comment at the end of a node's line stays there; runs of blank lines become one.
//!
//! The printer changes layout only: the printed document reads as the same values (tests
//! check every corpus file), and printing it again changes nothing.

use std::fmt::Write as _;

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

const INDENT: &str = "    ";

/// The document in the canonical layout.
pub fn document(doc: &KdlDocument) -> String {
    let mut printer = Printer::default();
    if let Some(format) = doc.format() {
        printer.comments(&format.leading, 0, false, !doc.nodes().is_empty());
    }
    printer.nodes(doc.nodes(), 0);
    if let Some(format) = doc.format() {
        printer.comments(&format.trailing, 0, true, false);
    }
    let mut out = printer.out;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if out.trim().is_empty() {
        return String::new();
    }
    out
}

#[derive(Default)]
struct Printer {
    out: String,
    /// Whether anything was printed in the current block, so a blank line may follow.
    printed_in_block: bool,
}

/// A line of comments or other text found between nodes.
#[derive(Debug, PartialEq)]
enum Gap {
    Blank,
    Text(String),
}

impl Printer {
    fn nodes(&mut self, nodes: &[KdlNode], depth: usize) {
        for node in nodes {
            self.node(node, depth, false);
        }
    }

    /// Prints a node; `skip_leading` when its leading comments were printed already.
    fn node(&mut self, node: &KdlNode, depth: usize, skip_leading: bool) {
        if let Some(format) = node.format()
            && !skip_leading
        {
            self.comments(&format.leading, depth, true, true);
        }
        let pad = INDENT.repeat(depth);
        let mut line = pad.clone();
        if let Some(ty) = node.ty() {
            let _ = write!(line, "({})", identifier(ty.value()));
        }
        line.push_str(&identifier(node.name().value()));
        for entry in node.entries() {
            line.push(' ');
            entry_text(&mut line, entry, depth);
        }
        if let Some(children) = node.children() {
            if let Some(before) = node.format().map(|f| f.before_children.trim())
                && !before.is_empty()
            {
                let _ = write!(line, " {before}");
            }
            line = self.block(line, children, depth);
        }
        if let Some(comment) = node.format().and_then(end_of_line_comment) {
            let _ = write!(line, " {comment}");
        }
        self.out.push_str(&line);
        self.out.push('\n');
        self.printed_in_block = true;
    }

    /// Prints `{`, the children and the comments among them after `line` (the node so far),
    /// and returns the line that closes the block.
    fn block(&mut self, mut line: String, children: &KdlDocument, depth: usize) -> String {
        let inner = children.format();
        let first = children.nodes().first();
        // Everything between `{` and the first child: a comment on the `{` line, then
        // whole-line comments.
        let gap = format!(
            "{}{}",
            inner.map_or("", |f| f.leading.as_str()),
            first
                .and_then(KdlNode::format)
                .map_or("", |f| f.leading.as_str())
        );
        let trailing = inner.map_or("", |f| f.trailing.as_str());
        if first.is_none() && !has_text(&gap) && !has_text(trailing) {
            line.push_str(" {}");
            return line;
        }
        line.push_str(" {");
        let rest = match gap.split_once('\n') {
            Some((opening, rest)) => {
                if has_text(opening) {
                    let _ = write!(line, " {}", opening.trim());
                }
                rest
            }
            None => gap.as_str(),
        };
        self.out.push_str(&line);
        self.out.push('\n');
        self.printed_in_block = false;
        self.comments(rest, depth + 1, false, first.is_some());
        for (index, node) in children.nodes().iter().enumerate() {
            self.node(node, depth + 1, index == 0);
        }
        self.comments(trailing, depth + 1, true, false);
        format!("{}}}", INDENT.repeat(depth))
    }

    /// Prints the comments in `text` (whitespace and comments between nodes) at `depth`.
    /// `leading_blank` says whether an empty first line means a blank line; `before_node`
    /// whether a node follows (its own indentation ends `text`).
    fn comments(&mut self, text: &str, depth: usize, leading_blank: bool, before_node: bool) {
        let gaps = gaps(text, leading_blank, before_node);
        let pad = INDENT.repeat(depth);
        let mut pending_blank = false;
        for gap in gaps {
            match gap {
                Gap::Blank => pending_blank = true,
                Gap::Text(line) => {
                    if pending_blank && self.printed_in_block {
                        self.out.push('\n');
                    }
                    pending_blank = false;
                    let _ = writeln!(self.out, "{pad}{line}");
                    self.printed_in_block = true;
                }
            }
        }
        if pending_blank && self.printed_in_block && before_node {
            self.out.push('\n');
        }
    }
}

/// The lines of a gap between nodes, dedented, with blank lines marked.
fn gaps(text: &str, leading_blank: bool, before_node: bool) -> Vec<Gap> {
    let mut lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    if before_node {
        // What precedes the node on its own line: its indentation, or a comment.
        if lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
    } else if lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut gaps = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            if i > 0 || leading_blank {
                gaps.push(Gap::Blank);
            }
            continue;
        }
        let text = if i == 0 {
            line.trim()
        } else {
            let cut = indent.min(line.len() - line.trim_start().len());
            line[cut..].trim_end()
        };
        gaps.push(Gap::Text(text.to_owned()));
    }
    gaps
}

fn has_text(text: &str) -> bool {
    !text.trim().is_empty()
}

/// A comment after a node on its line (`size "S" // why`).
fn end_of_line_comment(format: &kdl::KdlNodeFormat) -> Option<String> {
    let text = format!("{}{}", format.before_terminator, format.terminator);
    let text = text.trim().trim_start_matches(';').trim();
    (text.starts_with("//") || text.starts_with("/*")).then(|| text.to_owned())
}

/// A node name or property key: bare where KDL allows it, quoted otherwise.
pub fn identifier(name: &str) -> String {
    KdlIdentifier::from(name).to_string()
}

fn entry_text(out: &mut String, entry: &KdlEntry, depth: usize) {
    if let Some(format) = entry.format()
        && has_text(&format.leading)
    {
        let _ = write!(out, "{} ", format.leading.trim());
    }
    if let Some(name) = entry.name() {
        let _ = write!(out, "{}=", identifier(name.value()));
    }
    if let Some(ty) = entry.ty() {
        let _ = write!(out, "({})", identifier(ty.value()));
    }
    out.push_str(&match (entry.value(), entry.format()) {
        // A one-line string written over several lines with `\` continuations keeps its
        // layout: that is how long commands stay readable.
        (KdlValue::String(s), Some(format))
            if !s.contains('\n') && format.value_repr.contains('\n') =>
        {
            format.value_repr.clone()
        }
        (value, _) => value_text(value, depth),
    });
    if let Some(format) = entry.format()
        && has_text(&format.trailing)
    {
        let _ = write!(out, " {}", format.trailing.trim());
    }
}

/// A value as the canonical layout writes it, for a node at `depth`.
pub fn value_text(value: &KdlValue, depth: usize) -> String {
    match value {
        KdlValue::String(s) => {
            multi_line(s, depth + 1).unwrap_or_else(|| format!("\"{}\"", escape(s, false)))
        }
        KdlValue::Integer(i) => i.to_string(),
        KdlValue::Float(f) if f.is_nan() => "#nan".into(),
        KdlValue::Float(f) if f.is_infinite() => if *f > 0.0 { "#inf" } else { "#-inf" }.into(),
        KdlValue::Float(f) => float_text(*f),
        KdlValue::Bool(true) => "#true".into(),
        KdlValue::Bool(false) => "#false".into(),
        KdlValue::Null => "#null".into(),
    }
}

/// The shortest text that reads back as `f` and as a float (with a dot or an exponent).
fn float_text(f: f64) -> String {
    let text = format!("{f:?}");
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// A string with line breaks as a `"""` block whose lines are indented to `depth`, when the
/// block reads back as exactly this string: no carriage returns, and no line that is only
/// spaces (KDL reads those as empty).
fn multi_line(text: &str, depth: usize) -> Option<String> {
    if !text.contains('\n') || text.contains('\r') {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.iter().any(|l| !l.is_empty() && l.trim().is_empty()) {
        return None;
    }
    let pad = INDENT.repeat(depth);
    let mut out = String::from("\"\"\"\n");
    for line in &lines {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(&escape(line, true));
        }
        out.push('\n');
    }
    out.push_str(&pad);
    out.push_str("\"\"\"");
    Some(out)
}

/// A long one-line string as a quoted string continued over several lines (`\` at the end of
/// a line joins the next one to it), broken at single spaces: before each `--option` of a
/// command line, and wherever a line of text would grow longer than `width`. `None` when it
/// is short or has no place to break.
pub fn continued(text: &str, depth: usize, width: usize) -> Option<String> {
    if text.chars().count() <= width || text.contains('\n') {
        return None;
    }
    let words: Vec<&str> = text.split(' ').collect();
    let options = words.iter().filter(|w| w.starts_with("--")).count() >= 2;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (i, word) in words.iter().enumerate() {
        // A continuation swallows the whitespace that starts the next line, so a break
        // may only come before a word that starts with none.
        let can_break =
            i > 0 && !line.is_empty() && !word.is_empty() && !word.starts_with(char::is_whitespace);
        let full = line.chars().count() + 1 + word.chars().count() > width;
        if can_break && (full || (options && word.starts_with("--"))) {
            lines.push(std::mem::take(&mut line));
        } else if i > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    if lines.len() < 2 {
        return None;
    }
    let pad = INDENT.repeat(depth + 1);
    let escaped: Vec<String> = lines.iter().map(|l| escape(l, false)).collect();
    Some(format!("\"{}\"", escaped.join(&format!(" \\\n{pad}"))))
}

/// Escapes a string's text for a quoted KDL string (`multi_line`: a line of a `"""` block,
/// where tabs stay as they are).
fn escape(text: &str, multi_line: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if multi_line => out.push('\t'),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if disallowed(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Code points KDL does not allow written as they are.
fn disallowed(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
        || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{B}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reprint(text: &str) -> String {
        document(
            &text
                .parse::<KdlDocument>()
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
    }

    #[test]
    fn lays_out_nodes_and_values() {
        let text = "compute cpu type=amlcompute { size STANDARD_DS3_V2; max_instances 0x10\nlr 1.5e-5; on #true\n  none; f 1.0 ; t (date)\"2021-01-01\" }\n";
        assert_eq!(
            reprint(text),
            "compute \"cpu\" type=\"amlcompute\" {\n    size \"STANDARD_DS3_V2\"\n    max_instances 16\n    lr 1.5e-5\n    on #true\n    none\n    f 1.0\n    t (date)\"2021-01-01\"\n}\n"
        );
    }

    #[test]
    fn keeps_comments_where_they_are() {
        let text = "// header\n\n// about data\ndata \"a\" { // opening\n      // inner\n  path \"p\" // why\n\n\n  /- type \"x\"\n  tags {\n  }\n  // closing\n}\n// end\n";
        let printed = reprint(text);
        assert_eq!(
            printed,
            "// header\n\n// about data\ndata \"a\" { // opening\n    // inner\n    path \"p\" // why\n\n    /- type \"x\"\n    tags {}\n    // closing\n}\n// end\n"
        );
        assert_eq!(reprint(&printed), printed, "printing again changes nothing");
    }

    #[test]
    fn multi_line_strings_become_blocks() {
        let mut node = KdlNode::new("job");
        let mut child = KdlNode::new("command");
        child.push(KdlEntry::new("python a.py \\\n  --x \"1\"\n\tdone\n"));
        node.ensure_children().nodes_mut().push(child);
        let mut doc = KdlDocument::new();
        doc.nodes_mut().push(node);
        let printed = document(&doc);
        assert_eq!(
            printed,
            "job {\n    command \"\"\"\n        python a.py \\\\\n          --x \\\"1\\\"\n        \tdone\n\n        \"\"\"\n}\n"
        );
        let back: KdlDocument = printed.parse().unwrap();
        let value = back.nodes()[0].children().unwrap().nodes()[0].entries()[0].value();
        assert_eq!(
            value.as_string(),
            Some("python a.py \\\n  --x \"1\"\n\tdone\n")
        );
    }

    #[test]
    fn values_read_back_as_themselves() {
        let values = [
            KdlValue::String("a\"b\\c\td\u{1}".into()),
            KdlValue::String("line\n  \nspaces".into()),
            KdlValue::String("no newline\nat end".into()),
            KdlValue::String("\n".into()),
            KdlValue::Float(1e20),
            KdlValue::Float(1e-5),
            KdlValue::Float(3.0),
            KdlValue::Float(-0.0),
            KdlValue::Integer(i64::MIN as i128),
            KdlValue::Null,
        ];
        for value in values {
            let text = format!("n {}\n", value_text(&value, 0));
            let doc: KdlDocument = text.parse().unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let back = doc.nodes()[0].entries()[0].value();
            assert_eq!(back, &value, "{text}");
            assert_eq!(
                std::mem::discriminant(back),
                std::mem::discriminant(&value),
                "{text}"
            );
        }
    }

    #[test]
    fn long_strings_continue_over_lines() {
        let text = "python train.py --data ${{inputs.iris}}  --test-fraction ${{inputs.test_fraction}} --seed 42 \"x\"";
        let repr = continued(text, 1, 40).unwrap();
        assert_eq!(
            repr,
            "\"python train.py \\\n        --data ${{inputs.iris}}  \\\n        --test-fraction \\\n        ${{inputs.test_fraction}} \\\n        --seed 42 \\\"x\\\"\""
        );
        let doc: KdlDocument = format!("n {repr}\n").parse().unwrap();
        assert_eq!(doc.nodes()[0].entries()[0].value().as_string(), Some(text));
        assert_eq!(continued("short", 1, 40), None);
        assert_eq!(continued(&"x".repeat(50), 1, 40), None);
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(identifier("$schema"), "$schema");
        assert_eq!(identifier("max_instances"), "max_instances");
        assert_eq!(identifier("a b"), "\"a b\"");
        assert_eq!(identifier("1x"), "\"1x\"");
        assert_eq!(identifier("true"), "\"true\"");
    }
}
