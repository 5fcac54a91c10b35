//! Variables in manifests: `${var.NAME}`.
//!
//! The syntax is chosen so that it can never change the meaning of a file that works today:
//!
//! - Azure ML's own expressions are `${{…}}` (bindings) and `$[[…]]` (optional fragments);
//!   `${var.` has `var.` where those have a second brace or bracket, so neither can be read
//!   as the other.
//! - In POSIX shells `${var.name}` is a "bad substitution" error, so no working `command:`
//!   contains it, while `$VAR`, `${VAR}`, `$(…)` and `$((…))` are left alone.
//! - None of the files of Microsoft's example corpus contains `${var.` (a test checks).
//! - It reads like Terraform's `${var.name}`, which the people who write these files know.
//!
//! `$${var.NAME}` writes the text `${var.NAME}` without substituting it.
//!
//! Values are typed. A scalar that is exactly one reference becomes the variable's value with
//! its type (an integer variable makes `max_instances: ${var.nodes}` an integer; a string
//! variable stays a string even when it reads `01`). A reference inside longer text is replaced
//! by the value's text: strings as they are, integers in decimal, numbers as Python prints
//! them, booleans as `true`/`false`.

use std::collections::BTreeMap;
use std::fmt;

use super::node::{Node, NodeValue, Scalar, ScalarKind, python_float_repr};
use super::read::join;
use crate::diag::{Diagnostic, Loc, did_you_mean};
use crate::model::ValueOrigin;

/// What a reference starts with.
pub const OPEN: &str = "${var.";

/// The value of a variable.
#[derive(Clone, Debug, PartialEq)]
pub enum VarValue {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

impl VarValue {
    /// The text a reference inside longer text is replaced by.
    pub fn text(&self) -> String {
        match self {
            VarValue::Str(s) => s.clone(),
            VarValue::Int(i) => i.to_string(),
            VarValue::Float(f) => python_float_repr(*f),
            VarValue::Bool(b) => b.to_string(),
        }
    }

    /// The scalar a whole-scalar reference becomes.
    pub fn scalar(&self) -> Scalar {
        let (kind, quoted) = match self {
            VarValue::Str(_) => (ScalarKind::Str, true),
            VarValue::Int(i) => (ScalarKind::Int(*i), false),
            VarValue::Float(f) => (ScalarKind::Float(*f), false),
            VarValue::Bool(b) => (ScalarKind::Bool(*b), false),
        };
        Scalar {
            kind,
            text: self.text(),
            quoted,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            VarValue::Str(s) => serde_json::Value::String(s.clone()),
            VarValue::Int(i) => i64::try_from(*i)
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::String(i.to_string())),
            VarValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(python_float_repr(*f))),
            VarValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

impl fmt::Display for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarValue::Str(s) => write!(f, "{s:?}"),
            other => f.write_str(&other.text()),
        }
    }
}

/// A variable's value and where it was set.
#[derive(Clone, Debug)]
pub struct Variable {
    pub value: VarValue,
    pub origin: ValueOrigin,
    /// Declared `sensitive`: its value is never shown (plans, `amlops targets`, errors).
    pub sensitive: bool,
}

/// The variables a manifest may use, as one target resolves them.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    values: BTreeMap<String, Variable>,
    /// Declared variables without a value, with the reason in a sentence.
    unset: BTreeMap<String, String>,
    /// Where variables are declared, for hints (`amlops.kdl`).
    declared_in: Option<String>,
}

impl Variables {
    pub fn new(declared_in: Option<String>) -> Self {
        Self {
            declared_in,
            ..Self::default()
        }
    }

    pub fn set(&mut self, name: impl Into<String>, variable: Variable) {
        let name = name.into();
        self.unset.remove(&name);
        self.values.insert(name, variable);
    }

    /// Declares `name` without a value; using it is an error that gives `why`.
    pub fn leave_unset(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.unset.insert(name.into(), why.into());
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.values.get(name)
    }

    pub fn values(&self) -> impl Iterator<Item = (&String, &Variable)> {
        self.values.iter()
    }

    /// The text of every sensitive value, for redacting what is shown.
    pub fn secrets(&self) -> Vec<String> {
        self.values
            .values()
            .filter(|v| v.sensitive)
            .map(|v| v.value.text())
            .filter(|text| !text.is_empty())
            .collect()
    }

    pub fn unset(&self) -> impl Iterator<Item = (&String, &String)> {
        self.unset.iter()
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.values
            .keys()
            .chain(self.unset.keys())
            .map(String::as_str)
    }

    /// Why `name` cannot be used, as a diagnostic at `at`.
    fn unusable(&self, name: &str, at: &Loc) -> Diagnostic {
        if let Some(why) = self.unset.get(name) {
            return Diagnostic::error(format!("variable `{name}` has no value: {why}"))
                .at(at)
                .hint("give it a `default`, a value in the target's `variables`, or `--var`");
        }
        let mut diagnostic = Diagnostic::error(format!("unknown variable `{name}`")).at(at);
        if let Some(close) = did_you_mean(name, self.names()) {
            diagnostic = diagnostic.hint(format!("did you mean `${{var.{close}}}`?"));
        }
        diagnostic.hint(match &self.declared_in {
            Some(file) => format!("declare it with `variable \"{name}\" type=\"string\"` in {file}"),
            None => format!(
                "declare it with `variable \"{name}\" type=\"string\"` in amlops.kdl at the root of the manifest directory"
            ),
        })
    }
}

/// One piece of a string that may hold references.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece<'t> {
    Text(&'t str),
    /// `${var.` written as `$${var.`.
    EscapedOpen,
    /// A reference; the offset (in bytes) of its `$` in the string.
    Reference {
        name: &'t str,
        offset: usize,
    },
}

/// A reference that is not well formed: the offset of its `$` and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    pub offset: usize,
    pub problem: &'static str,
}

/// Splits `text` into literal text and references.
pub fn pieces(text: &str) -> Result<Vec<Piece<'_>>, Malformed> {
    let mut pieces = Vec::new();
    let mut rest = 0;
    let mut literal_from = 0;
    while let Some(found) = text[rest..].find("${var.") {
        let at = rest + found;
        if at > 0 && text.as_bytes()[at - 1] == b'$' {
            push_text(&mut pieces, &text[literal_from..at - 1]);
            pieces.push(Piece::EscapedOpen);
            rest = at + OPEN.len();
            literal_from = rest;
            continue;
        }
        let name_from = at + OPEN.len();
        let Some(close) = text[name_from..].find('}') else {
            return Err(Malformed {
                offset: at,
                problem: "has no closing `}`",
            });
        };
        let name = &text[name_from..name_from + close];
        if !valid_name(name) {
            return Err(Malformed {
                offset: at,
                problem: "needs a name of letters, digits, `_` and `-`, starting with a letter or `_`",
            });
        }
        push_text(&mut pieces, &text[literal_from..at]);
        pieces.push(Piece::Reference { name, offset: at });
        rest = name_from + close + 1;
        literal_from = rest;
    }
    push_text(&mut pieces, &text[literal_from..]);
    Ok(pieces)
}

fn push_text<'t>(pieces: &mut Vec<Piece<'t>>, text: &'t str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
}

/// Variable names: a letter or `_`, then letters, digits, `_` and `-`.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `text` may hold a reference or an escape, checked before the slower split.
pub fn mentions_variables(text: &str) -> bool {
    text.contains(OPEN)
}

/// The references of a string, in order (duplicates kept).
pub fn references(text: &str) -> Vec<&str> {
    pieces(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Reference { name, .. } => Some(name),
            _ => None,
        })
        .collect()
}

/// Substitutes every reference in the tree below `node`, whose dotted path is `path`.
///
/// Each field whose value came from a variable is recorded in `origins` with its path.
/// Problems are located where the reference is written; the tree keeps a reference that
/// could not be substituted, so later reading may report more.
pub fn substitute(
    node: &mut Node,
    path: &str,
    variables: &Variables,
    origins: &mut Vec<(String, ValueOrigin)>,
    problems: &mut Vec<Diagnostic>,
) {
    match &mut node.value {
        NodeValue::Scalar(scalar) => {
            if scalar.kind == ScalarKind::Str && mentions_variables(&scalar.text) {
                substitute_scalar(node, path, variables, origins, problems);
            }
        }
        NodeValue::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), variables, origins, problems);
            }
        }
        NodeValue::Map(entries) => {
            for entry in entries {
                let child = join(path, &entry.key.value);
                substitute(&mut entry.value, &child, variables, origins, problems);
            }
        }
    }
}

fn substitute_scalar(
    node: &mut Node,
    path: &str,
    variables: &Variables,
    origins: &mut Vec<(String, ValueOrigin)>,
    problems: &mut Vec<Diagnostic>,
) {
    let NodeValue::Scalar(scalar) = &node.value else {
        return;
    };
    let text = scalar.text.clone();
    let pieces = match pieces(&text) {
        Ok(pieces) => pieces,
        Err(malformed) => {
            let at = locate(&node.loc, &text[malformed.offset..], OPEN.len());
            problems.push(
                Diagnostic::error(format!(
                    "malformed variable reference: `${{var.` {}",
                    malformed.problem
                ))
                .at(&at)
                .field(path)
                .hint("write `${var.NAME}`, or `$${var.` for the text `${var.`"),
            );
            return;
        }
    };
    let mut first_origin = None;
    let mut out = String::new();
    let mut failed = false;
    for piece in &pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::EscapedOpen => out.push_str(OPEN),
            Piece::Reference { name, offset } => match variables.get(name) {
                Some(variable) => {
                    out.push_str(&variable.value.text());
                    first_origin.get_or_insert_with(|| variable.origin.clone());
                }
                None => {
                    let written = format!("${{var.{name}}}");
                    let at = locate(&node.loc, &text[*offset..], written.len());
                    problems.push(variables.unusable(name, &at).field(path));
                    failed = true;
                }
            },
        }
    }
    if failed {
        return;
    }
    let replacement = match pieces.as_slice() {
        [Piece::Reference { name, .. }] => variables.get(name).map(|v| v.value.scalar()),
        _ => None,
    };
    node.value = NodeValue::Scalar(replacement.unwrap_or_else(|| Scalar::string(out)));
    if let Some(origin) = first_origin {
        origins.push((path.to_owned(), origin));
    }
}

/// The place of `needle` (its first `len` bytes) in the source at or after `loc`, so that a
/// caret points at the reference rather than at the start of a long command. Falls back to
/// `loc` when the text is not found as written (escaped in quotes, folded).
pub fn locate(loc: &Loc, needle: &str, len: usize) -> Loc {
    let needle = needle.get(..len).unwrap_or(needle);
    let file = &loc.file;
    let mut from_column = loc.column;
    for line in loc.line..loc.line.saturating_add(64) {
        let Some(text) = file.line_text(line) else {
            break;
        };
        let skip: usize = text
            .chars()
            .take(from_column.saturating_sub(1) as usize)
            .map(char::len_utf8)
            .sum();
        if let Some(found) = text.get(skip..).and_then(|rest| rest.find(needle)) {
            let column = text[..skip + found].chars().count() as u32 + 1;
            return Loc::new(file, line, column, needle.chars().count() as u32);
        }
        from_column = 1;
    }
    loc.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::manifest::yaml;
    use crate::model::OriginKind;
    use std::path::Path;

    fn origin(name: &str) -> ValueOrigin {
        ValueOrigin {
            kind: OriginKind::Variable,
            variable: Some(name.into()),
            target: Some("dev".into()),
            source: "amlops.kdl:3".into(),
        }
    }

    fn variables() -> Variables {
        let mut vars = Variables::new(Some("amlops.kdl".into()));
        vars.set(
            "nodes",
            Variable {
                value: VarValue::Int(2),
                origin: origin("nodes"),
                sensitive: false,
            },
        );
        vars.set(
            "version",
            Variable {
                value: VarValue::Str("01".into()),
                origin: origin("version"),
                sensitive: false,
            },
        );
        vars.set(
            "lr",
            Variable {
                value: VarValue::Float(1e-5),
                origin: origin("lr"),
                sensitive: false,
            },
        );
        vars.leave_unset("region", "target `dev` sets no value and it has no default");
        vars
    }

    fn doc(text: &str) -> Node {
        let file = SourceFile::new(Path::new("job.yml"), text.into());
        yaml::parse(&file, &mut Vec::new()).unwrap().remove(0)
    }

    #[test]
    fn splits_references_and_escapes() {
        assert_eq!(
            pieces("a ${var.x} $${var.y} ${{inputs.z}} ${HOME}").unwrap(),
            vec![
                Piece::Text("a "),
                Piece::Reference {
                    name: "x",
                    offset: 2
                },
                Piece::Text(" "),
                Piece::EscapedOpen,
                Piece::Text("y} ${{inputs.z}} ${HOME}"),
            ]
        );
        assert_eq!(pieces("${var.x").unwrap_err().offset, 0);
        assert!(pieces("x ${var.9a}").is_err());
        assert!(
            pieces("${{var.x}}").unwrap().len() == 1,
            "a binding is text"
        );
    }

    #[test]
    fn whole_scalars_keep_the_variable_type() {
        let mut node = doc("max: ${var.nodes}\nversion: \"${var.version}\"\nlr: ${var.lr}\n");
        let (mut origins, mut problems) = (Vec::new(), Vec::new());
        substitute(&mut node, "", &variables(), &mut origins, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let max = node.get("max").unwrap().scalar().unwrap();
        assert_eq!(max.kind, ScalarKind::Int(2));
        let version = node.get("version").unwrap().scalar().unwrap();
        assert_eq!(
            (version.kind.clone(), version.text.as_str()),
            (ScalarKind::Str, "01")
        );
        let lr = node.get("lr").unwrap().scalar().unwrap();
        assert_eq!(lr.python_str(), "1e-05");
        let paths: Vec<&str> = origins.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["max", "version", "lr"]);
    }

    #[test]
    fn references_inside_text_are_replaced_by_text() {
        let mut node =
            doc("command: python t.py --n ${var.nodes} --lr ${var.lr} $${var.x} ${{inputs.a}}\n");
        let (mut origins, mut problems) = (Vec::new(), Vec::new());
        substitute(&mut node, "", &variables(), &mut origins, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            node.get_str("command"),
            Some("python t.py --n 2 --lr 1e-05 ${var.x} ${{inputs.a}}")
        );
        assert_eq!(origins[0].1.variable.as_deref(), Some("nodes"));
    }

    #[test]
    fn unknown_and_unset_variables_are_located() {
        let mut node = doc("name: x\ncommand: echo ${var.node} ${var.region}\n");
        let (mut origins, mut problems) = (Vec::new(), Vec::new());
        substitute(&mut node, "", &variables(), &mut origins, &mut problems);
        assert_eq!(problems.len(), 2);
        let unknown = &problems[0];
        assert_eq!(unknown.message, "unknown variable `node`");
        let loc = unknown.loc.as_ref().unwrap();
        assert_eq!((loc.line, loc.column, loc.len), (2, 15, 11));
        assert_eq!(unknown.hints[0], "did you mean `${var.nodes}`?");
        assert!(
            problems[1]
                .message
                .starts_with("variable `region` has no value")
        );
        assert_eq!(problems[1].loc.as_ref().unwrap().column, 27);
        assert!(origins.is_empty());
    }

    #[test]
    fn malformed_references_are_errors() {
        let mut node = doc("command: echo ${var.nodes\n");
        let mut problems = Vec::new();
        substitute(&mut node, "", &variables(), &mut Vec::new(), &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("no closing"));
    }

    #[test]
    fn values_print_as_text() {
        assert_eq!(VarValue::Bool(true).text(), "true");
        assert_eq!(VarValue::Float(0.5).text(), "0.5");
        assert_eq!(VarValue::Int(-3).text(), "-3");
    }
}
