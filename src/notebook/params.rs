//! Parameters: the papermill `parameters` cell, or an argument holder the notebook builds.
//!
//! Only literal values become parameters; their type is the literal's type (or the annotation's),
//! so the generated script can parse each one back without `type=bool` pitfalls.

use std::collections::BTreeSet;

use ruff_python_ast::{Expr, Number, Stmt, UnaryOp};
use ruff_text_size::Ranged;
use serde::Serialize;
use serde_json::Value;

use super::python::PreparedCell;

/// How a parameter travels on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Int,
    Float,
    Str,
    Bool,
    /// A list, passed as JSON.
    List,
    /// A tuple, passed as a JSON array.
    Tuple,
    /// A set, passed as a JSON array.
    Set,
    /// A dict, passed as a JSON object.
    Dict,
}

impl ParamType {
    /// The Azure ML job input type for a literal of this type.
    pub fn job_type(self) -> &'static str {
        match self {
            ParamType::Int => "integer",
            ParamType::Float => "number",
            ParamType::Bool => "boolean",
            _ => "string",
        }
    }

    pub fn is_container(self) -> bool {
        matches!(
            self,
            ParamType::List | ParamType::Tuple | ParamType::Set | ParamType::Dict
        )
    }

    fn from_annotation(text: &str) -> Option<ParamType> {
        let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
        let base = text.split('[').next().unwrap_or(text).trim();
        Some(match base {
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "str" => ParamType::Str,
            "bool" => ParamType::Bool,
            "list" | "List" => ParamType::List,
            "tuple" | "Tuple" => ParamType::Tuple,
            "set" | "Set" => ParamType::Set,
            "dict" | "Dict" => ParamType::Dict,
            _ => return None,
        })
    }
}

/// A literal value, as JSON, with its Python type.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub value: Value,
    /// `None` for Python's `None`.
    pub ty: Option<ParamType>,
}

/// Evaluates a literal expression; `None` when it is not a literal.
pub fn literal(expr: &Expr) -> Option<Literal> {
    let typed = |value, ty| {
        Some(Literal {
            value,
            ty: Some(ty),
        })
    };
    match expr {
        Expr::NumberLiteral(number) => match &number.value {
            Number::Int(int) => typed(Value::from(int.as_i64()?), ParamType::Int),
            Number::Float(float) => typed(
                serde_json::Number::from_f64(*float)?.into(),
                ParamType::Float,
            ),
            Number::Complex { .. } => None,
        },
        Expr::UnaryOp(unary) if unary.op == UnaryOp::USub => {
            let inner = literal(&unary.operand)?;
            let value = match (&inner.value, inner.ty?) {
                (Value::Number(n), ParamType::Int) => Value::from(n.as_i64()?.checked_neg()?),
                (Value::Number(n), ParamType::Float) => {
                    serde_json::Number::from_f64(-n.as_f64()?)?.into()
                }
                _ => return None,
            };
            Some(Literal { value, ..inner })
        }
        Expr::StringLiteral(string) => typed(Value::from(string.value.to_str()), ParamType::Str),
        Expr::BooleanLiteral(boolean) => typed(Value::from(boolean.value), ParamType::Bool),
        Expr::NoneLiteral(_) => Some(Literal {
            value: Value::Null,
            ty: None,
        }),
        Expr::List(list) => typed(array(&list.elts)?, ParamType::List),
        Expr::Tuple(tuple) => typed(array(&tuple.elts)?, ParamType::Tuple),
        Expr::Set(set) => typed(array(&set.elts)?, ParamType::Set),
        Expr::Dict(dict) => {
            let mut map = serde_json::Map::new();
            for item in &dict.items {
                let key = literal(item.key.as_ref()?)?;
                let Value::String(key) = key.value else {
                    return None;
                };
                map.insert(key, literal(&item.value)?.value);
            }
            typed(Value::Object(map), ParamType::Dict)
        }
        _ => None,
    }
}

fn array(elements: &[Expr]) -> Option<Value> {
    elements
        .iter()
        .map(|element| literal(element).map(|literal| literal.value))
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// Where the parameters were found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ParamSource {
    /// The first cell tagged `parameters`; each parameter is a module-level name.
    TaggedCell { cell: usize },
    /// `class args:` with literal attributes; the class name is bound to the parsed namespace.
    HolderClass { cell: usize, holder: String },
    /// `args = Holder(k=literal, ...)`; the variable is bound to the parsed namespace.
    HolderCall { cell: usize, holder: String },
}

impl ParamSource {
    pub fn cell(&self) -> usize {
        match self {
            ParamSource::TaggedCell { cell }
            | ParamSource::HolderClass { cell, .. }
            | ParamSource::HolderCall { cell, .. } => *cell,
        }
    }

    /// The name the parsed namespace is bound to, for holders.
    pub fn holder(&self) -> Option<&str> {
        match self {
            ParamSource::TaggedCell { .. } => None,
            ParamSource::HolderClass { holder, .. } | ParamSource::HolderCall { holder, .. } => {
                Some(holder)
            }
        }
    }
}

/// One parameter of the generated script.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    pub name: String,
    /// `None` when the only evidence is a `None` default; the script then takes a string.
    #[serde(rename = "type")]
    pub ty: Option<ParamType>,
    pub default: Value,
    /// The default as written in the notebook (Python source).
    #[serde(skip)]
    pub default_source: String,
    pub help: Option<String>,
    pub origin: String,
    #[serde(skip)]
    pub cell: usize,
    #[serde(skip)]
    pub line: u32,
    /// An attribute of the holder object rather than a module-level name.
    #[serde(skip)]
    pub on_holder: bool,
}

impl Parameter {
    pub fn is_optional(&self) -> bool {
        self.default.is_null()
    }

    pub fn effective_type(&self) -> ParamType {
        self.ty.unwrap_or(ParamType::Str)
    }
}

/// Parameters found in one statement of a tagged cell, or `None` when it is not
/// `NAME = literal` / `NAME: T = literal`.
pub fn tagged_assignment(cell: &PreparedCell, index: usize, stmt: &Stmt) -> Option<Parameter> {
    let (target, annotation, value) = match stmt {
        Stmt::Assign(assign) if assign.targets.len() == 1 => {
            (&assign.targets[0], None, &*assign.value)
        }
        Stmt::AnnAssign(assign) => (
            &*assign.target,
            Some(&*assign.annotation),
            assign.value.as_deref()?,
        ),
        _ => return None,
    };
    let Expr::Name(name) = target else {
        return None;
    };
    let value_literal = literal(value)?;
    let line = cell.line_of(stmt.start());
    let comment = trailing_comment(cell, stmt);
    let (type_comment, help) = split_type_comment(comment.as_deref());
    let declared = annotation
        .map(|annotation| cell.slice(annotation.range()).to_string())
        .or(type_comment)
        .and_then(|text| ParamType::from_annotation(&text));
    let ty = match (declared, value_literal.ty) {
        (Some(ParamType::Float), Some(ParamType::Int)) => Some(ParamType::Float),
        (_, Some(ty)) => Some(ty),
        (declared, None) => declared,
    };
    Some(Parameter {
        name: name.id.to_string(),
        ty,
        default: value_literal.value,
        default_source: cell.slice(value.range()).to_string(),
        help,
        origin: format!("cell {index} line {line}"),
        cell: index,
        line,
        on_holder: false,
    })
}

/// The comment after the statement's last line (papermill's help text convention).
fn trailing_comment(cell: &PreparedCell, stmt: &Stmt) -> Option<String> {
    let end = stmt.end().to_usize();
    // Only a comment is read to the end of the line: with many statements on one line, the
    // rest of the line is long.
    let rest = cell.text[end..].trim_start_matches(|c: char| c.is_whitespace() && c != '\n');
    let comment = rest.strip_prefix('#')?;
    let comment = comment.lines().next().unwrap_or("").trim();
    (!comment.is_empty()).then(|| comment.to_string())
}

/// Splits `type: List[str] Nice list` into the type and the help text.
fn split_type_comment(comment: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(comment) = comment else {
        return (None, None);
    };
    let Some(rest) = comment.strip_prefix("type:") else {
        return (None, Some(comment.to_string()));
    };
    let rest = rest.trim();
    let mut depth = 0;
    let end = rest
        .char_indices()
        .find(|(_, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            depth == 0 && c.is_whitespace()
        })
        .map_or(rest.len(), |(at, _)| at);
    let help = rest[end..].trim();
    (
        Some(rest[..end].to_string()),
        (!help.is_empty()).then(|| help.to_string()),
    )
}

/// Holder-class names the iris-style pattern accepts.
const HOLDER_CLASS_NAMES: &[&str] = &["Args", "Arguments", "Params", "args", "arguments", "params"];

/// `class args:` whose body is only literal assignments (and a docstring or `pass`).
pub fn holder_class(cell: &PreparedCell, index: usize, stmt: &Stmt) -> Option<Vec<Parameter>> {
    let Stmt::ClassDef(class) = stmt else {
        return None;
    };
    if !HOLDER_CLASS_NAMES.contains(&class.name.as_str()) || class.arguments.is_some() {
        return None;
    }
    let mut parameters = Vec::new();
    for member in &class.body {
        match member {
            Stmt::Pass(_) => {}
            Stmt::Expr(expr) if expr.value.is_string_literal_expr() => {}
            member => {
                let mut parameter = tagged_assignment(cell, index, member)?;
                parameter.on_holder = true;
                parameters.push(parameter);
            }
        }
    }
    (!parameters.is_empty()).then_some(parameters)
}

/// Calls that build a plain attribute holder from keyword arguments.
const HOLDER_CALLS: &[&str] = &[
    "Namespace",
    "SimpleNamespace",
    "argparse.Namespace",
    "types.SimpleNamespace",
];

/// `args = Holder(k=literal, ...)`, where `Holder` is a namespace type or one of
/// `kwargs_classes` (classes whose only method stores `**kwargs`). Returns the variable name.
pub fn holder_call(
    cell: &PreparedCell,
    index: usize,
    stmt: &Stmt,
    kwargs_classes: &BTreeSet<String>,
) -> Option<(String, Vec<Parameter>)> {
    let Stmt::Assign(assign) = stmt else {
        return None;
    };
    let [Expr::Name(target)] = assign.targets.as_slice() else {
        return None;
    };
    let Expr::Call(call) = assign.value.as_ref() else {
        return None;
    };
    let callee = cell.slice(call.func.range());
    if !HOLDER_CALLS.contains(&callee) && !kwargs_classes.contains(callee) {
        return None;
    }
    if !call.arguments.args.is_empty() || call.arguments.keywords.is_empty() {
        return None;
    }
    let mut parameters = Vec::new();
    for keyword in &call.arguments.keywords {
        let name = keyword.arg.as_ref()?;
        let value = literal(&keyword.value)?;
        let line = cell.line_of(keyword.start());
        parameters.push(Parameter {
            name: name.to_string(),
            ty: value.ty,
            default: value.value,
            default_source: cell.slice(keyword.value.range()).to_string(),
            help: None,
            origin: format!("cell {index} line {line}"),
            cell: index,
            line,
            on_holder: true,
        });
    }
    Some((target.id.to_string(), parameters))
}

/// Whether `stmt` defines a class whose only method is `__init__(self, **kwargs)`.
pub fn kwargs_class(stmt: &Stmt) -> Option<String> {
    let Stmt::ClassDef(class) = stmt else {
        return None;
    };
    let [Stmt::FunctionDef(init)] = class.body.as_slice() else {
        return None;
    };
    let takes_kwargs = init.parameters.kwarg.is_some() && init.parameters.args.len() <= 1;
    (init.name.as_str() == "__init__" && takes_kwargs).then(|| class.name.to_string())
}

/// Whether `name` can be an Azure ML job input name.
pub fn is_valid_input_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(source: &str) -> Vec<Option<Parameter>> {
        let cell = PreparedCell::new(source);
        cell.parsed
            .syntax()
            .body
            .iter()
            .map(|stmt| tagged_assignment(&cell, 0, stmt))
            .collect()
    }

    #[test]
    fn papermill_complex_parameters_without_the_broken_line() {
        let found = tagged(
            "msg = None\na: float = 2.25 # Variable a\nb = [\n    'Hello', # First element\n# Dummy comment\n    'World'\n] # type: List[str] Nice list\n\n# Interesting c variable\nc: \"NoneType\" = None\nd = a == 3\n",
        );
        let msg = found[0].as_ref().unwrap();
        assert_eq!((msg.ty, msg.is_optional()), (None, true));
        let a = found[1].as_ref().unwrap();
        assert_eq!(
            (a.ty, a.help.as_deref()),
            (Some(ParamType::Float), Some("Variable a"))
        );
        let b = found[2].as_ref().unwrap();
        assert_eq!(b.ty, Some(ParamType::List));
        assert_eq!(b.help.as_deref(), Some("Nice list"));
        assert_eq!(b.default, serde_json::json!(["Hello", "World"]));
        assert!(found[3].as_ref().unwrap().is_optional());
        assert!(found[4].is_none());
    }

    #[test]
    fn help_is_the_comment_right_after_the_statement() {
        let found = tagged("a = 1; b = 2  # help b\nc = 3 \r# c\nd = 4\n# not d\n");
        let helps: Vec<_> = found
            .iter()
            .map(|p| p.as_ref().unwrap().help.as_deref())
            .collect();
        assert_eq!(helps, [None, Some("help b"), Some("c"), None]);
    }

    #[test]
    fn int_annotated_float_is_float_and_negative_numbers_are_literals() {
        let found = tagged("x: float = 2\ny = -3\n");
        assert_eq!(found[0].as_ref().unwrap().ty, Some(ParamType::Float));
        assert_eq!(found[1].as_ref().unwrap().default, serde_json::json!(-3));
    }

    #[test]
    fn holder_patterns() {
        let cell = PreparedCell::new("class args:\n    iris_csv = \"a.csv\"\n    C = 0.8\n");
        let found = holder_class(&cell, 2, &cell.parsed.syntax().body[0]).unwrap();
        assert_eq!(found.len(), 2);
        let cell = PreparedCell::new(
            "class MyArgs:\n    def __init__(self, /, **kwargs):\n        self.__dict__.update(kwargs)\n\nargs = MyArgs(a = 1, b = \"x\")\n",
        );
        let body = &cell.parsed.syntax().body;
        let classes = BTreeSet::from([kwargs_class(&body[0]).unwrap()]);
        let (name, found) = holder_call(&cell, 0, &body[1], &classes).unwrap();
        assert_eq!((name.as_str(), found.len()), ("args", 2));
    }

    #[test]
    fn input_names() {
        assert!(is_valid_input_name("MAX_LEAF") && is_valid_input_name("_x1"));
        assert!(
            !is_valid_input_name("1x") && !is_valid_input_name("café") && !is_valid_input_name("")
        );
    }
}
