//! Drift reports as text and Markdown, drawn from the serialised report.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

use super::inline_value;
use crate::plan::drift::{DriftEntry, DriftReport, DriftState};

const DRIFT: Style = AnsiColor::Red.on_default().bold();
const PENDING: Style = AnsiColor::Yellow.on_default();
const MUTED: Style = Style::new().dimmed();
const STRONG: Style = Style::new().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

fn read(serialised: &Value) -> Result<DriftReport, serde_json::Error> {
    serde_json::from_value(serialised.clone())
}

fn target_words(report: &DriftReport) -> String {
    match report.target.kind.as_str() {
        "local" => "local workspace".into(),
        kind => format!("{kind} {}", report.target.name),
    }
}

fn state_words(entry: &DriftEntry) -> &'static str {
    match entry.state {
        DriftState::InSync => "in sync",
        DriftState::Pending => "manifest changes to apply",
        DriftState::Drifted => "changed out of band",
        DriftState::Conflict if entry.kind.is_versioned() => "version conflict",
        DriftState::Conflict => "conflict",
    }
}

pub fn summary_line(report: &DriftReport) -> String {
    let s = &report.summary;
    format!(
        "Drift: {} changed out of band, {} with manifest changes to apply, {} conflict{}, {} in sync (exit {}).",
        s.drifted,
        s.pending,
        s.conflict,
        if s.conflict == 1 { "" } else { "s" },
        s.in_sync,
        report.exit_code
    )
}

pub fn human(serialised: &Value) -> Result<String, serde_json::Error> {
    let report = read(serialised)?;
    let mut out = String::new();
    let interesting: Vec<&DriftEntry> = report
        .resources
        .iter()
        .filter(|r| r.state != DriftState::InSync)
        .collect();
    if interesting.is_empty() {
        let _ = writeln!(
            out,
            "{} The {} matches the manifests and what amlops last applied.",
            paint(STRONG, "No drift."),
            target_words(&report)
        );
    }
    for entry in &interesting {
        let style = match entry.state {
            DriftState::Drifted | DriftState::Conflict => DRIFT,
            _ => PENDING,
        };
        let mut what = state_words(entry).to_owned();
        if let Some(reason) = &entry.reason {
            let _ = write!(what, ": {reason}");
        }
        let _ = writeln!(
            out,
            "{} {:<40} {}",
            paint(
                style,
                if entry.state == DriftState::Conflict {
                    "  !"
                } else {
                    "  ~"
                }
            ),
            paint(STRONG, &entry.address),
            paint(style, &what)
        );
        if let Some(source) = &entry.source {
            let _ = writeln!(out, "      {}", paint(MUTED, &format!("# {source}")));
        }
        for field in &entry.fields {
            let live = field
                .before
                .as_ref()
                .map(inline_value)
                .unwrap_or_else(|| "(absent)".into());
            let manifest = field
                .after
                .as_ref()
                .map(inline_value)
                .unwrap_or_else(|| "(absent)".into());
            let _ = writeln!(
                out,
                "      {}: live {live}, manifests {manifest}",
                field.path
            );
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(&report));
    Ok(out)
}

pub fn markdown(serialised: &Value) -> Result<String, serde_json::Error> {
    let report = read(serialised)?;
    let mut out = String::new();
    let _ = writeln!(out, "### amlops drift for {}\n", target_words(&report));
    let _ = writeln!(out, "{}\n", summary_line(&report));
    let interesting: Vec<&DriftEntry> = report
        .resources
        .iter()
        .filter(|r| r.state != DriftState::InSync)
        .collect();
    if interesting.is_empty() {
        let _ = writeln!(out, "No drift: the workspace matches the manifests.");
        return Ok(out);
    }
    let _ = writeln!(out, "| Resource | State | Fields |");
    let _ = writeln!(out, "|---|---|---|");
    for entry in &interesting {
        let fields: Vec<String> = entry
            .fields
            .iter()
            .map(|f| format!("`{}`", f.path))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            entry.address,
            state_words(entry),
            fields.join(", ")
        );
    }
    out.push('\n');
    for entry in interesting.iter().filter(|e| !e.fields.is_empty()) {
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code>: {}</summary>\n",
            entry.address,
            state_words(entry)
        );
        let _ = writeln!(out, "```diff");
        for field in &entry.fields {
            if let Some(before) = &field.before {
                let _ = writeln!(
                    out,
                    "- {}: {}  # live",
                    field.path,
                    inline_value(before).replace("```", "`\u{200b}``")
                );
            }
            if let Some(after) = &field.after {
                let _ = writeln!(
                    out,
                    "+ {}: {}  # manifests",
                    field.path,
                    inline_value(after).replace("```", "`\u{200b}``")
                );
            }
        }
        let _ = writeln!(out, "```\n\n</details>\n");
    }
    Ok(out)
}
