//! Small declarative shapes for nested settings that amlops passes through after checking
//! them (`resources`, `distribution`, `limits`, `services`, …).
//!
//! A shape lists the keys a mapping accepts and the type of each. Reading a node against a
//! shape reports unknown keys and wrong types with their location, and returns the mapping as
//! JSON in the manifest's own vocabulary, with scalars typed as the shape says.

use serde_json::{Map, Value};

use super::node::Node;
use super::read::{
    Fields, Problems, check_choice, expect_int, expect_number, expect_str, join, type_error,
};

/// The type of one key in a [`Shape`].
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    Int,
    Number,
    Bool,
    /// One of these strings (compared ignoring case; the canonical spelling is kept).
    Choice(&'static [&'static str]),
    StrList,
    /// A string or a list of strings.
    StrOrList,
    /// A mapping of strings to strings.
    StrMap,
    /// Any value, kept as written.
    Any,
    /// A nested mapping with its own shape.
    Nested(&'static Shape),
    /// A mapping of names to mappings of one shape.
    MapOf(&'static Shape),
}

/// The keys a mapping accepts.
pub struct Shape {
    /// What the mapping is, for messages.
    pub what: &'static str,
    pub keys: &'static [(&'static str, Ty)],
    /// Keys that must be present.
    pub required: &'static [&'static str],
}

/// Reads `node` as a mapping of `shape`.
pub fn read(node: &Node, path: &str, shape: &Shape, problems: &mut Problems) -> Option<Value> {
    let mut fields = Fields::new(node, path, shape.what, problems)?;
    let mut out = Map::new();
    for key in shape.required {
        if !fields.has(key) {
            problems.error(
                &node.loc,
                &join(path, key),
                format!(
                    "missing required key `{}` in {}",
                    join(path, key),
                    shape.what
                ),
            );
        }
    }
    for (key, ty) in shape.keys {
        let Some(value) = fields.take_some(key) else {
            continue;
        };
        if let Some(read) = read_value(value, &join(path, key), *ty, problems) {
            out.insert((*key).to_owned(), read);
        }
    }
    fields.finish(problems);
    Some(Value::Object(out))
}

fn read_value(node: &Node, path: &str, ty: Ty, problems: &mut Problems) -> Option<Value> {
    match ty {
        Ty::Str => expect_str(node, path, problems).map(|s| Value::String(s.value)),
        Ty::Int => expect_int(node, path, problems).map(|i| Value::from(i.value)),
        Ty::Number => expect_number(node, path, problems).map(|n| Value::from(n.value)),
        Ty::Bool => match node.scalar().map(|s| &s.kind) {
            Some(super::node::ScalarKind::Bool(b)) => Some(Value::Bool(*b)),
            _ => {
                type_error(node, path, "a boolean", problems);
                None
            }
        },
        Ty::Choice(choices) => {
            let text = expect_str(node, path, problems)?;
            check_choice(&text, path, choices, problems).map(|c| Value::String(c.value.to_owned()))
        }
        Ty::StrList => list_of_str(node, path, problems),
        Ty::StrOrList => match node.items() {
            Some(_) => list_of_str(node, path, problems),
            None => expect_str(node, path, problems).map(|s| Value::String(s.value)),
        },
        Ty::StrMap => {
            let entries = node.entries().or_else(|| {
                type_error(node, path, "a mapping", problems);
                None
            })?;
            let map = entries
                .iter()
                .filter_map(|e| {
                    let value =
                        super::read::expect_text(&e.value, &join(path, &e.key.value), problems)?;
                    Some((e.key.value.clone(), Value::String(value.value)))
                })
                .collect();
            Some(Value::Object(map))
        }
        Ty::Any => Some(node.to_json()),
        Ty::Nested(shape) => read(node, path, shape, problems),
        Ty::MapOf(shape) => {
            let entries = node.entries().or_else(|| {
                type_error(node, path, "a mapping", problems);
                None
            })?;
            let map = entries
                .iter()
                .filter_map(|e| {
                    Some((
                        e.key.value.clone(),
                        read(&e.value, &join(path, &e.key.value), shape, problems)?,
                    ))
                })
                .collect();
            Some(Value::Object(map))
        }
    }
}

fn list_of_str(node: &Node, path: &str, problems: &mut Problems) -> Option<Value> {
    let Some(items) = node.items() else {
        type_error(node, path, "a list", problems);
        return None;
    };
    Some(Value::Array(
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                expect_str(item, &format!("{path}[{i}]"), problems).map(|s| Value::String(s.value))
            })
            .collect(),
    ))
}
