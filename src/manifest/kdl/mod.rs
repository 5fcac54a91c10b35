//! KDL text to located [`Node`] trees: the second reader of the one manifest model.
//!
//! A KDL resource file holds one resource per top-level node. The node's name says what the
//! resource is (`data`, `environment`, `compute`, `job`, …), its first argument is the
//! resource's `name`, and its properties and children are the fields `az ml` reads from YAML,
//! with the same keys. Every KDL document is converted into the same [`Node`] tree the YAML
//! reader produces, so the kinds, the validation and the errors are shared, and errors point
//! into the KDL file.
//!
//! ```kdl
//! compute "cpu-cluster" type="amlcompute" {
//!     size "STANDARD_DS3_V2"
//!     max_instances 4
//!     tags { team "vision" }
//! }
//! ```
//!
//! How a field node reads:
//!
//! | KDL | YAML |
//! | --- | --- |
//! | `key "text"`, `key 4`, `key 0.5`, `key #true` | a scalar, typed as KDL types it |
//! | `key` (nothing after it) or `key #null` | `key:` (null) |
//! | `key { a 1; b 2 }`, `key a=1 b=2` | a mapping |
//! | `key {}` | `key: {}` |
//! | `key "a" "b"` (two or more values) | a list of scalars |
//! | `key { - "a"; - { x 1 } }` | a list of any items, one `-` node per item |
//! | `(list)key "a"`, `(list)key` | a list of one item, an empty list |
//! | `key (date)"2021-03-10"`, `(date-time)"2021-03-10T21:21:07"` | a YAML timestamp |
//!
//! Keys may not repeat: where KDL readers often collect repeated nodes into a list, amlops
//! asks for `-` items so that a misplaced duplicate is an error rather than a surprise.

/// The location of a kdl span (`SourceSpan`, which the kdl crate does not re-export) read by a
/// [`Reader`].
macro_rules! located {
    ($reader:expr, $span:expr) => {{
        let span = $span;
        $reader.loc_at(span.offset(), span.len())
    }};
}

pub mod comments;
pub mod print;
pub mod write;

use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

use super::node::{Entry, Node, NodeValue, Scalar, ScalarKind, python_float_repr, resolve_plain};
use crate::diag::{Diagnostic, Loc, Located, SourceFile, did_you_mean};

/// The node names a resource may be written under. The four amlops manages must agree with
/// the kind `az ml` reads from the keys; the others let any Azure ML file be converted.
pub const KIND_WORDS: &[&str] = &[
    "data",
    "environment",
    "compute",
    "job",
    "component",
    "model",
    "schedule",
    "flow",
    "resource",
    "document",
];

/// The node name of list items.
pub const ITEM: &str = "-";

/// Type annotations on values that mean a YAML timestamp.
pub const TIMESTAMP_TYPES: &[&str] = &["date", "date-time"];

/// The type annotation on a node that makes it a list.
pub const LIST_TYPE: &str = "list";

/// One resource node of a KDL file.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The node's name: what the resource is written as.
    pub kind_word: Located<String>,
    /// The resource as a mapping, its name argument included as `name`.
    pub doc: Node,
}

/// Turns byte offsets of the parsed text into lines and columns of the file.
pub struct SourceMap {
    /// Byte offset of the start of each line, in the file's text.
    starts: Vec<usize>,
    /// Bytes before the parsed text (a byte-order mark).
    base: usize,
}

impl SourceMap {
    pub fn new(text: &str, base: usize) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts, base }
    }

    /// The location of `len` bytes at `offset` of the parsed text.
    pub fn loc(&self, file: &Arc<SourceFile>, offset: usize, len: usize) -> Loc {
        let at = offset + self.base;
        let line = self.starts.partition_point(|start| *start <= at).max(1);
        let start = self.starts[line - 1];
        let text = &file.text;
        let column = text.get(start..at).map_or(1, |t| t.chars().count() + 1);
        let end = (at + len).min(text.len());
        let len = text.get(at..end).map_or(0, |t| t.chars().count());
        Loc::new(file, line as u32, column as u32, len as u32)
    }
}

/// Parses `file` as KDL, reporting syntax errors where they are.
pub fn parse_document(file: &Arc<SourceFile>) -> Result<(KdlDocument, SourceMap), Vec<Diagnostic>> {
    let (text, base) = match file.text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (file.text.as_str(), 0),
    };
    let map = SourceMap::new(&file.text, base);
    match text.parse::<KdlDocument>() {
        Ok(document) => Ok((document, map)),
        Err(error) => {
            Err(error
                .diagnostics
                .iter()
                .map(|d| {
                    let message = d
                        .message
                        .clone()
                        .unwrap_or_else(|| "unexpected text".into());
                    let mut diagnostic =
                        Diagnostic::error(format!("invalid KDL: {}", sentence(&message)))
                            .at(&map.loc(file, d.span.offset(), d.span.len()));
                    if let Some(help) = &d.help {
                        diagnostic = diagnostic.hint(sentence(help));
                    }
                    diagnostic
                })
                .collect())
        }
    }
}

/// A message in our style: lowercase first letter, no trailing period.
fn sentence(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.as_str().starts_with(|c: char| c.is_uppercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// The text of `file` in the canonical layout ([`print`]). Refuses, naming each, when the
/// layout would lose a comment: the kdl crate drops some comments while parsing (one after
/// a closing `}` on its line), and a formatter must never.
pub fn format(file: &Arc<SourceFile>) -> Result<String, Vec<Diagnostic>> {
    let (document, _) = parse_document(file)?;
    let printed = print::document(&document);
    let lost = comments::lost(&file.text, &printed);
    if lost.is_empty() {
        return Ok(printed);
    }
    Err(lost
        .iter()
        .map(|comment| {
            let first = comment.text.split('\n').next().unwrap_or_default();
            let (column, len) = file
                .line_text(comment.line)
                .and_then(|line| {
                    let at = ["//", "/*"]
                        .iter()
                        .find_map(|marker| line.find(&format!("{marker}{first}")))?;
                    Some((line[..at].chars().count() + 1, line[at..].chars().count()))
                })
                .unwrap_or((1, 0));
            Diagnostic::error("formatting would lose this comment, so the file is left as it is")
                .at(&Loc::new(file, comment.line, column as u32, len as u32))
                .hint("move the comment onto a line of its own")
        })
        .collect())
}

/// Parses a KDL resource file into its resources.
pub fn parse(file: &Arc<SourceFile>) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let (document, map) = parse_document(file)?;
    let reader = Reader { file, map: &map };
    let mut resources = Vec::new();
    let mut errors = Vec::new();
    for node in document.nodes() {
        match reader.resource(node) {
            Ok(resource) => resources.push(resource),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(resources)
    } else {
        Err(errors)
    }
}

/// Reads KDL nodes of one file into located [`Node`]s.
pub struct Reader<'a> {
    pub file: &'a Arc<SourceFile>,
    pub map: &'a SourceMap,
}

impl Reader<'_> {
    /// The location of `len` bytes at `offset` of the parsed text.
    pub fn loc_at(&self, offset: usize, len: usize) -> Loc {
        self.map.loc(self.file, offset, len)
    }

    /// Where a node's name is written.
    pub fn name_loc(&self, node: &KdlNode) -> Loc {
        located!(self, node.name().span())
    }

    /// A resource node: `KIND ["NAME"] [key=value…] [{ fields }]`.
    pub fn resource(&self, node: &KdlNode) -> Result<Resource, Diagnostic> {
        let word = node.name().value();
        let word_loc = self.name_loc(node);
        if !KIND_WORDS.contains(&word) {
            let mut diagnostic = Diagnostic::error(format!("unknown resource kind `{word}`"))
                .at(&word_loc)
                .hint(format!(
                    "a resource node is named for its kind: {}",
                    KIND_WORDS[..4]
                        .iter()
                        .map(|w| format!("`{w}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            if let Some(close) = did_you_mean(word, KIND_WORDS.iter().copied()) {
                diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
            }
            return Err(diagnostic);
        }
        if let Some(ty) = node.ty() {
            return Err(Diagnostic::error(format!(
                "a resource node takes no type annotation, found `({})`",
                ty.value()
            ))
            .at(&located!(self, ty.span())));
        }
        let (args, mut doc) = self.body(node, 1, "")?;
        if let Some(name) = args.into_iter().next() {
            insert_name(&mut doc, name)?;
        }
        Ok(Resource {
            kind_word: Located::new(word.to_owned(), word_loc),
            doc,
        })
    }

    /// A node's arguments (at most `max_args`) and its properties and children as a mapping.
    pub fn body(
        &self,
        node: &KdlNode,
        max_args: usize,
        path: &str,
    ) -> Result<(Vec<Node>, Node), Diagnostic> {
        let args: Vec<&KdlEntry> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect();
        if let Some(extra) = args.get(max_args) {
            let expected = match max_args {
                0 => "no value".to_owned(),
                1 => "one value".to_owned(),
                n => format!("{n} values"),
            };
            return Err(Diagnostic::error(format!(
                "`{}` takes {expected} before its fields",
                node.name().value()
            ))
            .at(&located!(self, extra.span()))
            .hint("write fields as `key=value` or as child nodes in `{ }`"));
        }
        let args = args
            .into_iter()
            .map(|e| self.scalar(e, path))
            .collect::<Result<Vec<_>, _>>()?;
        let entries = self.entries(node, path)?;
        let map = Node {
            value: NodeValue::Map(entries),
            loc: self.name_loc(node),
        };
        Ok((args, map))
    }

    /// A field node's value; see the module documentation for the forms.
    pub fn value(&self, node: &KdlNode, path: &str) -> Result<Node, Diagnostic> {
        let key_loc = self.name_loc(node);
        if self.is_list(node)? {
            return self.list(node, path, key_loc);
        }
        let args: Vec<&KdlEntry> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect();
        let has_props = node.entries().iter().any(|e| e.name().is_some());
        let children = node.children();
        if !has_props && children.is_none() {
            return Ok(match args.as_slice() {
                [] => Node {
                    value: NodeValue::Scalar(null()),
                    loc: key_loc,
                },
                [single] => self.scalar(single, path)?,
                many => Node {
                    loc: self.entry_value_loc(many[0]),
                    value: NodeValue::Seq(
                        many.iter()
                            .map(|e| self.scalar(e, path))
                            .collect::<Result<_, _>>()?,
                    ),
                },
            });
        }
        if let Some(first) = args.first() {
            return Err(Diagnostic::error(format!(
                "`{path}` has a value and also fields: write either `{} VALUE` or `{} {{ … }}`",
                node.name().value(),
                node.name().value()
            ))
            .at(&located!(self, first.span()))
            .field(path));
        }
        let items = children.map_or(0, |c| {
            c.nodes()
                .iter()
                .filter(|n| n.name().value() == ITEM)
                .count()
        });
        if items > 0 && !has_props && items == children.map_or(0, |c| c.nodes().len()) {
            return self.list(node, path, key_loc);
        }
        Ok(Node {
            value: NodeValue::Map(self.entries(node, path)?),
            loc: key_loc,
        })
    }

    fn is_list(&self, node: &KdlNode) -> Result<bool, Diagnostic> {
        match node.ty() {
            None => Ok(false),
            Some(ty) if ty.value() == LIST_TYPE => Ok(true),
            Some(ty) => Err(Diagnostic::error(format!(
                "unknown type annotation `({})` on a node",
                ty.value()
            ))
            .at(&located!(self, ty.span()))
            .hint("amlops reads `(list)` on nodes, and `(date)` or `(date-time)` on values")),
        }
    }

    /// The items of a list node: its arguments, then its `-` children.
    fn list(&self, node: &KdlNode, path: &str, loc: Loc) -> Result<Node, Diagnostic> {
        let mut items = Vec::new();
        for entry in node.entries() {
            if entry.name().is_some() {
                return Err(Diagnostic::error(format!(
                    "`{path}` is a list, which has items but no properties"
                ))
                .at(&located!(self, entry.span()))
                .field(path));
            }
            items.push(self.scalar(entry, path)?);
        }
        for child in node.children().map(KdlDocument::nodes).unwrap_or_default() {
            if child.name().value() != ITEM {
                return Err(Diagnostic::error(format!(
                    "`{path}` is a list, and `{}` is not an item",
                    child.name().value()
                ))
                .at(&self.name_loc(child))
                .field(path)
                .hint("write each item as `- VALUE` or `- { … }`"));
            }
            let item_path = format!("{path}[{}]", items.len());
            items.push(self.value(child, &item_path)?);
        }
        Ok(Node {
            value: NodeValue::Seq(items),
            loc,
        })
    }

    /// The properties and children of a node as mapping entries, in written order.
    fn entries(&self, node: &KdlNode, path: &str) -> Result<Vec<Entry>, Diagnostic> {
        let mut entries: Vec<Entry> = Vec::new();
        for entry in node.entries() {
            let Some(name) = entry.name() else { continue };
            let key = Located::new(name.value().to_owned(), located!(self, name.span()));
            let value = self.scalar(entry, &join(path, &key.value))?;
            push_entry(&mut entries, key, value, path)?;
        }
        for child in node.children().map(KdlDocument::nodes).unwrap_or_default() {
            let name = child.name().value();
            if name == ITEM {
                return Err(Diagnostic::error(format!(
                    "`{}` mixes list items (`-`) with keys",
                    if path.is_empty() {
                        node.name().value()
                    } else {
                        path
                    }
                ))
                .at(&self.name_loc(child))
                .hint("a node holds either `-` items (a list) or keys (a mapping)"));
            }
            let key = Located::new(name.to_owned(), self.name_loc(child));
            let value = self.value(child, &join(path, name))?;
            push_entry(&mut entries, key, value, path)?;
        }
        Ok(entries)
    }

    /// The location of an entry's value (a property's span starts at its key).
    fn entry_value_loc(&self, entry: &KdlEntry) -> Loc {
        let span = entry.span();
        let (mut offset, mut len) = (span.offset(), span.len());
        if entry.name().is_some()
            && let Some(format) = entry.format()
        {
            let value_len = format.value_repr.len().min(len);
            offset += len - value_len;
            len = value_len;
        }
        self.map.loc(self.file, offset, len)
    }

    /// A value, typed as KDL types it; `(date)` and `(date-time)` make YAML timestamps.
    pub fn scalar(&self, entry: &KdlEntry, path: &str) -> Result<Node, Diagnostic> {
        let loc = self.entry_value_loc(entry);
        let scalar = match (entry.ty().map(|t| t.value()), entry.value()) {
            (None, value) => scalar_of(value),
            (Some(ty), KdlValue::String(text)) if TIMESTAMP_TYPES.contains(&ty) => {
                if resolve_plain(text) != ScalarKind::Timestamp {
                    return Err(Diagnostic::error(format!(
                        "`{text}` is not a date or time as YAML writes them"
                    ))
                    .at(&loc)
                    .field(path)
                    .hint("write `2021-03-10` or `2021-03-10T21:21:07`, optionally with a zone"));
                }
                Scalar {
                    kind: ScalarKind::Timestamp,
                    text: text.clone(),
                    quoted: false,
                }
            }
            (Some(ty), _) => {
                let at = entry.ty().map(|t| located!(self, t.span())).unwrap_or(loc);
                return Err(Diagnostic::error(format!(
                    "unknown type annotation `({ty})` on a value"
                ))
                .at(&at)
                .field(path)
                .hint("amlops reads `(date)` and `(date-time)` on strings"));
            }
        };
        Ok(Node {
            value: NodeValue::Scalar(scalar),
            loc,
        })
    }
}

fn null() -> Scalar {
    Scalar {
        kind: ScalarKind::Null,
        text: String::new(),
        quoted: false,
    }
}

/// A KDL value as a scalar of the manifest model.
pub fn scalar_of(value: &KdlValue) -> Scalar {
    let (kind, text, quoted) = match value {
        KdlValue::String(s) => (ScalarKind::Str, s.clone(), true),
        KdlValue::Integer(i) => (ScalarKind::Int(*i), i.to_string(), false),
        KdlValue::Float(f) => (ScalarKind::Float(*f), python_float_repr(*f), false),
        KdlValue::Bool(b) => (ScalarKind::Bool(*b), b.to_string(), false),
        KdlValue::Null => return null(),
    };
    Scalar { kind, text, quoted }
}

fn join(parent: &str, key: &str) -> String {
    super::read::join(parent, key)
}

fn push_entry(
    entries: &mut Vec<Entry>,
    key: Located<String>,
    value: Node,
    path: &str,
) -> Result<(), Diagnostic> {
    if let Some(first) = entries.iter().find(|e| e.key.value == key.value) {
        return Err(
            Diagnostic::error(format!("`{}` is written twice", join(path, &key.value)))
                .at(&key.loc)
                .related("first written", &first.key.loc)
                .hint("write a list as `-` items: `key { - \"a\"; - \"b\" }`"),
        );
    }
    entries.push(Entry { key, value });
    Ok(())
}

/// Puts the name argument first in the mapping (after `$schema` when that comes first), where
/// YAML files usually have it, so that conversions keep the order of keys.
fn insert_name(doc: &mut Node, name: Node) -> Result<(), Diagnostic> {
    let NodeValue::Map(entries) = &mut doc.value else {
        return Ok(());
    };
    if let Some(written) = entries.iter().find(|e| e.key.value == "name") {
        return Err(
            Diagnostic::error("the name is given twice: as the argument and as `name`")
                .at(&written.key.loc)
                .related("argument", &name.loc),
        );
    }
    let at = usize::from(entries.first().is_some_and(|e| e.key.value == "$schema"));
    let key = Located::new("name".to_owned(), name.loc.clone());
    entries.insert(at, Entry { key, value: name });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(text: &str) -> Arc<SourceFile> {
        SourceFile::new(Path::new("r.kdl"), text.into())
    }

    fn one(text: &str) -> Resource {
        let mut resources = parse(&file(text)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(resources.len(), 1);
        resources.remove(0)
    }

    fn first_error(text: &str) -> Diagnostic {
        parse(&file(text)).expect_err("an error").remove(0)
    }

    #[test]
    fn fields_read_as_the_yaml_reader_reads_them() {
        let r = one(concat!(
            "compute \"cpu\" type=\"amlcompute\" {\n",
            "    size \"STANDARD_DS3_V2\"\n",
            "    max_instances 4\n",
            "    lr 1.5e-5\n",
            "    enabled #true\n",
            "    description\n",
            "    tags { team \"a\"; owner \"b\" }\n",
            "    empty {}\n",
            "    args \"a\" \"b\"\n",
            "    one { - \"x\" }\n",
            "    (list)none\n",
            "    when (date-time)\"2021-03-10T21:21:07\"\n",
            "}\n"
        ));
        assert_eq!(r.kind_word.value, "compute");
        let json = r.doc.to_json();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "cpu", "type": "amlcompute", "size": "STANDARD_DS3_V2", "max_instances": 4,
                "lr": 1.5e-5, "enabled": true, "description": null, "tags": {"team": "a", "owner": "b"},
                "empty": {}, "args": ["a", "b"], "one": ["x"], "none": [], "when": "2021-03-10 21:21:07"
            })
        );
        let keys: Vec<&str> = r
            .doc
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.key.value.as_str())
            .collect();
        assert_eq!(keys[..3], ["name", "type", "size"]);
        let when = r.doc.get("when").unwrap().scalar().unwrap();
        assert_eq!(when.kind, ScalarKind::Timestamp);
    }

    #[test]
    fn locations_point_at_keys_and_values() {
        let r = one("data \"iris\" {\n    path \"./é/x.csv\" \n    type \"uri_file\"\n}\n");
        let name = r.doc.get("name").unwrap();
        assert_eq!((name.loc.line, name.loc.column, name.loc.len), (1, 6, 6));
        let path = r.doc.get("path").unwrap();
        assert_eq!((path.loc.line, path.loc.column, path.loc.len), (2, 10, 11));
        let entries = r.doc.entries().unwrap();
        assert_eq!((entries[1].key.loc.line, entries[1].key.loc.column), (2, 5));
        assert_eq!((r.doc.loc.line, r.doc.loc.column, r.doc.loc.len), (1, 1, 4));
    }

    #[test]
    fn property_values_are_located_after_their_key() {
        let r = one("job x=1 {\n    resources instance_count=\"two\"\n}\n");
        let value = r
            .doc
            .get("resources")
            .unwrap()
            .get("instance_count")
            .unwrap();
        assert_eq!(
            (value.loc.line, value.loc.column, value.loc.len),
            (2, 30, 5)
        );
    }

    #[test]
    fn lists_of_maps_and_nested_lists() {
        let r = one("job {\n    items {\n        - { a 1 }\n        - 1 2\n        -\n    }\n}\n");
        assert_eq!(
            r.doc.get("items").unwrap().to_json(),
            serde_json::json!([{"a": 1}, [1, 2], null])
        );
    }

    #[test]
    fn structural_mistakes_are_located_errors() {
        let e = first_error("job {\n    command \"x\"\n    command \"y\"\n}\n");
        assert_eq!(e.message, "`command` is written twice");
        assert_eq!(e.loc.as_ref().unwrap().line, 3);
        let e = first_error("job {\n    inputs \"x\" { a 1 }\n}\n");
        assert!(
            e.message.contains("has a value and also fields"),
            "{}",
            e.message
        );
        let e = first_error("job {\n    x { - 1; b 2 }\n}\n");
        assert!(e.message.contains("mixes list items"), "{}", e.message);
        let e = first_error("cmpute \"c\" {}\n");
        assert_eq!(e.message, "unknown resource kind `cmpute`");
        assert!(e.hints.iter().any(|h| h == "did you mean `compute`?"));
        let e = first_error("data \"a\" \"b\"\n");
        assert!(e.message.contains("takes one value"), "{}", e.message);
        let e = first_error("data \"a\" {\n    name \"b\"\n}\n");
        assert!(e.message.contains("name is given twice"), "{}", e.message);
        let e = first_error("job {\n    x (u8)5\n}\n");
        assert!(
            e.message.contains("unknown type annotation `(u8)`"),
            "{}",
            e.message
        );
        let e = first_error("job {\n    x (date)\"soon\"\n}\n");
        assert!(e.message.contains("not a date"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_are_located_in_our_words() {
        let e = first_error("data \"a\" {\n    x 1.\n}\n");
        assert!(e.message.starts_with("invalid KDL: "), "{}", e.message);
        assert!(!e.message.ends_with('.'));
        assert_eq!(e.loc.as_ref().unwrap().line, 2);
    }

    #[test]
    fn name_goes_after_schema() {
        let r = one("data \"iris\" {\n    $schema \"s\"\n    path \"p\"\n}\n");
        let keys: Vec<&str> = r
            .doc
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.key.value.as_str())
            .collect();
        assert_eq!(keys, ["$schema", "name", "path"]);
    }

    #[test]
    fn messages_are_lowercased() {
        assert_eq!(sentence("Expected a value."), "expected a value");
        assert_eq!(sentence("KDL rules"), "KDL rules");
    }
}
