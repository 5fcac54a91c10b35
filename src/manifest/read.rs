//! Reading located document trees into typed values, with the strictness of `az ml`.
//!
//! A [`Fields`] wraps one mapping. Each accessor marks its key as used and checks the value's
//! type; at the end, [`Fields::finish`] reports every key nobody asked for as unknown, with a
//! "did you mean" among the keys the mapping accepts. Problems are collected in a shared
//! [`Diagnostic`] list so that one run reports all of them.

use std::collections::BTreeMap;

use super::node::{Entry, Node, NodeValue, Scalar, ScalarKind};
use crate::diag::{Diagnostic, Loc, Located, did_you_mean};

/// Collects the problems found while reading one file, and the other files it refers to.
#[derive(Default)]
pub struct Problems {
    pub items: Vec<Diagnostic>,
    /// Files and folders that resources refer to (conda files, environment files, code
    /// folders, components): these are not resources of their own.
    pub referenced: Vec<std::path::PathBuf>,
}

impl Problems {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn error(&mut self, loc: &Loc, field: &str, message: impl Into<String>) {
        let mut diagnostic = Diagnostic::error(message).at(loc);
        if !field.is_empty() {
            diagnostic = diagnostic.field(field);
        }
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Records that a resource refers to `path`.
    pub fn refer(&mut self, path: &std::path::Path) {
        self.referenced.push(path.to_path_buf());
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
}

/// The largest file amlops reads as YAML: manifests, conda files and component files are
/// small, and a limit keeps a mistaken path (a device, a data file) from stalling a run.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a file a manifest names (or a manifest itself), refusing what is no regular file or
/// is too large to be one.
pub fn read_file_text(path: &std::path::Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not valid UTF-8"))
}

/// Joins a parent field path and a key: `inputs` + `lr` is `inputs.lr`.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The keys of one mapping, read one at a time.
pub struct Fields<'n> {
    node: &'n Node,
    entries: &'n [Entry],
    used: Vec<bool>,
    /// Dotted path of this mapping within its document (empty at the top).
    path: String,
    /// What the mapping is, for messages: "a command job", "an input".
    what: String,
    allowed: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Starts reading `node` as a mapping. Reports an error and returns `None` when it is not.
    pub fn new(node: &'n Node, path: &str, what: &str, problems: &mut Problems) -> Option<Self> {
        let Some(entries) = node.entries() else {
            problems.error(
                &node.loc,
                path,
                format!(
                    "{} must be a mapping, found {}",
                    describe_field(path, what),
                    node.describe()
                ),
            );
            return None;
        };
        Some(Self {
            node,
            entries,
            used: vec![false; entries.len()],
            path: path.to_owned(),
            what: what.to_owned(),
            allowed: Vec::new(),
        })
    }

    pub fn node(&self) -> &'n Node {
        self.node
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn loc(&self) -> &'n Loc {
        &self.node.loc
    }

    /// The dotted path of key `key` in this mapping.
    pub fn child_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Declares keys this mapping accepts without reading them (yet), so that they are not
    /// reported as unknown and are offered as suggestions.
    pub fn allow(&mut self, keys: &[&'static str]) {
        self.allowed.extend_from_slice(keys);
    }

    /// Whether key `key` is present (with any value, null included).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key.value == key)
    }

    /// The raw node of `key`, marking it as used. Null values count as present.
    pub fn take(&mut self, key: &'static str) -> Option<&'n Node> {
        self.allowed.push(key);
        let index = self.entries.iter().rposition(|e| e.key.value == key)?;
        self.used[index] = true;
        Some(&self.entries[index].value)
    }

    /// The key's located name, when present.
    pub fn key_loc(&self, key: &str) -> Option<&'n Loc> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.value == key)
            .map(|e| &e.key.loc)
    }

    /// Like [`Self::take`], but a null value counts as absent.
    pub fn take_some(&mut self, key: &'static str) -> Option<&'n Node> {
        self.take(key).filter(|n| !n.is_null())
    }

    /// A required key: reports its absence.
    pub fn require(&mut self, key: &'static str, problems: &mut Problems) -> Option<&'n Node> {
        let node = self.take_some(key);
        if node.is_none() {
            let message = if self.has(key) {
                format!(
                    "`{}` must have a value in {}",
                    self.child_path(key),
                    self.what
                )
            } else {
                format!(
                    "missing required key `{}` in {}",
                    self.child_path(key),
                    self.what
                )
            };
            problems.error(
                self.key_loc(key).unwrap_or(&self.node.loc),
                &self.child_path(key),
                message,
            );
        }
        node
    }

    /// A string value. Numbers and booleans are refused, as marshmallow's `Str` does.
    pub fn str(&mut self, key: &'static str, problems: &mut Problems) -> Option<Located<String>> {
        let node = self.take_some(key)?;
        expect_str(node, &self.child_path(key), problems)
    }

    pub fn req_str(
        &mut self,
        key: &'static str,
        problems: &mut Problems,
    ) -> Option<Located<String>> {
        let node = self.require(key, problems)?;
        expect_str(node, &self.child_path(key), problems)
    }

    /// A scalar of any type, as the text Python's `str()` gives it (versions, literals).
    pub fn text(&mut self, key: &'static str, problems: &mut Problems) -> Option<Located<String>> {
        let node = self.take_some(key)?;
        expect_text(node, &self.child_path(key), problems)
    }

    pub fn int(&mut self, key: &'static str, problems: &mut Problems) -> Option<Located<i64>> {
        let node = self.take_some(key)?;
        expect_int(node, &self.child_path(key), problems)
    }

    pub fn number(&mut self, key: &'static str, problems: &mut Problems) -> Option<Located<f64>> {
        let node = self.take_some(key)?;
        expect_number(node, &self.child_path(key), problems)
    }

    pub fn bool(&mut self, key: &'static str, problems: &mut Problems) -> Option<Located<bool>> {
        let node = self.take_some(key)?;
        match node.scalar() {
            Some(Scalar {
                kind: ScalarKind::Bool(b),
                ..
            }) => Some(Located::new(*b, node.loc.clone())),
            // marshmallow's Boolean also takes the strings "true"/"false" and 0/1.
            Some(s) => match s.text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(Located::new(true, node.loc.clone())),
                "false" | "0" | "no" | "off" => Some(Located::new(false, node.loc.clone())),
                _ => {
                    type_error(node, &self.child_path(key), "a boolean", problems);
                    None
                }
            },
            None => {
                type_error(node, &self.child_path(key), "a boolean", problems);
                None
            }
        }
    }

    /// A string that must be one of `choices` (compared as `az ml` does, ignoring case).
    pub fn choice(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
        problems: &mut Problems,
    ) -> Option<Located<&'static str>> {
        let value = self.str(key, problems)?;
        check_choice(&value, &self.child_path(key), choices, problems)
    }

    /// A mapping of strings to strings (tags, environment variables, properties).
    pub fn str_map(
        &mut self,
        key: &'static str,
        problems: &mut Problems,
    ) -> BTreeMap<String, String> {
        let Some(node) = self.take_some(key) else {
            return BTreeMap::new();
        };
        let path = self.child_path(key);
        let Some(fields) = Fields::new(node, &path, &self.what, problems) else {
            return BTreeMap::new();
        };
        fields
            .entries
            .iter()
            .filter_map(|e| {
                let value = expect_text(&e.value, &join(&path, &e.key.value), problems)?;
                Some((e.key.value.clone(), value.value))
            })
            .collect()
    }

    /// The entries of a nested mapping, each with its key.
    pub fn map(&mut self, key: &'static str, problems: &mut Problems) -> Vec<&'n Entry> {
        let Some(node) = self.take_some(key) else {
            return Vec::new();
        };
        match node.entries() {
            Some(entries) => entries.iter().collect(),
            None => {
                type_error(node, &self.child_path(key), "a mapping", problems);
                Vec::new()
            }
        }
    }

    /// A list of strings.
    pub fn str_list(&mut self, key: &'static str, problems: &mut Problems) -> Vec<Located<String>> {
        let Some(node) = self.take_some(key) else {
            return Vec::new();
        };
        let path = self.child_path(key);
        match node.items() {
            Some(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| expect_str(item, &format!("{path}[{i}]"), problems))
                .collect(),
            None => {
                type_error(node, &path, "a list", problems);
                Vec::new()
            }
        }
    }

    /// Reports every key that no accessor asked for as unknown, as `az ml` does.
    pub fn finish(self, problems: &mut Problems) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            let key = entry.key.value.as_str();
            if *used || self.allowed.contains(&key) || (self.path.is_empty() && key == "$schema") {
                continue;
            }
            let mut diagnostic =
                Diagnostic::error(format!("unknown key `{}` in {}", key, self.what))
                    .at(&entry.key.loc)
                    .field(join(&self.path, key));
            if let Some(suggestion) = did_you_mean(key, self.allowed.iter().copied()) {
                // A misspelt required key: one error here says it all, so the one about
                // the required key being absent goes.
                let missing = format!(
                    "missing required key `{}` in {}",
                    join(&self.path, suggestion),
                    self.what
                );
                let before = problems.items.len();
                problems
                    .items
                    .retain(|d| !(d.message == missing && d.loc.as_ref() == Some(&self.node.loc)));
                diagnostic = diagnostic.hint(if problems.items.len() < before {
                    format!("did you mean `{suggestion}`? It is required.")
                } else {
                    format!("did you mean `{suggestion}`?")
                });
            }
            problems.push(diagnostic);
        }
    }

    /// Finishes without checking for unknown keys, for mappings `az ml` loads leniently.
    pub fn finish_lenient(self) {}
}

fn describe_field(path: &str, what: &str) -> String {
    if path.is_empty() {
        format!("the document ({what})")
    } else {
        format!("`{path}`")
    }
}

pub fn type_error(node: &Node, path: &str, expected: &str, problems: &mut Problems) {
    problems.error(
        &node.loc,
        path,
        format!("`{path}` must be {expected}, found {}", node.describe()),
    );
}

pub fn expect_str(node: &Node, path: &str, problems: &mut Problems) -> Option<Located<String>> {
    match node.scalar() {
        Some(s) if s.kind == ScalarKind::Str => {
            Some(Located::new(s.text.clone(), node.loc.clone()))
        }
        Some(s) if s.kind == ScalarKind::Timestamp => {
            Some(Located::new(s.python_str(), node.loc.clone()))
        }
        _ => {
            let hint = node
                .scalar()
                .filter(|s| s.kind != ScalarKind::Null)
                .map(|s| format!("quote it to use it as text: \"{}\"", s.text));
            let mut diagnostic = Diagnostic::error(format!(
                "`{path}` must be a string, found {}",
                node.describe()
            ))
            .at(&node.loc)
            .field(path);
            if let Some(hint) = hint {
                diagnostic = diagnostic.hint(hint);
            }
            problems.push(diagnostic);
            None
        }
    }
}

/// Any non-null scalar, as Python's `str()` writes it.
pub fn expect_text(node: &Node, path: &str, problems: &mut Problems) -> Option<Located<String>> {
    match node.scalar() {
        Some(s) if s.kind != ScalarKind::Null => {
            Some(Located::new(s.python_str(), node.loc.clone()))
        }
        _ => {
            type_error(node, path, "a string or number", problems);
            None
        }
    }
}

pub fn expect_int(node: &Node, path: &str, problems: &mut Problems) -> Option<Located<i64>> {
    let value = match node.scalar().map(|s| (&s.kind, s)) {
        Some((ScalarKind::Int(i), _)) => i64::try_from(*i).ok(),
        Some((ScalarKind::Float(f), _)) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
        Some((ScalarKind::Str, s)) => s.text.trim().parse().ok(),
        _ => None,
    };
    if value.is_none() {
        if matches!(node.scalar().map(|s| &s.kind), Some(ScalarKind::Int(_))) {
            problems.error(
                &node.loc,
                path,
                format!("`{path}` is too large: integers go up to {}", i64::MAX),
            );
        } else {
            type_error(node, path, "an integer", problems);
        }
    }
    value.map(|v| Located::new(v, node.loc.clone()))
}

pub fn expect_number(node: &Node, path: &str, problems: &mut Problems) -> Option<Located<f64>> {
    let value = match node.scalar().map(|s| (&s.kind, s)) {
        Some((ScalarKind::Int(i), _)) => Some(*i as f64),
        Some((ScalarKind::Float(f), _)) => Some(*f),
        Some((ScalarKind::Str, s)) => s.text.trim().parse().ok(),
        _ => None,
    };
    if value.is_none() {
        type_error(node, path, "a number", problems);
    }
    value.map(|v| Located::new(v, node.loc.clone()))
}

/// Checks a string against a fixed set of values, ignoring case as the SDK's enum fields do,
/// and returns the canonical spelling.
pub fn check_choice(
    value: &Located<String>,
    path: &str,
    choices: &[&'static str],
    problems: &mut Problems,
) -> Option<Located<&'static str>> {
    if let Some(choice) = choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(&value.value))
    {
        return Some(Located::new(*choice, value.loc.clone()));
    }
    let mut diagnostic = Diagnostic::error(format!(
        "`{path}` must be one of {}, found `{}`",
        choices
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        value.value
    ))
    .at(&value.loc)
    .field(path);
    if let Some(suggestion) = did_you_mean(&value.value, choices.iter().copied()) {
        diagnostic = diagnostic.hint(format!("did you mean `{suggestion}`?"));
    }
    problems.push(diagnostic);
    None
}

/// Whether `node` is a mapping (as opposed to a scalar or list).
pub fn is_map(node: &Node) -> bool {
    matches!(node.value, NodeValue::Map(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::manifest::yaml;
    use std::path::Path;

    fn doc(text: &str) -> Node {
        let file = SourceFile::new(Path::new("t.yml"), text.into());
        yaml::parse(&file, &mut Vec::new()).unwrap().remove(0)
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let node = doc("name: a\ncomand: x\n");
        let mut problems = Problems::default();
        let mut fields = Fields::new(&node, "", "a command job", &mut problems).unwrap();
        fields.str("name", &mut problems);
        fields.allow(&["command"]);
        fields.finish(&mut problems);
        assert_eq!(problems.items.len(), 1);
        let d = &problems.items[0];
        assert_eq!(d.message, "unknown key `comand` in a command job");
        assert_eq!(d.hints, vec!["did you mean `command`?".to_owned()]);
        assert_eq!(d.loc.as_ref().unwrap().line, 2);
    }

    #[test]
    fn strings_refuse_numbers_but_text_takes_them() {
        let node = doc("name: 12\nversion: 01\n");
        let mut problems = Problems::default();
        let mut fields = Fields::new(&node, "", "a data asset", &mut problems).unwrap();
        assert!(fields.str("name", &mut problems).is_none());
        assert_eq!(fields.text("version", &mut problems).unwrap().value, "1");
        assert_eq!(problems.error_count(), 1);
        assert!(problems.items[0].hints[0].contains("\"12\""));
    }

    #[test]
    fn required_keys_and_choices() {
        let node = doc("type: URI_FILE\n");
        let mut problems = Problems::default();
        let mut fields = Fields::new(&node, "", "a data asset", &mut problems).unwrap();
        assert!(fields.req_str("path", &mut problems).is_none());
        let choice = fields.choice("type", &["uri_file", "uri_folder"], &mut problems);
        assert_eq!(choice.unwrap().value, "uri_file");
        assert_eq!(
            problems.items[0].message,
            "missing required key `path` in a data asset"
        );
    }
}
