//! Plans as text for a terminal.
//!
//! ```text
//! + compute.cpu-cluster                  create
//!     + max_instances: 2
//! ~ compute.gpu                          update in place: scale settings change in place
//!     ~ max_instances: 4 → 2
//! ! environment.train:1                  conflict: version 1 already exists with different conda_file
//!     = hint: set `version: 2` (the next free version), or use `version: auto`
//!
//! Plan: 1 to create, 1 to update, 1 conflict, 3 unchanged.
//! ```
//!
//! Colour is semantic (green adds, yellow changes, red removes and conflicts) and optional:
//! the text reads the same without it.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use similar::TextDiff;

use super::{human_bytes, inline_value};
use crate::plan::{Action, Change, FieldChange, Plan, Summary};

const ADD: Style = AnsiColor::Green.on_default();
const CHANGE: Style = AnsiColor::Yellow.on_default();
const REMOVE: Style = AnsiColor::Red.on_default();
const CONFLICT: Style = AnsiColor::Red.on_default().bold();
const MUTED: Style = Style::new().dimmed();
const STRONG: Style = Style::new().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

fn action_style(action: Action) -> Style {
    match action {
        Action::Create | Action::NewVersion | Action::Submit => ADD,
        Action::Update | Action::Restore | Action::Archive => CHANGE,
        Action::Replace | Action::Delete => REMOVE,
        Action::Conflict => CONFLICT,
        Action::NoOp => MUTED,
    }
}

/// Renders a serialised plan. Unchanged resources are counted, not listed.
pub fn render(serialised: &Value) -> Result<String, serde_json::Error> {
    let plan = super::from_serialised(serialised)?;
    Ok(render_plan(&plan))
}

fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    let shown: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if shown.is_empty() {
        let _ = writeln!(
            out,
            "{} The {} matches the manifests ({} resource{} up to date).",
            paint(STRONG, "No changes."),
            target_words(plan),
            plan.summary.no_op,
            if plan.summary.no_op == 1 { "" } else { "s" }
        );
        render_notes(&mut out, plan);
        return out;
    }
    let _ = writeln!(
        out,
        "amlops will make these changes to the {}:\n",
        target_words(plan)
    );
    for change in &shown {
        render_change(&mut out, change);
    }
    let _ = writeln!(out, "\n{}", summary_line(&plan.summary));
    render_notes(&mut out, plan);
    out
}

fn render_notes(out: &mut String, plan: &Plan) {
    for note in &plan.notes {
        let _ = writeln!(out, "{}", paint(MUTED, &format!("note: {note}")));
    }
}

fn target_words(plan: &Plan) -> String {
    match plan.target.kind.as_str() {
        "local" => "local workspace".into(),
        kind => format!("{kind} {}", plan.target.name),
    }
}

fn render_change(out: &mut String, change: &Change) {
    let style = action_style(change.action);
    let mut heading = change.address.clone();
    if change.kind == crate::model::Kind::Job {
        heading = format!("{heading} → {}", change.name);
    }
    let mut what = change.action.verb().to_owned();
    if let Some(reason) = &change.reason {
        let _ = write!(what, ": {reason}");
    }
    let _ = writeln!(
        out,
        "{} {:<40} {}",
        paint(style, &format!("{:>3}", change.action.symbol())),
        paint(STRONG, &heading),
        paint(style, &what)
    );
    if let Some(source) = &change.source {
        let _ = writeln!(out, "      {}", paint(MUTED, &format!("# {source}")));
    }
    if change.derived && change.action == Action::Create {
        let _ = writeln!(
            out,
            "      {}",
            paint(MUTED, "# derived from the resources that use it")
        );
    }
    for field in &change.fields {
        render_field(out, change.action, field);
    }
    for upload in &change.uploads {
        let files = if upload.files == 1 {
            "1 file".to_owned()
        } else {
            format!("{} files", upload.files)
        };
        let _ = writeln!(
            out,
            "      {} upload {} ({files}, {})",
            paint(ADD, "↑"),
            upload.source,
            human_bytes(upload.bytes)
        );
    }
    if let Some(hint) = &change.hint {
        let _ = writeln!(out, "      {}", paint(STRONG, &format!("= hint: {hint}")));
    }
}

fn render_field(out: &mut String, action: Action, field: &FieldChange) {
    let path = crate::diag::visible(&field.path);
    let mut replace = if field.forces_replacement && action == Action::Replace {
        format!(" {}", paint(REMOVE, "# forces replacement"))
    } else {
        String::new()
    };
    if let Some(origin) = &field.from {
        let _ = write!(
            replace,
            " {}",
            paint(MUTED, &format!("# from {}", origin.describe()))
        );
    }
    match (&field.before, &field.after) {
        (None, Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {}:{}{replace}",
                paint(ADD, "+"),
                path,
                crate::diag::visible(&value_text(after, 10))
            );
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "      {} {}:{}{replace}",
                paint(REMOVE, "-"),
                path,
                crate::diag::visible(&value_text(before, 10))
            );
        }
        (Some(Value::String(before)), Some(Value::String(after)))
            if before.contains('\n') || after.contains('\n') =>
        {
            let _ = writeln!(out, "      {} {}:{replace}", paint(CHANGE, "~"), path);
            let diff = TextDiff::from_lines(before.as_str(), after.as_str());
            let diff = diff.unified_diff().context_radius(2).to_string();
            for line in crate::diag::visible(&diff).lines() {
                let styled = match line.chars().next() {
                    Some('+') => paint(ADD, line),
                    Some('-') => paint(REMOVE, line),
                    Some('@') => paint(MUTED, line),
                    _ => line.to_owned(),
                };
                let _ = writeln!(out, "          {styled}");
            }
        }
        (Some(before), Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {}: {} → {}{replace}",
                paint(CHANGE, "~"),
                path,
                inline_value(before),
                inline_value(after)
            );
        }
        (None, None) => {}
    }
}

/// A value after `key:`: inline, or as an indented block for multi-line text.
fn value_text(value: &Value, indent: usize) -> String {
    match value {
        Value::String(s) if s.contains('\n') => {
            let pad = " ".repeat(indent);
            let body: Vec<String> = s
                .trim_end_matches('\n')
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect();
            format!(" |\n{}", body.join("\n"))
        }
        other => format!(" {}", inline_value(other)),
    }
}

/// `Plan: 2 to create, 1 to submit, 3 unchanged.`
pub fn summary_line(summary: &Summary) -> String {
    let parts: Vec<String> = [
        (summary.create, "to create"),
        (summary.new_version, "new version"),
        (summary.update, "to update"),
        (summary.restore, "to restore"),
        (summary.replace, "to replace"),
        (summary.submit, "to submit"),
        (summary.archive, "to archive"),
        (summary.delete, "to delete"),
        (summary.conflict, "conflict"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, words)| {
        let words = match (*words, *count) {
            ("new version", n) if n > 1 => "new versions",
            ("conflict", n) if n > 1 => "conflicts",
            (w, _) => w,
        };
        format!("{count} {words}")
    })
    .collect();
    let mut line = format!(
        "Plan: {}",
        if parts.is_empty() {
            "no changes".into()
        } else {
            parts.join(", ")
        }
    );
    if summary.no_op > 0 {
        let _ = write!(line, ", {} unchanged", summary.no_op);
    }
    line.push('.');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Summary, Target};
    use serde_json::json;

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: "1".into(),
            target: Target {
                kind: "local".into(),
                name: "local".into(),
                id: "/x".into(),
            },
            summary: Summary::of(&changes),
            changes,
            notes: vec![],
            origin: None,
        }
    }

    fn change(address: &str, action: Action, fields: Vec<FieldChange>) -> Change {
        Change {
            address: address.into(),
            kind: crate::model::Kind::Compute,
            name: "cpu".into(),
            version: None,
            action,
            reason: None,
            source: None,
            derived: false,
            depends_on: vec![],
            fields,
            requests: vec![],
            uploads: vec![],
            hint: None,
            status: None,
            desired_spec: None,
            applied_spec: None,
            recurring: false,
            live_fingerprint: None,
        }
    }

    fn strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn renders_updates_and_summary() {
        let field = FieldChange {
            path: "max_instances".into(),
            before: Some(json!(4)),
            after: Some(json!(2)),
            forces_replacement: false,
            from: None,
        };
        let p = plan(vec![
            change("compute.cpu", Action::Update, vec![field]),
            change("data.x", Action::NoOp, vec![]),
        ]);
        let text = strip(&render(&serde_json::to_value(&p).unwrap()).unwrap());
        assert!(text.contains("~ max_instances: 4 → 2"), "{text}");
        assert!(
            text.ends_with("Plan: 1 to update, 1 unchanged.\n"),
            "{text}"
        );
        assert!(!text.contains("data.x"), "{text}");
    }

    #[test]
    fn no_changes() {
        let p = plan(vec![change("data.x", Action::NoOp, vec![])]);
        let text = strip(&render(&serde_json::to_value(&p).unwrap()).unwrap());
        assert_eq!(
            text,
            "No changes. The local workspace matches the manifests (1 resource up to date).\n"
        );
    }

    #[test]
    fn origins_follow_the_value() {
        let field = FieldChange {
            path: "max_instances".into(),
            before: Some(json!(4)),
            after: Some(json!(1)),
            forces_replacement: false,
            from: Some(crate::model::ValueOrigin {
                kind: crate::model::OriginKind::Variable,
                variable: Some("max_nodes".into()),
                target: Some("dev".into()),
                source: "amlops.kdl:16".into(),
            }),
        };
        let p = plan(vec![change("compute.cpu", Action::Update, vec![field])]);
        let text = strip(&render(&serde_json::to_value(&p).unwrap()).unwrap());
        assert!(
            text.contains(
                "~ max_instances: 4 → 1 # from variable max_nodes (target dev, amlops.kdl:16)"
            ),
            "{text}"
        );
    }

    #[test]
    fn multi_line_values_diff_by_line() {
        let field = FieldChange {
            path: "conda_file".into(),
            before: Some(json!("a\nb\nc\n")),
            after: Some(json!("a\nB\nc\n")),
            forces_replacement: false,
            from: None,
        };
        let p = plan(vec![change(
            "environment.e:1",
            Action::Conflict,
            vec![field],
        )]);
        let text = strip(&render(&serde_json::to_value(&p).unwrap()).unwrap());
        assert!(text.contains("-b") && text.contains("+B"), "{text}");
    }
}
