//! The conversion report: one serialisable structure, rendered as JSON or Markdown, so the two
//! cannot disagree.

use std::fmt::Write as _;

use serde::Serialize;

use super::analysis::{
    Analysis, CellDecision, DataPort, Decision, Dependency, Diagnostic, Mode, NotebookInfo,
    Severity,
};
use super::params::{ParamSource, Parameter};

pub const SCHEMA: &str = "amlops.notebook.report/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `inspect`: analysed, nothing written.
    Inspected,
    Converted,
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    pub schema: &'static str,
    pub notebook: &'a NotebookInfo,
    pub result: Outcome,
    pub name: &'a str,
    pub mode: Mode,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub mode_reasons: &'a [String],
    pub files: Vec<String>,
    pub cells: &'a [CellDecision],
    pub parameter_source: Option<&'a ParamSource>,
    pub parameters: &'a [Parameter],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub injected_parameters: Vec<Injected<'a>>,
    pub inputs: &'a [DataPort],
    pub outputs: &'a [DataPort],
    pub experiment_name: Option<&'a str>,
    pub python: &'a str,
    pub dependencies: &'a [Dependency],
    pub diagnostics: &'a [Diagnostic],
}

#[derive(Debug, Clone, Serialize)]
pub struct Injected<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl<'a> Report<'a> {
    pub fn new(analysis: &'a Analysis, result: Outcome, files: Vec<String>) -> Self {
        Report {
            schema: SCHEMA,
            notebook: &analysis.notebook,
            result,
            name: &analysis.name,
            mode: analysis.mode,
            mode_reasons: &analysis.mode_reasons,
            files,
            cells: &analysis.cells,
            parameter_source: analysis.param_source.as_ref(),
            parameters: &analysis.parameters,
            injected_parameters: analysis
                .injected
                .iter()
                .map(|(name, value)| Injected { name, value })
                .collect(),
            inputs: &analysis.inputs,
            outputs: &analysis.outputs,
            experiment_name: analysis.experiment_name.as_deref(),
            python: &analysis.python_version,
            dependencies: &analysis.dependencies,
            diagnostics: &analysis.diagnostics,
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let verdict = match self.result {
            Outcome::Inspected if self.has_errors() => "would be refused",
            Outcome::Inspected => "can be converted",
            Outcome::Converted => "converted",
            Outcome::Refused => "refused",
        };
        let _ = writeln!(out, "# Notebook conversion: {}\n", self.notebook.path);
        let _ = writeln!(
            out,
            "Result: **{verdict}**. Script `{}.py`, {} mode.",
            self.name,
            match self.mode {
                Mode::Functions => "functions",
                Mode::Flat => "flat",
            }
        );
        for reason in self.mode_reasons {
            let _ = writeln!(out, "- flat because {reason}");
        }
        out.push('\n');
        self.problems(&mut out);
        self.cell_table(&mut out);
        self.parameter_table(&mut out);
        self.data_table(&mut out);
        self.dependency_list(&mut out);
        if !self.files.is_empty() {
            out.push_str("## Files\n\n");
            for file in &self.files {
                let _ = writeln!(out, "- `{file}`");
            }
        }
        out
    }

    fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    fn problems(&self, out: &mut String) {
        if self.diagnostics.is_empty() {
            return;
        }
        out.push_str("## Findings\n\n");
        for diagnostic in self.diagnostics {
            let place = match (diagnostic.index, diagnostic.line) {
                (Some(cell), Some(line)) => format!("cell {cell} line {line}: "),
                (Some(cell), None) => format!("cell {cell}: "),
                _ => String::new(),
            };
            let severity = match diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(
                out,
                "- {severity} {}: {place}{}",
                diagnostic.code, diagnostic.message
            );
            if let Some(hint) = &diagnostic.hint {
                let _ = writeln!(out, "  - fix: {hint}");
            }
        }
        out.push('\n');
    }

    fn cell_table(&self, out: &mut String) {
        out.push_str("## Cells\n\n| cell | type | decision | reason |\n|---|---|---|---|\n");
        for cell in self.cells {
            let decision = match cell.decision {
                Decision::Kept => "kept",
                Decision::Comment => "comment",
                Decision::Dropped => "dropped",
                Decision::Refused => "refused",
            };
            let mut reason = cell.reason.clone();
            if !cell.details.is_empty() {
                reason = format!("{reason}; {}", cell.details.join("; "));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {decision} | {} |",
                cell.index,
                cell.kind.as_str(),
                table_text(&reason)
            );
        }
        out.push('\n');
    }

    fn parameter_table(&self, out: &mut String) {
        if self.parameters.is_empty() && self.injected_parameters.is_empty() {
            out.push_str("## Parameters\n\nNone. Tag the cell holding the values to tune with `parameters`.\n\n");
            return;
        }
        out.push_str(
            "## Parameters\n\n| name | type | default | help | from |\n|---|---|---|---|---|\n",
        );
        for parameter in self.parameters {
            let ty = parameter.ty.map_or("optional str".to_string(), |ty| {
                format!("{ty:?}").to_lowercase()
            });
            let _ = writeln!(
                out,
                "| `{}` | {ty} | `{}` | {} | {} |",
                parameter.name,
                table_text(&parameter.default.to_string()),
                table_text(parameter.help.as_deref().unwrap_or("")),
                parameter.origin
            );
        }
        for injected in &self.injected_parameters {
            let _ = writeln!(
                out,
                "\nThe last papermill run injected `{} = {}`; the default above is the notebook's own.",
                injected.name,
                table_text(injected.value)
            );
        }
        out.push('\n');
    }

    fn data_table(&self, out: &mut String) {
        if self.inputs.is_empty() && self.outputs.is_empty() {
            return;
        }
        out.push_str("## Data\n\n| port | name | type | path | from |\n|---|---|---|---|---|\n");
        for (port, list) in [("input", self.inputs), ("output", self.outputs)] {
            for data in list {
                let _ = writeln!(
                    out,
                    "| {port} | `{}` | {} | {} | {} |",
                    data.name,
                    data.kind,
                    table_text(data.path.as_deref().unwrap_or("")),
                    data.origin
                );
            }
        }
        out.push('\n');
    }

    fn dependency_list(&self, out: &mut String) {
        let _ = writeln!(out, "## Environment\n\nPython {}.\n", self.python);
        for dependency in self.dependencies {
            let spec = dependency.spec.as_deref().unwrap_or(&dependency.name);
            let _ = writeln!(out, "- `{spec}` ({})", dependency.origin);
        }
        out.push('\n');
    }
}

fn table_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
