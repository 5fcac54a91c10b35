//! Variable values for a selected target: a value given on the command line wins over the
//! target's value, which wins over the declared default. A value may refer to other
//! variables (`default "${var.prefix}-cpu"`); references are followed, cycles refused, and
//! every value is checked against its variable's type.

use std::collections::BTreeMap;

use super::{Override, Project, TargetDecl, VariableDecl};
use crate::diag::{Diagnostic, did_you_mean};
use crate::manifest::node::{Node, ScalarKind};
use crate::manifest::read::Problems;
use crate::manifest::vars::{self, Piece, VarValue, Variable, Variables};
use crate::model::{OriginKind, ValueOrigin};

/// The type of a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    String,
    Integer,
    /// An integer or a float, kept as written.
    Number,
    Boolean,
}

impl VarType {
    pub const NAMES: &'static [&'static str] = &["string", "integer", "number", "boolean"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "string" => Some(VarType::String),
            "integer" => Some(VarType::Integer),
            "number" => Some(VarType::Number),
            "boolean" => Some(VarType::Boolean),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Integer => "integer",
            VarType::Number => "number",
            VarType::Boolean => "boolean",
        }
    }

    fn with_article(self) -> &'static str {
        match self {
            VarType::String => "a string",
            VarType::Integer => "an integer",
            VarType::Number => "a number",
            VarType::Boolean => "a boolean",
        }
    }

    /// `value` as this type, when it is one (a string variable takes any value as text).
    fn accept(self, value: VarValue) -> Option<VarValue> {
        match (self, value) {
            (VarType::String, value) => Some(VarValue::Str(value.text())),
            (VarType::Integer, value @ VarValue::Int(_)) => Some(value),
            (VarType::Number, value @ (VarValue::Int(_) | VarValue::Float(_))) => Some(value),
            (VarType::Boolean, value @ VarValue::Bool(_)) => Some(value),
            _ => None,
        }
    }
}

fn describe(value: &VarValue) -> &'static str {
    match value {
        VarValue::Str(_) => "a string",
        VarValue::Int(_) => "an integer",
        VarValue::Float(_) => "a number",
        VarValue::Bool(_) => "a boolean",
    }
}

/// A value written in the project file, typed as the variable declares; strings that refer
/// to other variables are checked once resolved.
fn typed(ty: VarType, name: &str, node: &Node) -> Result<VarValue, Diagnostic> {
    let found = match node.scalar().map(|s| (&s.kind, s)) {
        Some((ScalarKind::Str | ScalarKind::Timestamp, s)) => VarValue::Str(s.text.clone()),
        Some((ScalarKind::Int(i), _)) => VarValue::Int(*i),
        Some((ScalarKind::Float(f), _)) => VarValue::Float(*f),
        Some((ScalarKind::Bool(b), _)) => VarValue::Bool(*b),
        Some((ScalarKind::Null, _)) => {
            return Err(
                Diagnostic::error(format!("variable `{name}` cannot be null"))
                    .at(&node.loc)
                    .hint("leave the value out instead: a variable without a value is unset"),
            );
        }
        None => {
            return Err(Diagnostic::error(format!(
                "variable `{name}` takes one value, found {}",
                node.describe()
            ))
            .at(&node.loc));
        }
    };
    if ty == VarType::String && !matches!(found, VarValue::Str(_)) {
        return Err(wrong_type(ty, name, &found, node)
            .hint(format!("quote it to use it as text: \"{}\"", found.text())));
    }
    ty.accept(found.clone())
        .ok_or_else(|| wrong_type(ty, name, &found, node))
}

fn wrong_type(ty: VarType, name: &str, found: &VarValue, node: &Node) -> Diagnostic {
    Diagnostic::error(format!(
        "variable `{name}` is {}, found {}",
        ty.with_article(),
        describe(found)
    ))
    .at(&node.loc)
}

/// Checks a value written in the file against its variable's type, unless it refers to
/// other variables (then the check waits for a target to be selected).
pub fn check_literal(ty: VarType, name: &str, node: &Node, problems: &mut Problems) {
    if let Some(s) = node.scalar()
        && s.kind == ScalarKind::Str
        && vars::mentions_variables(&s.text)
    {
        return;
    }
    if let Err(error) = typed(ty, name, node) {
        problems.push(error);
    }
}

/// A value given on the command line, read as its variable's type.
pub fn parse_cli_value(ty: VarType, text: &str) -> Result<VarValue, String> {
    match ty {
        VarType::String => Ok(VarValue::Str(text.to_owned())),
        VarType::Integer => text
            .parse()
            .map(VarValue::Int)
            .map_err(|_| format!("`{text}` is not an integer")),
        VarType::Number => text
            .parse()
            .map(VarValue::Int)
            .or_else(|_| text.parse().map(VarValue::Float))
            .map_err(|_| format!("`{text}` is not a number")),
        VarType::Boolean => match text {
            "true" => Ok(VarValue::Bool(true)),
            "false" => Ok(VarValue::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
    }
}

/// Values given outside the project file, by variable, with their source; a later one
/// wins. Environment variables for undeclared names are ignored: CI may set them for other
/// projects.
pub(super) fn parse_overrides(
    declared: &[VariableDecl],
    overrides: &[Override],
) -> Result<BTreeMap<String, (VarValue, String)>, Vec<Diagnostic>> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for given in overrides {
        let name = given.name.as_str();
        let Some(decl) = declared.iter().find(|d| d.name.value == name) else {
            if given.source == "--var" {
                errors.push(unknown_override(declared, name));
            }
            continue;
        };
        match parse_cli_value(decl.ty, &given.value) {
            Ok(value) => {
                values.insert(name.to_owned(), (value, given.source.clone()));
            }
            Err(problem) => {
                let problem = if decl.sensitive {
                    "its value is not one (the value is sensitive: not shown)".to_owned()
                } else {
                    problem
                };
                errors.push(Diagnostic::error(format!(
                    "`{}` sets variable `{name}`, which is {}, and {problem}",
                    given.source,
                    decl.ty.with_article()
                )));
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn unknown_override(declared: &[VariableDecl], name: &str) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(format!("`--var` sets an unknown variable `{name}`"));
    if let Some(close) = did_you_mean(name, declared.iter().map(|d| d.name.value.as_str())) {
        diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
    }
    diagnostic.hint("variables are declared in amlops.kdl: `variable \"NAME\" type=\"string\"`")
}

/// The variables as `target` resolves them.
pub(super) fn variables(
    project: &Project,
    target: &TargetDecl,
    overrides: &BTreeMap<String, (VarValue, String)>,
) -> Result<Variables, Vec<Diagnostic>> {
    let mut resolver = Resolver {
        declared: project
            .variables
            .iter()
            .map(|d| (d.name.value.as_str(), d))
            .collect(),
        written: BTreeMap::new(),
        target: &target.name.value,
        done: BTreeMap::new(),
        stack: Vec::new(),
        problems: Vec::new(),
    };
    for decl in &project.variables {
        let name = decl.name.value.as_str();
        let origin = |target: Option<String>, at: &Node| ValueOrigin {
            kind: OriginKind::Variable,
            variable: Some(name.to_owned()),
            target,
            source: format!("{}:{}", at.loc.file.display, at.loc.line),
        };
        let written = if let Some((value, source)) = overrides.get(name) {
            Written::Given(Variable {
                value: value.clone(),
                origin: ValueOrigin {
                    kind: OriginKind::Variable,
                    variable: Some(name.to_owned()),
                    target: None,
                    source: source.clone(),
                },
                sensitive: decl.sensitive,
            })
        } else if let Some((_, node)) = target.values.iter().find(|(n, _)| n.value == name) {
            Written::Text(node, origin(Some(target.name.value.clone()), node))
        } else if let Some(node) = &decl.default {
            Written::Text(node, origin(None, node))
        } else {
            continue;
        };
        resolver.written.insert(name, written);
    }
    let mut variables = Variables::new(project.file.as_ref().map(|f| f.display.clone()));
    for decl in &project.variables {
        match resolver.resolve(&decl.name.value) {
            Outcome::Value(variable) => variables.set(decl.name.value.clone(), variable),
            Outcome::Unset(why) => variables.leave_unset(decl.name.value.clone(), why),
            Outcome::Failed => {}
        }
    }
    if resolver.problems.is_empty() {
        Ok(variables)
    } else {
        Err(resolver.problems)
    }
}

/// Where a variable's value comes from before references are followed.
enum Written<'a> {
    /// Written in the project file (the target's value or the default).
    Text(&'a Node, ValueOrigin),
    /// Given on the command line.
    Given(Variable),
}

#[derive(Clone)]
enum Outcome {
    Value(Variable),
    /// No value; the reason, in a sentence.
    Unset(String),
    /// A problem was reported.
    Failed,
}

struct Resolver<'a> {
    declared: BTreeMap<&'a str, &'a VariableDecl>,
    written: BTreeMap<&'a str, Written<'a>>,
    target: &'a str,
    done: BTreeMap<String, Outcome>,
    /// Variables being resolved, outermost first, to find cycles.
    stack: Vec<String>,
    problems: Vec<Diagnostic>,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str) -> Outcome {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        if let Some(start) = self.stack.iter().position(|n| n == name) {
            self.cycle(start, name);
            return Outcome::Failed;
        }
        let outcome = match self.written.get(name) {
            None => Outcome::Unset(format!(
                "target `{}` gives it no value and it has no default",
                self.target
            )),
            Some(Written::Given(variable)) => Outcome::Value(variable.clone()),
            Some(Written::Text(node, origin)) => {
                let (node, origin) = (*node, origin.clone());
                self.stack.push(name.to_owned());
                let outcome = self.evaluate(name, node, origin);
                self.stack.pop();
                outcome
            }
        };
        self.done.insert(name.to_owned(), outcome.clone());
        outcome
    }

    fn evaluate(&mut self, name: &str, node: &Node, origin: ValueOrigin) -> Outcome {
        let ty = self.declared[name].ty;
        let sensitive = self.declared[name].sensitive;
        let text = match node.scalar() {
            Some(s) if s.kind == ScalarKind::Str && vars::mentions_variables(&s.text) => {
                s.text.clone()
            }
            _ => {
                return match typed(ty, name, node) {
                    Ok(value) => Outcome::Value(Variable {
                        value,
                        origin,
                        sensitive,
                    }),
                    Err(error) => self.fail(error),
                };
            }
        };
        let pieces = match vars::pieces(&text) {
            Ok(pieces) => pieces,
            Err(malformed) => {
                let error = Diagnostic::error(format!(
                    "malformed variable reference: `${{var.` {}",
                    malformed.problem
                ))
                .at(&node.loc);
                return self.fail(error);
            }
        };
        let whole = matches!(pieces.as_slice(), [Piece::Reference { .. }]);
        let (out, last, uses_secret) = match self.interpolate(&pieces, &text, node) {
            Ok(parts) => parts,
            Err(outcome) => return outcome,
        };
        let value = match last.filter(|_| whole) {
            Some(value) => match ty.accept(value.clone()) {
                Some(value) => value,
                None => return self.fail(wrong_type(ty, name, &value, node)),
            },
            None if ty == VarType::String => VarValue::Str(out),
            None => {
                let error = Diagnostic::error(format!(
                    "variable `{name}` is {}, but its value is text",
                    ty.with_article()
                ))
                .at(&node.loc);
                return self.fail(error);
            }
        };
        Outcome::Value(Variable {
            value,
            origin,
            sensitive: sensitive || uses_secret,
        })
    }

    /// The text of a value that refers to other variables, the value of the last one it
    /// uses (its whole value, when it is the only piece), and whether any it uses is
    /// sensitive. `Err` when a variable it uses has no value or a problem.
    fn interpolate(
        &mut self,
        pieces: &[Piece<'_>],
        text: &str,
        node: &Node,
    ) -> Result<(String, Option<VarValue>, bool), Outcome> {
        let mut out = String::new();
        let mut last = None;
        let mut sensitive = false;
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::EscapedOpen => out.push_str(vars::OPEN),
                Piece::Reference { name: used, offset } => {
                    if !self.declared.contains_key(used) {
                        let at = vars::locate(&node.loc, &text[*offset..], used.len() + 7);
                        let mut error =
                            Diagnostic::error(format!("unknown variable `{used}`")).at(&at);
                        if let Some(close) = did_you_mean(used, self.declared.keys().copied()) {
                            error = error.hint(format!("did you mean `${{var.{close}}}`?"));
                        }
                        return Err(self.fail(error));
                    }
                    match self.resolve(used) {
                        Outcome::Value(variable) => {
                            out.push_str(&variable.value.text());
                            sensitive |= variable.sensitive;
                            last = Some(variable.value);
                        }
                        Outcome::Unset(_) => {
                            return Err(Outcome::Unset(format!(
                                "it uses `{used}`, which has no value"
                            )));
                        }
                        Outcome::Failed => return Err(Outcome::Failed),
                    }
                }
            }
        }
        Ok((out, last, sensitive))
    }

    fn fail(&mut self, error: Diagnostic) -> Outcome {
        self.problems.push(error);
        Outcome::Failed
    }

    /// Reports the cycle `stack[start..] → name`, at the reference that closes it.
    fn cycle(&mut self, start: usize, name: &str) {
        let mut chain: Vec<&str> = self.stack[start..].iter().map(String::as_str).collect();
        chain.push(name);
        let closing = self.stack.last().cloned().unwrap_or_default();
        let at = match self.written.get(closing.as_str()) {
            Some(Written::Text(node, _)) => {
                let needle = format!("${{var.{name}}}");
                let text = node.scalar().map(|s| s.text.as_str()).unwrap_or_default();
                match text.find(&needle) {
                    Some(offset) => vars::locate(&node.loc, &text[offset..], needle.len()),
                    None => node.loc.clone(),
                }
            }
            _ => return,
        };
        let chain = chain
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(" → ");
        self.problems.push(
            Diagnostic::error(format!("variable cycle: {chain}"))
                .at(&at)
                .hint("a variable cannot depend on itself, directly or through others"),
        );
    }
}
