//! Plans as Markdown, for pull-request comments: a summary table, then one collapsible
//! section per changed resource with its field changes. Secrets are already redacted in the
//! serialised plan this reads.

use std::fmt::Write as _;

use serde_json::Value;

use super::{human_bytes, inline_value};
use crate::plan::{Action, Change, Plan};

pub fn render(serialised: &Value) -> Result<String, serde_json::Error> {
    let plan = super::from_serialised(serialised)?;
    Ok(render_plan(&plan))
}

fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    let target = match plan.target.kind.as_str() {
        "local" => "local workspace".to_owned(),
        kind => format!("{kind} `{}`", plan.target.name),
    };
    let _ = writeln!(out, "### amlops plan for {target}\n");
    let _ = writeln!(out, "{}\n", super::human::summary_line(&plan.summary));
    let changed: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if changed.is_empty() {
        let _ = writeln!(out, "No changes: the {target} matches the manifests.");
        return out;
    }
    let _ = writeln!(out, "| | Resource | Action | Reason |");
    let _ = writeln!(out, "|---|---|---|---|");
    for change in &changed {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            icon(change.action),
            change.address,
            change.action.verb(),
            escape(change.reason.as_deref().unwrap_or(""))
        );
    }
    out.push('\n');
    for change in &changed {
        render_details(&mut out, change);
    }
    out
}

fn icon(action: Action) -> &'static str {
    match action {
        Action::Create | Action::NewVersion | Action::Submit => "➕",
        Action::Update | Action::Restore | Action::Archive => "🔄",
        Action::Replace => "♻️",
        Action::Delete => "➖",
        Action::Conflict => "⛔",
        Action::NoOp => "",
    }
}

/// Escapes text for a table cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn render_details(out: &mut String, change: &Change) {
    let _ = writeln!(
        out,
        "<details><summary><code>{}</code>: {}</summary>\n",
        html(&change.address),
        change.action.verb()
    );
    if let Some(source) = &change.source {
        let _ = writeln!(out, "Declared in `{source}`.\n");
    }
    if !change.fields.is_empty() {
        let _ = writeln!(out, "```diff");
        for field in &change.fields {
            let mut marker = if field.forces_replacement && change.action == Action::Replace {
                "  # forces replacement".to_owned()
            } else {
                String::new()
            };
            let origin = field
                .from
                .as_ref()
                .map(|o| format!("  # from {}", fence_safe(&o.describe())))
                .unwrap_or_default();
            if let Some(before) = &field.before {
                let _ = writeln!(
                    out,
                    "- {}: {}{marker}",
                    field.path,
                    fence_safe(&inline_value(before))
                );
            }
            if let Some(after) = &field.after {
                marker.push_str(&origin);
                let _ = writeln!(
                    out,
                    "+ {}: {}{marker}",
                    field.path,
                    fence_safe(&inline_value(after))
                );
            }
        }
        let _ = writeln!(out, "```\n");
    }
    for upload in &change.uploads {
        let _ = writeln!(
            out,
            "Uploads `{}` ({} file{}, {}).\n",
            upload.source,
            upload.files,
            if upload.files == 1 { "" } else { "s" },
            human_bytes(upload.bytes)
        );
    }
    if let Some(hint) = &change.hint {
        let _ = writeln!(out, "**Hint:** {hint}\n");
    }
    let _ = writeln!(out, "</details>\n");
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Keeps a value from closing the code fence it sits in.
fn fence_safe(text: &str) -> String {
    text.replace("```", "`\u{200b}``")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, OriginKind, ValueOrigin};
    use crate::plan::{FieldChange, Summary, Target};
    use serde_json::json;

    #[test]
    fn field_origins_are_shown_after_the_new_value() {
        let field = FieldChange {
            path: "tier".into(),
            before: Some(json!("dedicated")),
            after: Some(json!("low_priority")),
            forces_replacement: true,
            from: Some(ValueOrigin {
                kind: OriginKind::Overlay,
                variable: None,
                target: Some("dev".into()),
                source: "amlops.kdl:21".into(),
            }),
        };
        let change = Change {
            address: "compute.cpu".into(),
            kind: Kind::Compute,
            name: "cpu".into(),
            version: None,
            action: Action::Replace,
            reason: None,
            source: None,
            derived: false,
            depends_on: vec![],
            fields: vec![field],
            requests: vec![],
            uploads: vec![],
            hint: None,
            status: None,
            desired_spec: None,
            applied_spec: None,
            recurring: false,
            live_fingerprint: None,
        };
        let plan = Plan {
            format_version: "1".into(),
            target: Target {
                kind: "local".into(),
                name: "local".into(),
                id: "/x".into(),
            },
            summary: Summary::of(std::slice::from_ref(&change)),
            changes: vec![change],
            notes: vec![],
            origin: None,
        };
        let text = render(&serde_json::to_value(&plan).unwrap()).unwrap();
        assert!(
            text.contains("- tier: \"dedicated\"  # forces replacement\n+ tier: \"low_priority\"  # forces replacement  # from overlay of target dev (amlops.kdl:21)\n"),
            "{text}"
        );
    }
}
