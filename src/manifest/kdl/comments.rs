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

    /// Comments of a KDL file whose resources read as `docs`: `//` comments and whole-line
    /// `/* … */` blocks. Commented-out nodes (`/-`) are code, not comments, and stay behind.
    pub fn of_kdl(file: &SourceFile, docs: &[Node]) -> Self {
        let mut anchors = BTreeSet::new();
        let mut inside = BTreeSet::new();
        let mut scalar_ends = BTreeMap::new();
        for doc in docs {
            anchors.insert(doc.loc.line);
            collect(file, doc, &mut anchors, &mut inside, &mut scalar_ends);
        }
        let mut comments = Comments::default();
        let mut in_block = false;
        for (index, text) in file.text.split('\n').enumerate() {
            let line = index as u32 + 1;
            let trimmed = text.trim();
            if inside.contains(&line) {
                continue;
            }
            if in_block {
                let body = trimmed.trim_end_matches("*/").trim_start_matches('*');
                in_block = !trimmed.ends_with("*/");
                comments.attach(line, body, &anchors);
            } else if let Some(body) = trimmed.strip_prefix("//") {
                comments.attach(line, body, &anchors);
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                in_block = !body.ends_with("*/");
                comments.attach(line, body.trim_end_matches("*/"), &anchors);
            }
        }
        for (line, end_column) in scalar_ends {
            if let Some(rest) = file
                .line_text(line)
                .and_then(|t| after_column(t, end_column))
                && let Some(comment) = rest.trim_start().strip_prefix("//")
            {
                comments.after.insert(line, comment.to_owned());
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
