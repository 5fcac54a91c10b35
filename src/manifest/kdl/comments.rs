//! Comments carried across a conversion between YAML and KDL.
//!
//! Neither reader keeps comments in the [`Node`] tree, so a conversion collects them from the
//! source text beside it: each whole-line comment belongs to the next key or list item below
//! it (its anchor line), and a comment at the end of a scalar's line belongs to that line.
//! Comments after the last key of a file are kept at the end.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::SourceFile;
use crate::manifest::node::{Node, NodeValue};

/// Comments of one file, by the line of what they describe.
#[derive(Debug, Default)]
pub struct Comments {
    /// Whole-line comments above the key or item that starts at the line, comment markers
    /// removed.
    pub before: BTreeMap<u32, Vec<String>>,
    /// The comment at the end of a line that holds a scalar.
    pub after: BTreeMap<u32, String>,
    /// Comments below the last key.
    pub end: Vec<String>,
}

impl Comments {
    /// Takes the comments above `line` (each is given once).
    pub fn take_before(&mut self, line: u32) -> Vec<String> {
        self.before.remove(&line).unwrap_or_default()
    }

    pub fn take_after(&mut self, line: u32) -> Option<String> {
        self.after.remove(&line)
    }

    /// Every comment not taken yet, in line order, for the end of the file: a writer that
    /// found no place for a comment keeps it there rather than losing it.
    pub fn take_rest(&mut self) -> Vec<String> {
        let mut rest: Vec<(u32, String)> = std::mem::take(&mut self.before)
            .into_iter()
            .flat_map(|(line, texts)| texts.into_iter().map(move |t| (line, t)))
            .chain(std::mem::take(&mut self.after))
            .collect();
        rest.sort_by_key(|(line, _)| *line);
        rest.into_iter()
            .map(|(_, text)| text)
            .chain(std::mem::take(&mut self.end))
            .collect()
    }

    /// Comments of a YAML file whose documents are `docs`.
    pub fn of_yaml(file: &SourceFile, docs: &[Node]) -> Self {
        let mut anchors = BTreeSet::new();
        let mut inside = BTreeSet::new();
        let mut scalar_ends = BTreeMap::new();
        for doc in docs {
            anchors.insert(doc.loc.line);
            collect(file, doc, &mut anchors, &mut inside, &mut scalar_ends);
        }
        let mut comments = Comments::default();
        for (index, text) in file.text.split('\n').enumerate() {
            let line = index as u32 + 1;
            let trimmed = text.trim();
            if inside.contains(&line) || !trimmed.starts_with('#') {
                continue;
            }
            comments.attach(line, &trimmed[1..], &anchors);
        }
        for (line, end_column) in scalar_ends {
            if let Some(rest) = file
                .line_text(line)
                .and_then(|t| after_column(t, end_column))
                && let Some(comment) = rest.trim_start().strip_prefix('#')
            {
                comments.after.insert(line, comment.to_owned());
            }
        }
        comments
    }

    /// Comments of a KDL file whose resources read as `docs`: `//` and `/* … */` comments, on
    /// lines of their own or at the end of a line. Commented-out nodes (`/-`) are code, not
    /// comments, and stay behind.
    pub fn of_kdl(file: &SourceFile, docs: &[Node]) -> Self {
        let mut anchors = BTreeSet::new();
        for doc in docs {
            anchors.insert(doc.loc.line);
            collect(
                file,
                doc,
                &mut anchors,
                &mut BTreeSet::new(),
                &mut BTreeMap::new(),
            );
        }
        let mut comments = Comments::default();
        for comment in kdl_comments(&file.text) {
            // A comment after a closing `}` has no key on its line to stay with.
            if comment.own_line || !anchors.contains(&comment.line) {
                for (offset, text) in comment.lines().enumerate() {
                    comments.attach(comment.line + offset as u32, text, &anchors);
                }
            } else {
                let text: Vec<&str> = comment.lines().collect();
                comments.after.insert(comment.line, text.join(" "));
            }
        }
        comments
    }

    fn attach(&mut self, line: u32, text: &str, anchors: &BTreeSet<u32>) {
        let text = text.trim_end().to_owned();
        match anchors.range(line + 1..).next() {
            Some(anchor) => self.before.entry(*anchor).or_default().push(text),
            None => self.end.push(text),
        }
    }
}

/// A comment found in KDL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdlComment {
    /// The line it starts on.
    pub line: u32,
    /// Its text, without `//` or `/*` and `*/`.
    pub text: String,
    /// Whether nothing but whitespace precedes it on its line.
    pub own_line: bool,
}

impl KdlComment {
    /// The comment's lines, trimmed, with the `*` that starts lines of block comments removed.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n').map(|line| {
            let line = line.trim_end();
            match line.trim_start().strip_prefix('*') {
                Some(rest) if !rest.starts_with('/') => rest,
                _ => line,
            }
        })
    }
}

/// Every comment of KDL text, in order: a small scanner that knows strings (quoted, `"""`,
/// raw with `#`), so that `//` inside a string is text. The kdl crate keeps comments only as
/// formatting and loses some of them; this is what checks that nothing is lost.
pub fn kdl_comments(text: &str) -> Vec<KdlComment> {
    let chars: Vec<char> = text.chars().collect();
    let mut scanner = Scanner {
        chars: &chars,
        at: 0,
        line: 1,
        code_on_line: false,
    };
    let mut found = Vec::new();
    while let Some(c) = scanner.peek(0) {
        match (c, scanner.peek(1)) {
            ('/', Some('/')) => found.push(scanner.line_comment()),
            ('/', Some('*')) => found.push(scanner.block_comment()),
            ('"', _) => scanner.quoted(),
            ('#', Some('#' | '"')) => scanner.raw(),
            _ => scanner.code(),
        }
    }
    found
}

struct Scanner<'t> {
    chars: &'t [char],
    at: usize,
    line: u32,
    code_on_line: bool,
}

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.code_on_line = false;
        }
        Some(c)
    }

    fn code(&mut self) {
        if let Some(c) = self.bump()
            && !c.is_whitespace()
        {
            self.code_on_line = true;
        }
    }

    fn line_comment(&mut self) -> KdlComment {
        let (line, own_line) = (self.line, !self.code_on_line);
        self.at += 2;
        let mut text = String::new();
        while let Some(c) = self.peek(0).filter(|c| *c != '\n') {
            text.push(c);
            self.at += 1;
        }
        KdlComment {
            line,
            text,
            own_line,
        }
    }

    fn block_comment(&mut self) -> KdlComment {
        let (line, own_line) = (self.line, !self.code_on_line);
        self.at += 2;
        let mut depth = 1;
        let mut text = String::new();
        while self.peek(0).is_some() {
            if self.starts_with("*/") {
                depth -= 1;
                if depth == 0 {
                    self.at += 2;
                    break;
                }
            } else if self.starts_with("/*") {
                depth += 1;
            }
            text.extend(self.bump());
        }
        KdlComment {
            line,
            text,
            own_line,
        }
    }

    /// A `"…"` or `"""…"""` string, escapes included.
    fn quoted(&mut self) {
        self.code_on_line = true;
        let closing = if self.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        };
        self.at += closing.len();
        while self.peek(0).is_some() {
            if self.starts_with(closing) {
                self.at += closing.len();
                return;
            }
            if self.bump() == Some('\\') {
                self.bump();
            }
        }
    }

    /// A raw string, `#"…"#` or `#"""…"""#` with any number of `#`, or other `#` code.
    fn raw(&mut self) {
        self.code_on_line = true;
        let hashes = self.chars[self.at..]
            .iter()
            .take_while(|c| **c == '#')
            .count();
        if self.peek(hashes) != Some('"') {
            self.at += hashes;
            return;
        }
        self.at += hashes;
        let quotes = if self.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        };
        let closing = format!("{quotes}{}", "#".repeat(hashes));
        self.at += quotes.len();
        while self.peek(0).is_some() {
            if self.starts_with(&closing) {
                self.at += closing.chars().count();
                return;
            }
            self.bump();
        }
    }
}

/// The comments of `original` (KDL text) that `printed` no longer holds, to refuse a
/// rewrite that would lose them.
pub fn lost(original: &str, printed: &str) -> Vec<KdlComment> {
    kdl_comments(original)
        .into_iter()
        .filter(|comment| !comment.lines().all(|line| printed.contains(line.trim())))
        .collect()
}

/// The text of `line` after its first `column - 1` characters.
fn after_column(line: &str, column: u32) -> Option<&str> {
    let skip: usize = line
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    line.get(skip..)
}

/// Records the lines keys and items start at, the lines inside multi-line scalars (where a
/// `#` is text), and where each single-line scalar ends.
fn collect(
    file: &SourceFile,
    node: &Node,
    anchors: &mut BTreeSet<u32>,
    inside: &mut BTreeSet<u32>,
    scalar_ends: &mut BTreeMap<u32, u32>,
) {
    match &node.value {
        NodeValue::Scalar(_) => {
            let (last_line, end_column) = end_of(file, node);
            if last_line == node.loc.line {
                scalar_ends.insert(node.loc.line, end_column);
            } else {
                inside.extend(node.loc.line..=last_line);
            }
        }
        NodeValue::Seq(items) => {
            for item in items {
                anchors.insert(item.loc.line);
                collect(file, item, anchors, inside, scalar_ends);
            }
        }
        NodeValue::Map(entries) => {
            for entry in entries {
                anchors.insert(entry.key.loc.line);
                collect(file, &entry.value, anchors, inside, scalar_ends);
            }
        }
    }
}

/// The last line a scalar's text covers, and the column just after it.
fn end_of(file: &SourceFile, node: &Node) -> (u32, u32) {
    let mut line = node.loc.line;
    let mut column = node.loc.column;
    let mut remaining = node.loc.len;
    while let Some(text) = file.line_text(line) {
        let width = text.chars().count() as u32;
        let available = (width + 1).saturating_sub(column);
        if remaining <= available {
            return (line, column + remaining);
        }
        remaining -= available + 1;
        if remaining == 0 {
            // The span ends with this line's line break.
            return (line, width + 1);
        }
        line += 1;
        column = 1;
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml;
    use std::path::Path;

    #[test]
    fn finds_kdl_comments_but_not_strings() {
        let text = "// one\nnode \"// not\" #\"/* raw */\"# /* two\n * more */ x // three\n\"\"\"\n// text\n\"\"\"\n/- gone\n";
        let found = kdl_comments(text);
        let texts: Vec<(&str, u32, bool)> = found
            .iter()
            .map(|c| (c.text.as_str(), c.line, c.own_line))
            .collect();
        assert_eq!(
            texts,
            [
                (" one", 1, true),
                (" two\n * more ", 2, false),
                (" three", 3, false)
            ]
        );
        let lines: Vec<&str> = found[1].lines().collect();
        assert_eq!(lines, [" two", " more"]);
    }

    #[test]
    fn lost_comments_are_found() {
        let original = "a { b 1 } // after\n// kept\n";
        let lost = lost(original, "a {\n    b 1\n}\n// kept\n");
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].line, lost[0].text.as_str()), (1, " after"));
    }

    #[test]
    fn yaml_comments_attach_to_the_key_below() {
        let text = "# header\nname: a # the name\n# about the command\ncommand: |\n  # not a comment\n  echo\ntags:\n  # a tag\n  t: 1\n# the end\n";
        let file = SourceFile::new(Path::new("t.yml"), text.into());
        let docs = yaml::parse(&file, &mut Vec::new()).unwrap();
        let comments = Comments::of_yaml(&file, &docs);
        assert_eq!(comments.before[&2], [" header"]);
        assert_eq!(comments.before[&4], [" about the command"]);
        assert_eq!(comments.before[&9], [" a tag"]);
        assert_eq!(comments.after[&2], " the name");
        assert_eq!(comments.end, [" the end"]);
        assert_eq!(comments.before.len(), 3);
    }
}
