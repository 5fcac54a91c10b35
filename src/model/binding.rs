//! Binding expressions: `${{inputs.x}}`, `${{outputs.y}}`, `${{parent.jobs.n.outputs.z}}`, and
//! the optional fragments `$[[ --flag ${{inputs.x}} ]]` that vanish when `x` is unbound.
//!
//! Like the SDK, a binding allows whitespace inside the braces and is matched in strings only.

/// One `${{…}}` occurrence in a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The expression between the braces, trimmed: `inputs.x`.
    pub expr: String,
    /// Byte range of the whole `${{…}}` in the string.
    pub start: usize,
    pub end: usize,
}

/// What a binding expression refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Input(&'a str),
    Output(&'a str),
    SearchSpace(&'a str),
    ParentInput(&'a str),
    ParentOutput(&'a str),
    /// `parent.jobs.<node>.outputs.<name>` (or `.inputs.`).
    Node {
        node: &'a str,
        port: &'a str,
        output: bool,
    },
    /// `${{name}}`, `${{default_datastore}}` and other run-time values, left as written.
    RunTime(&'a str),
}

impl Binding {
    pub fn target(&self) -> Target<'_> {
        let parts: Vec<&str> = self.expr.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => Target::Input(name),
            ["outputs", name] => Target::Output(name),
            ["search_space", name] => Target::SearchSpace(name),
            ["parent", "inputs", name] => Target::ParentInput(name),
            ["parent", "outputs", name] => Target::ParentOutput(name),
            ["parent", "jobs", node, "outputs", port] => Target::Node {
                node,
                port,
                output: true,
            },
            ["parent", "jobs", node, "inputs", port] => Target::Node {
                node,
                port,
                output: false,
            },
            _ => Target::RunTime(&self.expr),
        }
    }
}

/// Every `${{…}}` in `text`, in order.
pub fn bindings(text: &str) -> Vec<Binding> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("${{") {
        let start = from + offset;
        let Some(close) = text[start + 3..].find("}}") else {
            break;
        };
        let inner = &text[start + 3..start + 3 + close];
        let end = start + 3 + close + 2;
        let expr = inner.trim();
        if !expr.is_empty() && !expr.contains(char::is_whitespace) {
            found.push(Binding {
                expr: expr.to_owned(),
                start,
                end,
            });
        }
        from = end;
    }
    found
}

/// An optional fragment `$[[…]]` of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Optional {
    pub start: usize,
    pub end: usize,
    /// The text between the brackets.
    pub inner: String,
}

/// Every `$[[…]]` in `text`.
pub fn optionals(text: &str) -> Vec<Optional> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("$[[") {
        let start = from + offset;
        let Some(close) = text[start + 3..].find("]]") else {
            break;
        };
        let end = start + 3 + close + 2;
        found.push(Optional {
            start,
            end,
            inner: text[start + 3..start + 3 + close].to_owned(),
        });
        from = end;
    }
    found
}

/// Replaces each binding with what `resolve` returns for it (or leaves it when `None`), and
/// drops optional fragments whose bindings `resolve` cannot satisfy, keeping the others'
/// content without the brackets.
pub fn substitute(text: &str, mut resolve: impl FnMut(&Binding) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for optional in optionals(text) {
        out.push_str(&replace_bindings(&text[from..optional.start], &mut resolve).0);
        let (inner, all_bound) = replace_bindings(&optional.inner, &mut resolve);
        if all_bound {
            out.push_str(&inner);
        }
        from = optional.end;
    }
    out.push_str(&replace_bindings(&text[from..], &mut resolve).0);
    out
}

fn replace_bindings(
    text: &str,
    resolve: &mut impl FnMut(&Binding) -> Option<String>,
) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    let mut all_bound = true;
    for binding in bindings(text) {
        out.push_str(&text[from..binding.start]);
        match resolve(&binding) {
            Some(value) => out.push_str(&value),
            None => {
                all_bound = false;
                out.push_str(&text[binding.start..binding.end]);
            }
        }
        from = binding.end;
    }
    out.push_str(&text[from..]);
    (out, all_bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bindings_with_spaces() {
        let found = bindings(
            "python t.py --x ${{inputs.x}} --y ${{ outputs.y }} ${{parent.jobs.a.outputs.b}}",
        );
        let exprs: Vec<_> = found.iter().map(|b| b.target()).collect();
        assert_eq!(
            exprs,
            vec![
                Target::Input("x"),
                Target::Output("y"),
                Target::Node {
                    node: "a",
                    port: "b",
                    output: true
                }
            ]
        );
        assert_eq!(bindings("${{name}}")[0].target(), Target::RunTime("name"));
    }

    #[test]
    fn substitutes_and_drops_unbound_optionals() {
        let text = "run --a ${{inputs.a}} $[[--b ${{inputs.b}}]] $[[--c ${{inputs.c}}]]";
        let out = substitute(text, |b| match b.target() {
            Target::Input("a") => Some("1".into()),
            Target::Input("c") => Some("3".into()),
            _ => None,
        });
        assert_eq!(out, "run --a 1  --c 3");
    }

    #[test]
    fn unterminated_expressions_are_left_alone() {
        assert!(bindings("echo ${{inputs.x").is_empty());
        assert_eq!(substitute("a $[[b", |_| None), "a $[[b");
    }
}
