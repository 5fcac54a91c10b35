//! Located [`Node`] trees as KDL nodes: the inverse of the reader, for `amlops convert`.
//!
//! The writer picks the plainest form the reader reads back as the same tree: a resource's
//! `name` becomes the node's argument when it comes first, lists of two or more short
//! scalars are written on one line, other lists as `-` items. Comments collected from the
//! source go above the node they described.

use kdl::{
    KdlDocument, KdlDocumentFormat, KdlEntry, KdlEntryFormat, KdlNode, KdlNodeFormat, KdlValue,
};

use super::comments::Comments;
use super::print;
use super::{ITEM, LIST_TYPE};
use crate::diag::Diagnostic;
use crate::manifest::node::{Entry, Node, NodeValue, Scalar, ScalarKind};

/// Lists of scalars longer than this (in characters) are written one item per line, and
/// mappings of scalars up to this long are written as properties on one line.
const ONE_LINE_LIST: usize = 60;

/// Mappings of at most this many scalars may be written as properties.
const MAX_PROPERTIES: usize = 3;

/// Strings longer than this are continued over several lines.
const LONG_STRING: usize = 76;

/// A document as a resource node named `word`.
pub fn resource(word: &str, doc: &Node, comments: &mut Comments) -> Result<KdlNode, Diagnostic> {
    let NodeValue::Map(entries) = &doc.value else {
        return Err(Diagnostic::error(format!(
            "a document that is {} cannot be written as a KDL resource",
            doc.describe()
        ))
        .at(&doc.loc));
    };
    let mut node = KdlNode::new(word);
    let mut leading = comments.take_before(doc.loc.line);
    let name_at = entries
        .iter()
        .position(|e| e.key.value == "name")
        .filter(|i| *i == 0 || (*i == 1 && entries[0].key.value == "$schema"))
        .filter(|i| is_string(&entries[*i].value));
    let mut children = KdlDocument::new();
    let mut opening_comment = None;
    for (index, entry) in entries.iter().enumerate() {
        if Some(index) == name_at {
            leading.extend(comments.take_before(entry.key.loc.line));
            opening_comment = comments.take_after(entry.value.loc.line);
            node.push(entry_of(scalar(&entry.value)));
            continue;
        }
        children.nodes_mut().push(field(entry, comments, 1)?);
    }
    if !children.nodes().is_empty() || opening_comment.is_some() {
        if let Some(comment) = opening_comment {
            children.set_format(KdlDocumentFormat {
                leading: format!(" //{comment}\n"),
                trailing: String::new(),
            });
        }
        node.set_children(children);
    }
    decorate(&mut node, leading, None);
    Ok(node)
}

/// The comments below the last key (and any the writer found no place for), as the
/// trailing text of a document.
pub fn end_comments(document: &mut KdlDocument, comments: &mut Comments) {
    let rest = comments.take_rest();
    if rest.is_empty() {
        return;
    }
    let trailing: String = rest.iter().map(|c| format!("//{c}\n")).collect();
    document.set_format(KdlDocumentFormat {
        leading: String::new(),
        trailing,
    });
}

fn is_string(node: &Node) -> bool {
    matches!(node.scalar(), Some(s) if s.kind == ScalarKind::Str)
}

fn scalar(node: &Node) -> &Scalar {
    node.scalar().expect("checked to be a scalar")
}

/// One `key: value` as a field node at `depth`.
fn field(entry: &Entry, comments: &mut Comments, depth: usize) -> Result<KdlNode, Diagnostic> {
    if entry.key.value == ITEM {
        return Err(Diagnostic::error(
            "a key named `-` cannot be written in KDL, where `-` nodes are list items",
        )
        .at(&entry.key.loc));
    }
    let leading = comments.take_before(entry.key.loc.line);
    let mut node = KdlNode::new(entry.key.value.as_str());
    value_into(&mut node, &entry.value, comments, depth)?;
    let after = match &entry.value.value {
        NodeValue::Scalar(_) => comments.take_after(entry.value.loc.line),
        _ => None,
    };
    decorate(&mut node, leading, after);
    Ok(node)
}

/// Writes `value` as the arguments, properties or children of `node` (at `depth`).
fn value_into(
    node: &mut KdlNode,
    value: &Node,
    comments: &mut Comments,
    depth: usize,
) -> Result<(), Diagnostic> {
    match &value.value {
        NodeValue::Scalar(s) if s.kind == ScalarKind::Null => {}
        NodeValue::Scalar(s) => node.push(long_entry(entry_of(s), depth)),
        NodeValue::Map(entries) if as_properties(entries, comments) => {
            for entry in entries {
                let mut property = entry_of(scalar(&entry.value));
                property.set_name(Some(entry.key.value.as_str()));
                node.push(property);
            }
        }
        NodeValue::Map(entries) => {
            let mut children = KdlDocument::new();
            for entry in entries {
                children
                    .nodes_mut()
                    .push(field(entry, comments, depth + 1)?);
            }
            node.set_children(children);
        }
        NodeValue::Seq(items) => list_into(node, items, comments, depth)?,
    }
    Ok(())
}

/// Whether a mapping reads well as properties on one line: a few short scalars, none of
/// which has a comment to keep.
fn as_properties(entries: &[Entry], comments: &Comments) -> bool {
    let mut width = 0;
    (1..=MAX_PROPERTIES).contains(&entries.len())
        && entries.iter().all(|entry| match entry.value.scalar() {
            Some(s) => {
                width += entry.key.value.chars().count() + s.text.chars().count() + 4;
                s.kind != ScalarKind::Null
                    && !s.text.contains('\n')
                    && entry.key.value != ITEM
                    && width <= ONE_LINE_LIST
                    && !comments.before.contains_key(&entry.key.loc.line)
                    && !comments.after.contains_key(&entry.value.loc.line)
            }
            None => false,
        })
}

/// A long one-line string, continued over several lines.
fn long_entry(mut entry: KdlEntry, depth: usize) -> KdlEntry {
    if let KdlValue::String(text) = entry.value()
        && let Some(repr) = print::continued(text, depth, LONG_STRING)
    {
        entry.set_format(KdlEntryFormat {
            value_repr: repr,
            ..KdlEntryFormat::default()
        });
    }
    entry
}

fn list_into(
    node: &mut KdlNode,
    items: &[Node],
    comments: &mut Comments,
    depth: usize,
) -> Result<(), Diagnostic> {
    if items.is_empty() {
        node.set_ty(LIST_TYPE);
        return Ok(());
    }
    if one_line(items) {
        for item in items {
            node.push(entry_of(scalar(item)));
        }
        return Ok(());
    }
    let mut children = KdlDocument::new();
    for item in items {
        let leading = comments.take_before(item.loc.line);
        let mut child = KdlNode::new(ITEM);
        value_into(&mut child, item, comments, depth + 1)?;
        let after = match &item.value {
            NodeValue::Scalar(_) => comments.take_after(item.loc.line),
            _ => None,
        };
        decorate(&mut child, leading, after);
        children.nodes_mut().push(child);
    }
    node.set_children(children);
    Ok(())
}

/// Whether a list reads well as arguments on one line: two or more short scalars.
fn one_line(items: &[Node]) -> bool {
    let mut width = 0;
    items.len() >= 2
        && items.iter().all(|item| match item.scalar() {
            Some(s) => {
                width += s.text.chars().count() + 3;
                !s.text.contains('\n') && width <= ONE_LINE_LIST
            }
            None => false,
        })
}

/// A scalar as a KDL value; timestamps carry a `(date)` or `(date-time)` annotation.
pub fn entry_of(scalar: &Scalar) -> KdlEntry {
    let value = match &scalar.kind {
        ScalarKind::Null => KdlValue::Null,
        ScalarKind::Bool(b) => KdlValue::Bool(*b),
        ScalarKind::Int(i) => KdlValue::Integer(*i),
        ScalarKind::Float(f) => KdlValue::Float(*f),
        ScalarKind::Str | ScalarKind::Timestamp => KdlValue::String(scalar.text.clone()),
    };
    let mut entry = KdlEntry::new(value);
    if scalar.kind == ScalarKind::Timestamp {
        entry.set_ty(if scalar.text.len() == 10 {
            "date"
        } else {
            "date-time"
        });
    }
    entry
}

/// Puts comments above a node and at the end of its line.
fn decorate(node: &mut KdlNode, leading: Vec<String>, after: Option<String>) {
    if leading.is_empty() && after.is_none() {
        return;
    }
    node.set_format(KdlNodeFormat {
        leading: leading.iter().map(|c| format!("//{c}\n")).collect(),
        before_terminator: after.map(|c| format!(" //{c}")).unwrap_or_default(),
        ..KdlNodeFormat::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::manifest::kdl::print;
    use crate::manifest::yaml;
    use std::path::Path;

    fn convert(yaml_text: &str) -> String {
        let file = SourceFile::new(Path::new("t.yml"), yaml_text.into());
        let docs = yaml::parse(&file, &mut Vec::new()).unwrap();
        let mut comments = Comments::of_yaml(&file, &docs);
        let mut document = KdlDocument::new();
        for doc in &docs {
            document
                .nodes_mut()
                .push(resource("compute", doc, &mut comments).unwrap());
        }
        end_comments(&mut document, &mut comments);
        print::document(&document)
    }

    #[test]
    fn writes_the_plainest_form() {
        let text = "# A cluster.\n$schema: s\nname: cpu # the name\ntype: amlcompute\nmax_instances: 2 # two\nlocations: [a, b]\none: [x]\nnone: []\nempty: {}\nnothing:\nwhen: 2021-03-10\nscript: |\n  echo 1\n  echo 2\n# end\n";
        assert_eq!(
            convert(text),
            concat!(
                "// A cluster.\n",
                "compute \"cpu\" { // the name\n",
                "    $schema \"s\"\n",
                "    type \"amlcompute\"\n",
                "    max_instances 2 // two\n",
                "    locations \"a\" \"b\"\n",
                "    one {\n        - \"x\"\n    }\n",
                "    (list)none\n",
                "    empty {}\n",
                "    nothing\n",
                "    when (date)\"2021-03-10\"\n",
                "    script \"\"\"\n        echo 1\n        echo 2\n\n        \"\"\"\n",
                "}\n",
                "// end\n"
            )
        );
    }

    #[test]
    fn refuses_what_kdl_cannot_say() {
        let file = SourceFile::new(Path::new("t.yml"), "\"-\": 1\n".into());
        let docs = yaml::parse(&file, &mut Vec::new()).unwrap();
        let error = resource("document", &docs[0], &mut Comments::default()).unwrap_err();
        assert!(error.message.contains("`-`"), "{}", error.message);
        let file = SourceFile::new(Path::new("t.yml"), "- a\n".into());
        let docs = yaml::parse(&file, &mut Vec::new()).unwrap();
        assert!(resource("document", &docs[0], &mut Comments::default()).is_err());
    }
}
