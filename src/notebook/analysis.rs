//! The analysis shared by `inspect`, `convert` and `job --as-is`.
//!
//! Stages, in order:
//! 1. gate the kernel language;
//! 2. decide per cell from its type and tags, then split off cell magics and parse;
//! 3. find the parameters (tagged cell, then holder patterns);
//! 4. decide per top-level statement: IPython constructs, display-only expressions, parameter
//!    bindings, `mlflow.set_experiment`;
//! 5. check the kept code: misplaced `await`/`return`, names no kept cell defines, working
//!    directory changes, interactive input, control-plane Azure ML code;
//! 6. bind data reads and writes to inputs and outputs;
//! 7. collect dependencies;
//! 8. place each statement at module level or in `main()`, or fall back to a flat script.
//!
//! The result carries everything the writers need; nothing here touches the file system except
//! through [`NotebookFiles`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use serde::Serialize;
use serde_json::Value;

use super::data::{self, Access, PathKind, PathOrigin};
use super::deps::{self, InstallLine};
use super::ipython::{self, Treatment};
use super::names::{self, Misplaced, StatementNames};
use super::params::{self, ParamSource, ParamType, Parameter};
use super::python::PreparedCell;
use super::reader::{Cell, CellKind, Notebook};

/// Files next to the notebook (install `-r` files, local modules).
pub trait NotebookFiles {
    /// Reads a file given relative to the notebook's folder.
    fn read(&self, relative: &str) -> Option<String>;
    /// Whether a file or folder exists relative to the notebook's folder.
    fn exists(&self, relative: &str) -> bool;
}

/// No files: for tests and in-memory notebooks.
pub struct NoFiles;

impl NotebookFiles for NoFiles {
    fn read(&self, _: &str) -> Option<String> {
        None
    }
    fn exists(&self, _: &str) -> bool {
        false
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Script and asset name; default: derived from the notebook's file name.
    pub name: Option<String>,
    /// A requirements file (`pip freeze` output) to take versions from: display path and text.
    pub requirements: Option<(String, String)>,
    /// `NAME=PATH` bindings for inputs the notebook reads from absolute local paths.
    pub data: Vec<(String, String)>,
    /// Take the defaults from the `injected-parameters` cell of the last papermill run.
    pub use_injected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A finding, located at a cell and line when it has a place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    /// 0-based index in the notebook's `cells`.
    pub index: Option<usize>,
    pub id: Option<String>,
    /// 1-based line within the cell.
    pub line: Option<u32>,
    pub message: String,
    pub hint: Option<String>,
}

/// What happened to one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellDecision {
    pub index: usize,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: CellKind,
    pub decision: Decision,
    pub reason: String,
    /// Statement-level decisions inside a kept cell.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Kept,
    Comment,
    Dropped,
    Refused,
}

/// A job input or output bound to a script parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataPort {
    /// The parameter (and job input/output) name.
    pub name: String,
    /// `uri_file` or `uri_folder`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Remote URL, or a path relative to the notebook's folder; `None` for outputs.
    pub path: Option<String>,
    /// Whether `path` is relative to the notebook's folder.
    pub local: bool,
    pub origin: String,
}

/// One distribution of the environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub name: String,
    /// The specifier with a version, when the notebook or the requirements file gives one.
    pub spec: Option<String>,
    pub origin: String,
    /// `conda install` rather than pip.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conda: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Imports, constants and definitions at module level, the body in `main()`.
    Functions,
    /// The whole body under `if __name__ == "__main__":`.
    Flat,
}

/// Where a kept statement goes in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Module,
    Body,
}

/// A kept top-level statement with the source text it will be emitted as.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub cell: usize,
    /// Source text, ending with a newline; comments and blank lines before the statement
    /// included.
    pub text: String,
    pub placement: Placement,
}

/// The notebook as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NotebookInfo {
    pub path: String,
    pub sha256: String,
    pub nbformat: String,
    pub kernel: Option<String>,
    pub language: Option<String>,
    pub language_version: Option<String>,
}

/// Everything known about a notebook's conversion.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub notebook: NotebookInfo,
    /// Script, environment and job name (a Python identifier).
    pub name: String,
    pub cells: Vec<CellDecision>,
    pub param_source: Option<ParamSource>,
    pub parameters: Vec<Parameter>,
    /// Values the last papermill run injected (`injected-parameters` cell), for the report.
    pub injected: Vec<(String, String)>,
    pub inputs: Vec<DataPort>,
    pub outputs: Vec<DataPort>,
    pub dependencies: Vec<Dependency>,
    pub diagnostics: Vec<Diagnostic>,
    pub mode: Mode,
    pub mode_reasons: Vec<String>,
    pub experiment_name: Option<String>,
    /// `major.minor` for the conda file.
    pub python_version: String,
    /// Kept code in notebook order.
    pub chunks: Vec<Chunk>,
    /// Markdown comments to print before the first chunk of a cell.
    pub comments: BTreeMap<usize, String>,
    /// Body names `main()` must declare `global` (parameters, names hoisted code reads).
    pub main_globals: BTreeSet<String>,
    /// Every name the notebook binds or reads, to pick fresh names for generated code.
    pub used_names: BTreeSet<String>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|diagnostic| diagnostic.severity == Severity::Error)
    }
}

/// Python versions older than this are not offered by current images.
const OLDEST_PYTHON: (u32, u32) = (3, 8);
const DEFAULT_PYTHON: &str = "3.10";

/// Tags that drop a cell.
const DROP_TAGS: &[&str] = &[
    "active-ipynb",
    "eda",
    "exploration",
    "remove-cell",
    "remove_cell",
    "skip",
    "skip-execution",
];

/// Imports that mean the notebook drives Azure ML instead of being the work.
const CONTROL_PLANE: &[&str] = &[
    "azure.ai.ml",
    "azureml.contrib",
    "azureml.core",
    "azureml.pipeline",
    "azureml.train",
    "azureml.widgets",
];

/// Runs the whole analysis.
pub fn analyze(
    notebook: &Notebook,
    info: NotebookInfo,
    stem: &str,
    files: &dyn NotebookFiles,
    options: &Options,
) -> Analysis {
    let mut state = State::new(notebook, info, stem, options);
    if state.gate_language(notebook) {
        state.classify_cells(notebook);
        state.find_parameters(notebook, options);
        state.decide_statements(notebook);
        state.check_names();
        state.check_calls();
        state.bind_data(options);
        state.collect_dependencies(files, options);
        state.check_parameters();
        state.place_statements();
        state.check_history(notebook);
    }
    state.finish()
}

/// A code cell in progress.
struct Work {
    index: usize,
    prepared: PreparedCell,
    /// Top-level statements kept, by index into the module body.
    kept: Vec<usize>,
    edits: Vec<(TextRange, String)>,
    details: Vec<String>,
    refused: bool,
}

/// A kept statement with its names.
struct KeptStatement {
    work: usize,
    stmt: usize,
    names: StatementNames,
    /// Bound by a parameter assignment that was removed; never emitted.
    removed: bool,
}

struct State {
    analysis: Analysis,
    work: Vec<Work>,
    kept: Vec<KeptStatement>,
    installs: Vec<(InstallLine, bool, usize)>,
    kwargs_classes: BTreeSet<String>,
    /// Parameter statements to remove: (cell, statement index).
    param_statements: BTreeSet<(usize, usize)>,
    /// Module constants promoted to parameters: (cell, statement index).
    promoted: BTreeSet<(usize, usize)>,
    dropped_binds: BTreeMap<String, (usize, String)>,
}

fn cell_diagnostic(
    severity: Severity,
    code: &'static str,
    cell: &Cell,
    line: Option<u32>,
    message: String,
    hint: Option<&str>,
) -> Diagnostic {
    Diagnostic {
        severity,
        code,
        index: Some(cell.index),
        id: cell.id.clone(),
        line,
        message,
        hint: hint.map(str::to_string),
    }
}

impl State {
    fn new(notebook: &Notebook, info: NotebookInfo, stem: &str, options: &Options) -> Self {
        let name = options.name.clone().unwrap_or_else(|| script_name(stem));
        let python_version = python_version(notebook.language_version.as_deref());
        State {
            analysis: Analysis {
                notebook: info,
                name,
                cells: Vec::new(),
                param_source: None,
                parameters: Vec::new(),
                injected: Vec::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                dependencies: Vec::new(),
                diagnostics: Vec::new(),
                mode: Mode::Functions,
                mode_reasons: Vec::new(),
                experiment_name: None,
                python_version,
                chunks: Vec::new(),
                comments: BTreeMap::new(),
                main_globals: BTreeSet::new(),
                used_names: BTreeSet::new(),
            },
            work: Vec::new(),
            kept: Vec::new(),
            installs: Vec::new(),
            kwargs_classes: BTreeSet::new(),
            param_statements: BTreeSet::new(),
            promoted: BTreeSet::new(),
            dropped_binds: BTreeMap::new(),
        }
    }

    fn diagnose(&mut self, diagnostic: Diagnostic) {
        self.analysis.diagnostics.push(diagnostic);
    }

    fn note(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        hint: Option<&str>,
    ) {
        self.diagnose(Diagnostic {
            severity,
            code,
            index: None,
            id: None,
            line: None,
            message,
            hint: hint.map(str::to_string),
        });
    }

    fn decide(&mut self, cell: &Cell, decision: Decision, reason: &str) {
        self.analysis.cells.push(CellDecision {
            index: cell.index,
            id: cell.id.clone(),
            kind: cell.kind,
            decision,
            reason: reason.to_string(),
            details: Vec::new(),
        });
    }

    /// Stage 1. Returns whether the notebook is Python.
    fn gate_language(&mut self, notebook: &Notebook) -> bool {
        let lower = |text: &Option<String>| text.as_deref().map(str::to_lowercase);
        let kernel_language = lower(&notebook.kernel_language);
        let info_language = lower(&notebook.language_info_name);
        let kernel_name = lower(&notebook.kernel_name).unwrap_or_default();
        let language = kernel_language.clone().or(info_language.clone());
        let python_kernel = kernel_name.contains("python");
        self.analysis.notebook.language = language.clone();
        match language.as_deref() {
            Some("python") => {
                if info_language
                    .as_deref()
                    .is_some_and(|info| info != "python")
                {
                    self.note(
                        Severity::Warning,
                        "NB002",
                        format!(
                            "language_info says {:?} while the kernel is Python; treating it as Python",
                            notebook.language_info_name.as_deref().unwrap_or_default()
                        ),
                        None,
                    );
                }
                true
            }
            None | Some("plaintext") if python_kernel => {
                self.note(
                    Severity::Warning,
                    "NB002",
                    "the notebook does not declare its language; the kernel name says Python"
                        .to_string(),
                    None,
                );
                true
            }
            other => {
                let kernel = notebook.kernel_name.as_deref().unwrap_or("unknown");
                self.note(
                    Severity::Error,
                    "NB002",
                    format!(
                        "kernel '{kernel}' ({}): only Python notebooks can become Python jobs",
                        other.unwrap_or("no language")
                    ),
                    Some("run it with its own kernel, or port it to Python first"),
                );
                false
            }
        }
    }

    /// Stage 2.
    fn classify_cells(&mut self, notebook: &Notebook) {
        let mut pending_markdown: Vec<String> = Vec::new();
        for cell in &notebook.cells {
            match cell.kind {
                CellKind::Markdown => {
                    if !cell.source.trim().is_empty() {
                        pending_markdown.push(markdown_comment(&cell.source));
                    }
                    self.decide(cell, Decision::Comment, "markdown kept as a comment");
                    continue;
                }
                CellKind::Raw => {
                    self.decide(cell, Decision::Dropped, "raw cell (not executed)");
                    continue;
                }
                CellKind::Code => {}
            }
            if let Some(tag) = cell
                .tags
                .iter()
                .find(|tag| DROP_TAGS.contains(&tag.as_str()))
            {
                self.decide(cell, Decision::Dropped, &format!("tag `{tag}`"));
                self.remember_dropped(cell, &format!("tag `{tag}`"));
                continue;
            }
            if cell.tags.iter().any(|tag| tag == "injected-parameters") {
                self.record_injected(cell);
                self.decide(
                    cell,
                    Decision::Dropped,
                    "papermill injected parameters (last run's values)",
                );
                continue;
            }
            if cell.tags.iter().any(|tag| tag == "raises-exception") {
                self.decide(
                    cell,
                    Decision::Dropped,
                    "tag `raises-exception` (would stop the job)",
                );
                continue;
            }
            if cell.frozen {
                self.decide(
                    cell,
                    Decision::Dropped,
                    "frozen cell (disabled by the author)",
                );
                continue;
            }
            if cell.source.trim().is_empty() {
                self.decide(cell, Decision::Dropped, "empty");
                continue;
            }
            if let Some(directive) = skip_directive(&cell.source) {
                self.decide(cell, Decision::Dropped, directive);
                continue;
            }
            // A parameters cell becomes the argument parser, which prints no cell of its
            // own: the markdown above it goes with the next cell that does.
            let parameters = cell.tags.iter().any(|tag| tag == "parameters");
            if !pending_markdown.is_empty() && !parameters {
                self.analysis
                    .comments
                    .insert(cell.index, pending_markdown.join("#\n"));
                pending_markdown.clear();
            }
            self.prepare(cell);
        }
    }

    fn remember_dropped(&mut self, cell: &Cell, reason: &str) {
        let prepared = PreparedCell::new(&cell.source);
        for stmt in &prepared.parsed.syntax().body {
            for name in names::statement_names(stmt).binds {
                self.dropped_binds
                    .entry(name)
                    .or_insert((cell.index, reason.to_string()));
            }
        }
    }

    fn record_injected(&mut self, cell: &Cell) {
        let prepared = PreparedCell::new(&cell.source);
        for stmt in &prepared.parsed.syntax().body {
            if let Stmt::Assign(assign) = stmt
                && let [Expr::Name(name)] = assign.targets.as_slice()
            {
                let value = prepared.slice(assign.value.range()).to_string();
                self.analysis.injected.push((name.id.to_string(), value));
            }
        }
    }

    fn prepare(&mut self, cell: &Cell) {
        let prepared = PreparedCell::new(&cell.source);
        let mut work = Work {
            index: cell.index,
            prepared,
            kept: Vec::new(),
            edits: Vec::new(),
            details: Vec::new(),
            refused: false,
        };
        if let Some(magic) = work.prepared.cell_magic.clone() {
            match ipython::cell_magic(&magic.name, &magic.args) {
                Treatment::Drop { reason } if ipython::cell_magic_keeps_body(&magic.name) => {
                    work.details.push(format!(
                        "line {}: `%%{}` dropped: {reason}",
                        magic.line, magic.name
                    ));
                }
                Treatment::Drop { reason } => {
                    self.decide(
                        cell,
                        Decision::Dropped,
                        &format!("`%%{}`: {reason}", magic.name),
                    );
                    return;
                }
                Treatment::Refuse {
                    code,
                    message,
                    hint,
                } => {
                    let diagnostic = cell_diagnostic(
                        Severity::Error,
                        code,
                        cell,
                        Some(magic.line),
                        message,
                        Some(&hint),
                    );
                    self.diagnose(diagnostic);
                    self.decide(cell, Decision::Refused, &format!("`%%{}`", magic.name));
                    return;
                }
                Treatment::Install { .. } | Treatment::Replace { .. } => {}
            }
        }
        for line in &work.prepared.automagic_lines {
            work.details
                .push(format!("line {line}: automagic read as a `%` magic"));
        }
        let problems = work.prepared.syntax_problems();
        if !problems.is_empty() {
            for problem in problems {
                let diagnostic = cell_diagnostic(
                    Severity::Error,
                    "NB010",
                    cell,
                    Some(problem.line),
                    format!("syntax error: {}", problem.message),
                    Some("fix the cell so it runs in a fresh kernel, or tag it `skip`"),
                );
                self.diagnose(diagnostic);
            }
            self.decide(cell, Decision::Refused, "syntax error");
            return;
        }
        self.apply_replacements(&mut work);
        self.work.push(work);
    }

    /// `%time stmt`, `%env K=V`: rewrite in place and parse again.
    fn apply_replacements(&mut self, work: &mut Work) {
        let mut collector = EscapeCollector::default();
        for stmt in &work.prepared.parsed.syntax().body {
            collector.visit_stmt(stmt);
        }
        let mut edits = Vec::new();
        for escape in &collector.statements {
            if let Treatment::Replace { python } = ipython::line_escape(escape.kind, &escape.value)
            {
                let line = work.prepared.line_of(escape.range.start());
                work.details.push(format!(
                    "line {line}: `{}` rewritten as plain Python",
                    escape_text(escape)
                ));
                edits.push((escape.range, python));
            }
        }
        if !edits.is_empty() {
            let text = apply_edits(&work.prepared.text, &edits, 0, work.prepared.text.len());
            work.prepared = work.prepared.with_text(text);
        }
    }

    /// Stage 3.
    fn find_parameters(&mut self, notebook: &Notebook, options: &Options) {
        let tagged = notebook.cells.iter().find(|cell| {
            cell.kind == CellKind::Code && cell.tags.iter().any(|tag| tag == "parameters")
        });
        if let Some(cell) = tagged {
            self.tagged_parameters(cell.index);
            if options.use_injected {
                self.use_injected_values();
            }
            return;
        }
        for work_index in 0..self.work.len() {
            let work = &self.work[work_index];
            for stmt in &work.prepared.parsed.syntax().body {
                if let Some(class) = params::kwargs_class(stmt) {
                    self.kwargs_classes.insert(class);
                }
            }
        }
        for work_index in 0..self.work.len() {
            let work = &self.work[work_index];
            let index = work.index;
            for (stmt_index, stmt) in work.prepared.parsed.syntax().body.iter().enumerate() {
                if let Some(found) = params::holder_class(&work.prepared, index, stmt) {
                    let holder = stmt.as_class_def_stmt().map(|class| class.name.to_string());
                    self.use_holder(
                        ParamSource::HolderClass {
                            cell: index,
                            holder: holder.unwrap_or_default(),
                        },
                        found,
                        (index, stmt_index),
                    );
                    return;
                }
                if let Some((holder, found)) =
                    params::holder_call(&work.prepared, index, stmt, &self.kwargs_classes)
                {
                    self.use_holder(
                        ParamSource::HolderCall {
                            cell: index,
                            holder,
                        },
                        found,
                        (index, stmt_index),
                    );
                    return;
                }
            }
        }
    }

    fn use_holder(
        &mut self,
        source: ParamSource,
        found: Vec<Parameter>,
        statement: (usize, usize),
    ) {
        self.param_statements.insert(statement);
        self.analysis.parameters = found;
        self.analysis.param_source = Some(source);
    }

    /// Replaces defaults with the literal values papermill injected last time.
    fn use_injected_values(&mut self) {
        let by_name = first_index_by_name(&self.analysis.parameters);
        for (name, source) in &self.analysis.injected {
            let Some(&index) = by_name.get(name.as_str()) else {
                continue;
            };
            let parameter = &mut self.analysis.parameters[index];
            let Ok(parsed) = ruff_python_parser::parse_expression(source) else {
                continue;
            };
            if let Some(value) = params::literal(parsed.expr()) {
                parameter.ty = value.ty.or(parameter.ty);
                parameter.default = value.value;
                parameter.default_source = source.clone();
                parameter.origin = format!("{} (value injected by papermill)", parameter.origin);
            }
        }
    }

    fn tagged_parameters(&mut self, cell: usize) {
        self.analysis.param_source = Some(ParamSource::TaggedCell { cell });
        let Some(work) = self.work.iter().find(|work| work.index == cell) else {
            return;
        };
        let mut found: Vec<Parameter> = Vec::new();
        let mut not_exposed = Vec::new();
        for (stmt_index, stmt) in work.prepared.parsed.syntax().body.iter().enumerate() {
            match params::tagged_assignment(&work.prepared, cell, stmt) {
                Some(parameter) => {
                    self.param_statements.insert((cell, stmt_index));
                    found.push(parameter);
                }
                None if matches!(stmt, Stmt::Assign(_) | Stmt::AnnAssign(_)) => {
                    not_exposed.push(work.prepared.line_of(stmt.start()));
                }
                None => {}
            }
        }
        for line in not_exposed {
            self.diagnose(Diagnostic {
                severity: Severity::Info,
                code: "NB052",
                index: Some(cell),
                id: None,
                line: Some(line),
                message: "assignment in the parameters cell is not a literal; it stays as code and is not exposed".to_string(),
                hint: None,
            });
        }
        self.analysis.parameters = last_of_each_name(found);
    }

    /// Stage 4.
    fn decide_statements(&mut self, notebook: &Notebook) {
        for work_index in 0..self.work.len() {
            self.decide_cell(work_index);
            let work = &self.work[work_index];
            let cell = &notebook.cells[work.index];
            let is_parameters = self
                .analysis
                .param_source
                .as_ref()
                .is_some_and(|source| source.cell() == work.index);
            let (decision, reason) = if work.refused {
                (
                    Decision::Refused,
                    "contains constructs that cannot be converted",
                )
            } else if work.kept.is_empty() && is_parameters {
                (Decision::Kept, "parameters: become script arguments")
            } else if work.kept.is_empty() {
                (Decision::Dropped, "nothing left to run")
            } else {
                (Decision::Kept, "code")
            };
            let details = work.details.clone();
            let reason = if decision == Decision::Dropped && !details.is_empty() {
                details.join("; ")
            } else {
                reason.to_string()
            };
            self.decide(cell, decision, &reason);
            if let Some(last) = self.analysis.cells.last_mut()
                && decision != Decision::Dropped
            {
                last.details = details;
            }
        }
        self.analysis.cells.sort_by_key(|cell| cell.index);
    }

    fn decide_cell(&mut self, work_index: usize) {
        let index = self.work[work_index].index;
        let body_len = self.work[work_index].prepared.parsed.syntax().body.len();
        for stmt_index in 0..body_len {
            if self.param_statements.contains(&(index, stmt_index)) {
                let names = {
                    let stmt = &self.work[work_index].prepared.parsed.syntax().body[stmt_index];
                    names::statement_names(stmt)
                };
                self.kept.push(KeptStatement {
                    work: work_index,
                    stmt: stmt_index,
                    names,
                    removed: true,
                });
                continue;
            }
            if self.decide_statement(work_index, stmt_index) {
                let work = &mut self.work[work_index];
                work.kept.push(stmt_index);
                let names = names::statement_names(&work.prepared.parsed.syntax().body[stmt_index]);
                self.kept.push(KeptStatement {
                    work: work_index,
                    stmt: stmt_index,
                    names,
                    removed: false,
                });
            }
        }
    }

    /// Returns whether the statement is kept.
    fn decide_statement(&mut self, work_index: usize, stmt_index: usize) -> bool {
        let work = &self.work[work_index];
        let prepared = &work.prepared;
        let stmt = &prepared.parsed.syntax().body[stmt_index];
        let line = prepared.line_of(stmt.start());
        if let Stmt::IpyEscapeCommand(escape) = stmt {
            let treatment = ipython::line_escape(escape.kind, &escape.value);
            let text = format!("{}{}", escape.kind.as_str(), escape.value);
            return self.treat_escape(work_index, line, &text, treatment, None);
        }
        if let Some(what) = display_only(prepared, stmt) {
            self.work[work_index]
                .details
                .push(format!("line {line}: `{what}` dropped (display only)"));
            return false;
        }
        if let Some(name) = experiment_name(prepared, stmt) {
            self.work[work_index].details.push(format!(
                "line {line}: mlflow.set_experiment moved to the job's experiment_name"
            ));
            self.analysis.experiment_name = Some(name);
            return false;
        }
        let mut collector = EscapeCollector::default();
        collector.visit_stmt(stmt);
        let escapes: Vec<_> = collector
            .statements
            .into_iter()
            .map(|escape| (prepared.line_of(escape.range.start()), escape))
            .collect();
        for (line, escape) in escapes {
            let treatment = ipython::line_escape(escape.kind, &escape.value);
            let text = escape_text(&escape);
            self.treat_escape(work_index, line, &text, treatment, Some(escape.range));
        }
        for (range, text) in collector.expressions {
            let line = self.work[work_index].prepared.line_of(range.start());
            self.refuse_in(
                work_index,
                line,
                "NB033",
                format!("`{text}` captures IPython output into a variable"),
                "use subprocess.run(..., capture_output=True) instead",
            );
        }
        true
    }

    /// Handles a line escape; `nested` is its range when it sits inside a block.
    fn treat_escape(
        &mut self,
        work_index: usize,
        line: u32,
        text: &str,
        treatment: Treatment,
        nested: Option<TextRange>,
    ) -> bool {
        let work = &mut self.work[work_index];
        match treatment {
            Treatment::Drop { reason } => {
                work.details
                    .push(format!("line {line}: `{text}` dropped: {reason}"));
            }
            Treatment::Install {
                line: install,
                conda,
            } => {
                work.details
                    .push(format!("line {line}: `{text}` moved to the environment"));
                self.installs.push((install, conda, work.index));
            }
            Treatment::Replace { .. } => {}
            Treatment::Refuse {
                code,
                message,
                hint,
            } => {
                self.refuse_in(work_index, line, code, message, &hint);
                return false;
            }
        }
        if let Some(range) = nested {
            self.work[work_index]
                .edits
                .push((range, "pass".to_string()));
        }
        false
    }

    fn refuse_in(
        &mut self,
        work_index: usize,
        line: u32,
        code: &'static str,
        message: String,
        hint: &str,
    ) {
        let work = &mut self.work[work_index];
        work.refused = true;
        let index = work.index;
        self.diagnose(Diagnostic {
            severity: Severity::Error,
            code,
            index: Some(index),
            id: None,
            line: Some(line),
            message,
            hint: Some(hint.to_string()),
        });
    }

    fn statement(&self, kept: &KeptStatement) -> &Stmt {
        &self.work[kept.work].prepared.parsed.syntax().body[kept.stmt]
    }

    fn locate(&self, kept: &KeptStatement, offset: TextSize) -> (usize, u32) {
        let work = &self.work[kept.work];
        (work.index, work.prepared.line_of(offset))
    }

    /// Stage 5a: misplaced statements and names no kept cell defines.
    fn check_names(&mut self) {
        let mut bound: BTreeSet<String> = self.parameter_names();
        // A cell that does not parse may define anything: checking names would only repeat
        // its syntax error as undefined names further down.
        let unparsed = self
            .analysis
            .cells
            .iter()
            .any(|cell| cell.reason == "syntax error");
        let star = unparsed || self.kept.iter().any(|kept| kept.names.star_import);
        let mut reported = BTreeSet::new();
        let mut findings = Vec::new();
        for kept in &self.kept {
            for (misplaced, range) in &kept.names.misplaced {
                let (cell, line) = self.locate(kept, range.start());
                findings.push((cell, line, misplaced_finding(*misplaced)));
            }
            if !star {
                for read in &kept.names.reads {
                    if !bound.contains(&read.name)
                        && !names::is_builtin(&read.name)
                        && reported.insert(read.name.clone())
                    {
                        let (cell, line) = self.locate(kept, read.range.start());
                        findings.push((cell, line, self.undefined(&read.name, &bound)));
                    }
                }
            }
            bound.extend(kept.names.binds.iter().cloned());
        }
        if !star {
            for kept in &self.kept {
                for read in &kept.names.deferred {
                    if !bound.contains(&read.name)
                        && !names::is_builtin(&read.name)
                        && reported.insert(read.name.clone())
                    {
                        let (cell, line) = self.locate(kept, read.range.start());
                        findings.push((cell, line, self.undefined(&read.name, &bound)));
                    }
                }
            }
        } else if !unparsed {
            self.note(
                Severity::Warning,
                "NB035",
                "a star import hides which names are defined; undefined names were not checked"
                    .to_string(),
                Some("import the names you use explicitly"),
            );
        }
        for (cell, line, (code, message, hint)) in findings {
            self.diagnose(Diagnostic {
                severity: Severity::Error,
                code,
                index: Some(cell),
                id: None,
                line: Some(line),
                message,
                hint: Some(hint),
            });
        }
        let mut used = bound;
        for kept in &self.kept {
            used.extend(kept.names.reads.iter().map(|read| read.name.clone()));
            used.extend(kept.names.deferred.iter().map(|read| read.name.clone()));
        }
        self.analysis.used_names = used;
    }

    fn parameter_names(&self) -> BTreeSet<String> {
        match self
            .analysis
            .param_source
            .as_ref()
            .and_then(ParamSource::holder)
        {
            Some(holder) => BTreeSet::from([holder.to_string()]),
            None => self
                .analysis
                .parameters
                .iter()
                .map(|p| p.name.clone())
                .collect(),
        }
    }

    fn undefined(&self, name: &str, bound: &BTreeSet<String>) -> (&'static str, String, String) {
        if name == "display" {
            return ("NB020", "`display` is an IPython builtin used inside an expression".to_string(), "use print(...) instead, or make display(...) its own statement so it can be dropped".to_string());
        }
        if name == "get_ipython" {
            return (
                "NB033",
                "`get_ipython()` needs a running IPython kernel".to_string(),
                "replace it with plain Python".to_string(),
            );
        }
        let message =
            format!("`{name}` is used but no kept cell defines it (hidden notebook state)");
        let hint = if let Some((cell, reason)) = self.dropped_binds.get(name) {
            format!("cell {cell} defines it but was dropped ({reason}); keep that cell")
        } else if let Some(similar) = similar_name(name, bound) {
            format!("did you mean `{similar}`?")
        } else if deps::distribution_for(name).is_none() || name == "os" {
            format!("add `import {name}`")
        } else {
            "define it in a kept cell; it only existed in the notebook's kernel".to_string()
        };
        ("NB020", message, hint)
    }

    /// Stage 5b: calls a job cannot make, and control-plane imports.
    fn check_calls(&mut self) {
        let mut findings = Vec::new();
        for kept in self.kept.iter().filter(|kept| !kept.removed) {
            let work = &self.work[kept.work];
            let stmt = self.statement(kept);
            let mut calls = CallCollector::new(&work.prepared);
            calls.visit_stmt(stmt);
            for (callee, range) in calls.calls {
                let line = work.prepared.line_of(range.start());
                let finding = match callee.as_str() {
                    "os.chdir" | "chdir" => Some((
                        "NB030",
                        "`os.chdir` changes what every later relative path means",
                        "use paths relative to the notebook's folder instead",
                    )),
                    "input" | "getpass" | "getpass.getpass" | "interact" | "widgets.interact" => {
                        Some((
                            "NB034",
                            "interactive input: a job has no one to answer",
                            "make the value a parameter in the cell tagged `parameters`",
                        ))
                    }
                    "get_ipython" => Some((
                        "NB033",
                        "`get_ipython()` needs a running IPython kernel",
                        "replace it with plain Python",
                    )),
                    _ => None,
                };
                if let Some((code, message, hint)) = finding {
                    findings.push((work.index, line, code, message.to_string(), hint));
                }
            }
            for (module, range) in imports_of(stmt) {
                if CONTROL_PLANE
                    .iter()
                    .any(|prefix| module == *prefix || module.starts_with(&format!("{prefix}.")))
                {
                    let line = work.prepared.line_of(range.start());
                    findings.push((
                        work.index,
                        line,
                        "NB060",
                        format!("the notebook drives Azure ML itself (`import {module}`)"),
                        "convert the training notebook it runs instead; amlops writes the job",
                    ));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (cell, line, code, message, hint) in findings {
            if code == "NB060" && !seen.insert(code) {
                continue;
            }
            self.diagnose(Diagnostic {
                severity: Severity::Error,
                code,
                index: Some(cell),
                id: None,
                line: Some(line),
                message,
                hint: Some(hint.to_string()),
            });
        }
    }

    /// Stage 6.
    fn bind_data(&mut self, options: &Options) {
        let constants = self.string_constants();
        let holder = self
            .analysis
            .param_source
            .as_ref()
            .and_then(ParamSource::holder)
            .map(str::to_string);
        let parameter_paths: BTreeSet<String> = self
            .analysis
            .parameters
            .iter()
            .filter(|parameter| parameter.default.is_string() || parameter.is_optional())
            .map(|parameter| parameter.name.clone())
            .collect();
        let mut uses = Vec::new();
        for (kept_index, kept) in self
            .kept
            .iter()
            .enumerate()
            .filter(|(_, kept)| !kept.removed)
        {
            let work = &self.work[kept.work];
            let resolver = CellResolver {
                cell: &work.prepared,
                names: &constants,
                parameters: if holder.is_some() {
                    &EMPTY_SET
                } else {
                    &parameter_paths
                },
                holder: holder.as_deref(),
            };
            let stmt = self.statement(kept);
            for found in data::path_uses(stmt, &resolver) {
                let target = assignment_target(stmt, found.range);
                uses.push((kept_index, found, target));
            }
        }
        let mut binder = Binder {
            parameter_index: first_index_by_name(&self.analysis.parameters),
            ..Binder::default()
        };
        for (kept_index, found, target) in uses {
            self.bind_use(&mut binder, kept_index, found, target, &constants, options);
        }
        self.finish_binding(binder, options);
    }

    /// Module-level names bound once, by one top-level assignment of a string literal.
    fn string_constants(&self) -> BTreeMap<String, (usize, String)> {
        let counts = self.bind_counts();
        let mut constants = BTreeMap::new();
        for (kept_index, kept) in self
            .kept
            .iter()
            .enumerate()
            .filter(|(_, kept)| !kept.removed)
        {
            if let Stmt::Assign(assign) = self.statement(kept)
                && let [Expr::Name(name)] = assign.targets.as_slice()
                && let Expr::StringLiteral(value) = assign.value.as_ref()
                && counts.get(name.id.as_str()) == Some(&1)
            {
                constants.insert(
                    name.id.to_string(),
                    (kept_index, value.value.to_str().to_string()),
                );
            }
        }
        constants
    }

    fn bind_use(
        &mut self,
        binder: &mut Binder,
        kept_index: usize,
        found: data::PathUse,
        target: Option<String>,
        constants: &BTreeMap<String, (usize, String)>,
        options: &Options,
    ) {
        let kept = &self.kept[kept_index];
        let (cell, line) = self.locate(kept, found.range.start());
        let origin = format!("cell {cell} line {line} {}", found.callee);
        let folder_call = matches!(
            found.callee.as_str(),
            "os.listdir" | "os.walk" | "os.scandir" | "glob.glob"
        );
        match &found.origin {
            PathOrigin::Download => {
                if binder.downloads.insert(found.callee.clone()) {
                    self.diagnose(Diagnostic { severity: Severity::Warning, code: "NB042", index: Some(cell), id: None, line: Some(line), message: format!("`{}` downloads data at run time", found.callee), hint: Some("the compute needs internet access; or register the data and read it from a job input".to_string()) });
                }
            }
            PathOrigin::Dynamic => {
                if found.access != Access::MakeDir {
                    self.diagnose(Diagnostic { severity: Severity::Info, code: "NB043", index: Some(cell), id: None, line: Some(line), message: format!("the path given to `{}` is computed at run time; it is not bound to a job input or output", found.callee), hint: None });
                }
            }
            PathOrigin::Literal { range } => {
                let value = self.work[kept.work].prepared.slice(*range);
                let value = python_string_value(value);
                let Some(value) = value else { return };
                match (found.access, data::path_kind(&value)) {
                    (Access::Read, PathKind::Absolute) => {
                        self.absolute_read(cell, line, &value, None, options)
                    }
                    (Access::Read, _) => {
                        let base = target
                            .map(|target| format!("{target}_path"))
                            .unwrap_or_else(|| file_stem_name(&value));
                        let name = binder.fresh(&base, &self.analysis.used_names);
                        let work_index = kept.work;
                        self.work[work_index].edits.push((*range, name.clone()));
                        let default_source =
                            self.work[work_index].prepared.slice(*range).to_string();
                        binder.new_parameters.push(Parameter {
                            name: name.clone(),
                            ty: Some(ParamType::Str),
                            default: Value::String(value.clone()),
                            default_source,
                            help: Some(format!("data read by {}", found.callee)),
                            origin: origin.clone(),
                            cell,
                            line,
                            on_holder: false,
                        });
                        binder.port(
                            true,
                            &name,
                            port_kind(&value, found.joined || folder_call),
                            Some(value),
                            origin,
                        );
                    }
                    (Access::Write, PathKind::Relative) => {
                        self.diagnose(Diagnostic { severity: Severity::Warning, code: "NB044", index: Some(cell), id: None, line: Some(line), message: format!("writes `{value}` to the working directory"), hint: Some("Azure ML keeps only files under ./outputs; write there or to an output folder parameter".to_string()) });
                    }
                    _ => {}
                }
            }
            PathOrigin::Name { name } | PathOrigin::Attribute { name } => {
                let parameter = binder
                    .parameter_index
                    .get(name)
                    .map(|&index| self.analysis.parameters[index].clone());
                let (value, is_parameter) = match (&parameter, constants.get(name)) {
                    (Some(parameter), _) => (parameter.default.as_str().map(str::to_string), true),
                    (None, Some((_, value))) => (Some(value.clone()), false),
                    (None, None) => return,
                };
                let Some(value) = value else {
                    // A `None` default: the user supplies the path; bind it as a folder.
                    binder.port(
                        found.access == Access::Read,
                        name,
                        "uri_folder",
                        None,
                        origin,
                    );
                    return;
                };
                if !is_parameter && binder.promoted.insert(name.clone()) {
                    let (constant_kept, _) = constants[name];
                    let kept = &self.kept[constant_kept];
                    let work = &self.work[kept.work];
                    let stmt = self.statement(kept);
                    let (cell, line) = (work.index, work.prepared.line_of(stmt.start()));
                    let default_source = match stmt {
                        Stmt::Assign(assign) => {
                            work.prepared.slice(assign.value.range()).to_string()
                        }
                        _ => String::new(),
                    };
                    self.promoted.insert((work.index, kept.stmt));
                    binder.new_parameters.push(Parameter {
                        name: name.clone(),
                        ty: Some(ParamType::Str),
                        default: Value::String(value.clone()),
                        default_source,
                        help: Some("data path".to_string()),
                        origin: format!("cell {cell} line {line} (constant)"),
                        cell,
                        line,
                        on_holder: false,
                    });
                }
                let folder = found.joined
                    || folder_call
                    || found.access == Access::MakeDir
                    || !data::looks_like_file(&value);
                match found.access {
                    Access::Read => {
                        if data::path_kind(&value) == PathKind::Absolute
                            && !binder.writes.contains(name)
                        {
                            if options.data.iter().any(|(input, _)| input == name) {
                                binder.port(
                                    true,
                                    name,
                                    port_kind(&value, folder),
                                    Some(value),
                                    origin,
                                );
                            } else {
                                self.absolute_read(cell, line, &value, Some(name), options);
                            }
                        } else {
                            binder.port(true, name, port_kind(&value, folder), Some(value), origin);
                        }
                    }
                    Access::Write | Access::MakeDir => {
                        binder.writes.insert(name.clone());
                        binder.port(false, name, port_kind(&value, folder), None, origin);
                    }
                }
            }
        }
    }

    fn absolute_read(
        &mut self,
        cell: usize,
        line: u32,
        value: &str,
        name: Option<&str>,
        options: &Options,
    ) {
        let bind = name.unwrap_or("NAME");
        if name.is_some_and(|name| options.data.iter().any(|(input, _)| input == name)) {
            return;
        }
        self.diagnose(Diagnostic { severity: Severity::Error, code: "NB040", index: Some(cell), id: None, line: Some(line), message: format!("reads the absolute local path `{value}`, which will not exist on a compute"), hint: Some(format!("bind it with --data {bind}=azureml:<data asset>@latest (or a URL), or read a path relative to the notebook")) });
    }

    fn finish_binding(&mut self, binder: Binder, options: &Options) {
        self.analysis.parameters.extend(binder.new_parameters);
        let binder_inputs: BTreeSet<String> = binder
            .ports
            .iter()
            .filter(|port| port.input)
            .map(|port| port.name.clone())
            .collect();
        let binder_outputs: BTreeSet<String> = binder
            .ports
            .iter()
            .filter(|port| !port.input)
            .map(|port| port.name.clone())
            .collect();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        let mut input_names = HashSet::new();
        let mut output_names = HashSet::new();
        for port in binder.ports.into_iter().map(DataPort::from) {
            let input = binder_inputs.contains(&port.name) && !binder_outputs.contains(&port.name);
            let written = binder.writes.contains(&port.name);
            if input && !written {
                if input_names.insert(port.name.clone()) {
                    inputs.push(port);
                }
            } else if !input && output_names.insert(port.name.clone()) {
                outputs.push(port);
            }
        }
        let ports: Vec<DataPort> = inputs
            .into_iter()
            .map(|mut port| {
                if let Some((_, path)) = options.data.iter().find(|(name, _)| *name == port.name) {
                    port.kind = port_kind(path, port.kind == "uri_folder");
                    port.path = Some(path.clone());
                    port.local = false;
                }
                port
            })
            .collect();
        self.analysis.inputs = ports
            .into_iter()
            .map(|mut port| {
                port.local = port
                    .path
                    .as_deref()
                    .is_some_and(|path| data::path_kind(path) == PathKind::Relative);
                port
            })
            .collect();
        self.analysis.outputs = outputs
            .into_iter()
            .map(|port| DataPort {
                path: None,
                local: false,
                ..port
            })
            .collect();
    }

    /// Stage 7.
    fn collect_dependencies(&mut self, files: &dyn NotebookFiles, options: &Options) {
        let mut found: BTreeMap<String, Dependency> = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut local = Vec::new();
        let mut callees = BTreeSet::new();
        for kept in self.kept.iter() {
            let work = &self.work[kept.work];
            let stmt = self.statement(kept);
            let mut calls = CallCollector::new(&work.prepared);
            calls.visit_stmt(stmt);
            callees.extend(
                calls
                    .calls
                    .into_iter()
                    .map(|(callee, _)| last_segment(&callee).to_string()),
            );
            for (module, _) in imports_of(stmt) {
                if module.is_empty() || module.starts_with('.') {
                    continue;
                }
                let top = module.split('.').next().unwrap_or_default();
                if files.exists(&format!("{top}.py")) || files.exists(&format!("{top}/__init__.py"))
                {
                    local.push(top.to_string());
                    continue;
                }
                let Some((name, known)) = deps::distribution_for(&module) else {
                    continue;
                };
                if !known {
                    unknown.push(format!("{top} → {name}"));
                }
                found.entry(name.clone()).or_insert(Dependency {
                    name,
                    spec: None,
                    origin: format!("import {module} (cell {})", work.index),
                    conda: false,
                });
            }
        }
        let implied = [
            ("read_parquet", "pyarrow"),
            ("to_parquet", "pyarrow"),
            ("read_excel", "openpyxl"),
            ("to_excel", "openpyxl"),
            ("plot", "matplotlib"),
            ("read_sql", "sqlalchemy"),
        ];
        for (callee, name) in implied {
            if callees.contains(callee) && !found.contains_key(name) {
                found.insert(
                    name.to_string(),
                    Dependency {
                        name: name.to_string(),
                        spec: None,
                        origin: format!("implied by {callee}"),
                        conda: false,
                    },
                );
            }
        }
        if found.contains_key("mlflow") && !found.contains_key("azureml-mlflow") {
            found.insert(
                "azureml-mlflow".to_string(),
                Dependency {
                    name: "azureml-mlflow".to_string(),
                    spec: None,
                    origin: "mlflow logs to the workspace through azureml-mlflow".to_string(),
                    conda: false,
                },
            );
        }
        self.add_installs(&mut found, files);
        if let Some((path, text)) = &options.requirements {
            let pinned = deps::parse_requirements_file(text);
            for requirement in pinned.requirements {
                if let Some(dependency) = found.get_mut(&requirement.name) {
                    dependency.spec = Some(requirement.spec);
                    dependency.origin = format!("{} (version from {path})", dependency.origin);
                }
            }
        }
        local.sort();
        local.dedup();
        for module in local {
            self.note(
                Severity::Warning,
                "NB045",
                format!("imports the local module `{module}`"),
                Some("copy it next to the generated script in the code folder"),
            );
        }
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() {
            self.note(
                Severity::Warning,
                "NB046",
                format!(
                    "no known distribution for {}; assumed the same name",
                    unknown.join(", ")
                ),
                Some("check the names in the environment file"),
            );
        }
        let unpinned: Vec<String> = found
            .values()
            .filter(|d| d.spec.is_none())
            .map(|d| d.name.clone())
            .collect();
        if !unpinned.is_empty() {
            self.note(Severity::Info, "NB047", format!("unpinned: {}", unpinned.join(", ")), Some("run `pip freeze > requirements.txt` in the notebook's kernel and pass --requirements requirements.txt"));
        }
        self.analysis.dependencies = found.into_values().collect();
    }

    fn add_installs(
        &mut self,
        found: &mut BTreeMap<String, Dependency>,
        files: &dyn NotebookFiles,
    ) {
        let installs = std::mem::take(&mut self.installs);
        for (mut line, conda, cell) in installs {
            for file in std::mem::take(&mut line.files) {
                match files.read(&file) {
                    Some(text) => {
                        let nested = deps::parse_requirements_file(&text);
                        for requirement in nested.requirements {
                            let origin = format!("{file} (cell {cell} %pip install -r)");
                            found.insert(
                                requirement.name.clone(),
                                Dependency {
                                    spec: (requirement.spec != requirement.name)
                                        .then_some(requirement.spec),
                                    name: requirement.name,
                                    origin,
                                    conda,
                                },
                            );
                        }
                    }
                    None => self.diagnose(Diagnostic {
                        severity: Severity::Warning,
                        code: "NB048",
                        index: Some(cell),
                        id: None,
                        line: None,
                        message: format!(
                            "`-r {file}` is not next to the notebook; its packages are unknown"
                        ),
                        hint: Some(
                            "put the file next to the notebook or pass --requirements".to_string(),
                        ),
                    }),
                }
            }
            for requirement in line.requirements {
                let spec = (requirement.spec != requirement.name).then_some(requirement.spec);
                found.insert(
                    requirement.name.clone(),
                    Dependency {
                        name: requirement.name,
                        spec,
                        origin: format!("install line in cell {cell}"),
                        conda,
                    },
                );
            }
            for word in line.expanded {
                self.diagnose(Diagnostic {
                    severity: Severity::Error,
                    code: "NB033",
                    index: Some(cell),
                    id: None,
                    line: None,
                    message: format!("install argument `{word}` needs IPython variable expansion"),
                    hint: Some("write the package name in the install line".to_string()),
                });
            }
            for word in line.ignored {
                self.diagnose(Diagnostic {
                    severity: Severity::Warning,
                    code: "NB049",
                    index: Some(cell),
                    id: None,
                    line: None,
                    message: format!("install option `{word}` is not carried into the environment"),
                    hint: None,
                });
            }
        }
    }

    /// Parameter names must be valid job input names, distinct ignoring case.
    fn check_parameters(&mut self) {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut findings = Vec::new();
        for parameter in &self.analysis.parameters {
            if !params::is_valid_input_name(&parameter.name) {
                findings.push((
                    parameter.cell,
                    parameter.line,
                    format!(
                        "parameter `{}` is not a valid Azure ML input name",
                        parameter.name
                    ),
                ));
            }
            if let Some(other) = seen.insert(parameter.name.to_lowercase(), parameter.name.clone())
            {
                findings.push((
                    parameter.cell,
                    parameter.line,
                    format!(
                        "parameters `{other}` and `{}` differ only in case",
                        parameter.name
                    ),
                ));
            }
        }
        for (cell, line, message) in findings {
            self.diagnose(Diagnostic {
                severity: Severity::Error,
                code: "NB050",
                index: Some(cell),
                id: None,
                line: Some(line),
                message,
                hint: Some(
                    "rename it to letters, digits and underscores, not starting with a digit"
                        .to_string(),
                ),
            });
        }
        let imported: BTreeSet<String> = self
            .kept
            .iter()
            .flat_map(|kept| imports_of(self.statement(kept)))
            .map(|(module, _)| module.split('.').next().unwrap_or_default().to_string())
            .collect();
        if deps::is_stdlib(&self.analysis.name) || imported.contains(&self.analysis.name) {
            let renamed = format!("{}_job", self.analysis.name);
            self.note(
                Severity::Info,
                "NB051",
                format!(
                    "script named `{renamed}.py` so it does not shadow the module `{}`",
                    self.analysis.name
                ),
                None,
            );
            self.analysis.name = renamed;
        }
    }

    /// Stage 8.
    fn place_statements(&mut self) {
        let hoistable = self.hoistable();
        let mut module_names: HashSet<&str> = HashSet::new();
        let mut body_names: HashSet<&str> = HashSet::with_capacity(self.kept.len());
        let mut reasons = Vec::new();
        for (kept_index, kept) in self.kept.iter().enumerate() {
            if kept.removed {
                continue;
            }
            let binds = kept.names.binds.iter().map(String::as_str);
            if hoistable[kept_index] {
                module_names.extend(binds);
            } else {
                body_names.extend(binds);
            }
            if kept.names.module_global {
                let (cell, line) = self.locate(kept, self.statement(kept).start());
                reasons.push(format!(
                    "cell {cell} line {line} declares `global` at top level"
                ));
            }
        }
        let parameters = self.parameter_names();
        let mut globals: BTreeSet<String> = parameters.clone();
        for (kept_index, kept) in self.kept.iter().enumerate() {
            if !hoistable[kept_index] {
                continue;
            }
            let stmt = self.statement(kept);
            for read in kept.names.deferred.iter() {
                if body_names.contains(read.name.as_str()) {
                    globals.insert(read.name.clone());
                }
            }
            for read in &kept.names.reads {
                if body_names.contains(read.name.as_str()) || parameters.contains(&read.name) {
                    let (cell, line) = self.locate(kept, stmt.start());
                    reasons.push(format!("cell {cell} line {line}: a definition reads `{}` when it is defined, before main() runs", read.name));
                }
            }
        }
        globals.extend(
            body_names
                .intersection(&module_names)
                .map(|name| name.to_string()),
        );
        self.analysis.main_globals = globals;
        if self.kept.iter().enumerate().any(|(index, kept)| {
            !kept.removed && !hoistable[index] && matches!(self.statement(kept), Stmt::ClassDef(_))
        }) {
            reasons.push("a class is defined from body variables; classes are never moved into main(), where pickling would fail".to_string());
        }
        if let Some(reason) = self.import_after_path_change(&hoistable) {
            reasons.push(reason);
        }
        let mode = if reasons.is_empty() {
            Mode::Functions
        } else {
            Mode::Flat
        };
        self.analysis.mode = mode;
        self.analysis.mode_reasons = reasons;
        self.build_chunks(&hoistable, mode);
    }

    /// Imports, definitions, classes and constants bound once to a literal, by kept index.
    fn hoistable(&self) -> Vec<bool> {
        let bind_counts = self.bind_counts();
        let parameters = self.parameter_names();
        let mut module = None;
        let mut hoisted = vec![false; self.kept.len()];
        for (kept_index, kept) in self.kept.iter().enumerate() {
            if kept.removed {
                continue;
            }
            let work = &self.work[kept.work];
            if self.promoted.contains(&(work.index, kept.stmt)) {
                continue;
            }
            let stmt = self.statement(kept);
            let is_hoistable = match stmt {
                Stmt::Import(_)
                | Stmt::ImportFrom(_)
                | Stmt::FunctionDef(_)
                | Stmt::ClassDef(_) => true,
                Stmt::Assign(assign) => {
                    matches!(assign.targets.as_slice(), [Expr::Name(name)] if bind_counts.get(name.id.as_str()) == Some(&1) && !parameters.contains(name.id.as_str()))
                        && params::literal(&assign.value).is_some()
                }
                _ => false,
            };
            let reads_body = kept
                .names
                .reads
                .iter()
                .any(|read| !names::is_builtin(&read.name));
            let definition = matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_));
            if is_hoistable
                && !(definition
                    && reads_body
                    && reads_non_module(
                        kept,
                        module.get_or_insert_with(|| self.module_names(&bind_counts)),
                    ))
            {
                hoisted[kept_index] = true;
            }
        }
        hoisted
    }

    /// How many kept statements (removed ones included) bind each name.
    fn bind_counts(&self) -> HashMap<&str, usize> {
        let mut counts: HashMap<&str, usize> = HashMap::with_capacity(self.kept.len());
        for kept in &self.kept {
            for name in &kept.names.binds {
                *counts.entry(name.as_str()).or_default() += 1;
            }
        }
        counts
    }

    /// Names bound by statements that run at module level whatever the mode: imports,
    /// definitions, and literal constants.
    fn module_names<'k>(&'k self, bind_counts: &HashMap<&str, usize>) -> HashSet<&'k str> {
        self.kept
            .iter()
            .filter(|other| !other.removed)
            .filter(|other| {
                matches!(
                    self.statement(other),
                    Stmt::Import(_)
                        | Stmt::ImportFrom(_)
                        | Stmt::FunctionDef(_)
                        | Stmt::ClassDef(_)
                ) || self.is_literal_constant(other, bind_counts)
            })
            .flat_map(|other| other.names.binds.iter().map(String::as_str))
            .collect()
    }

    /// `NAME = literal`, the only binding of `NAME`.
    fn is_literal_constant(
        &self,
        kept: &KeptStatement,
        bind_counts: &HashMap<&str, usize>,
    ) -> bool {
        let Stmt::Assign(assign) = self.statement(kept) else {
            return false;
        };
        let [Expr::Name(name)] = assign.targets.as_slice() else {
            return false;
        };
        bind_counts.get(name.id.as_str()) == Some(&1) && params::literal(&assign.value).is_some()
    }

    fn import_after_path_change(&self, hoistable: &[bool]) -> Option<String> {
        let mut changed: Option<(usize, u32)> = None;
        for (kept_index, kept) in self
            .kept
            .iter()
            .enumerate()
            .filter(|(_, kept)| !kept.removed)
        {
            let stmt = self.statement(kept);
            let is_import = matches!(stmt, Stmt::Import(_) | Stmt::ImportFrom(_));
            if is_import && hoistable[kept_index] {
                if let Some((cell, line)) = changed {
                    return Some(format!(
                        "cell {cell} line {line} changes sys.path or the environment before a later import"
                    ));
                }
                continue;
            }
            if !hoistable[kept_index] {
                let text = self.work[kept.work].prepared.slice(stmt.range());
                if text.contains("sys.path")
                    || text.contains("os.environ")
                    || text.contains("site.addsitedir")
                {
                    changed = Some(self.locate(kept, stmt.start()));
                }
            }
        }
        None
    }

    fn build_chunks(&mut self, hoistable: &[bool], mode: Mode) {
        // Kept statements are in notebook order, as `decide_statements` found them.
        debug_assert!(
            self.kept
                .windows(2)
                .all(|pair| (pair[0].work, pair[0].stmt) < (pair[1].work, pair[1].stmt))
        );
        let mut next_kept = 0;
        let mut chunks = Vec::new();
        for (work_index, work) in self.work.iter().enumerate() {
            let body = &work.prepared.parsed.syntax().body;
            let text = &work.prepared.text;
            let edits = SortedEdits::new(&work.edits);
            let mut newlines = NextNewline::new(text);
            let mut previous_end = 0;
            for (stmt_index, stmt) in body.iter().enumerate() {
                let next_start = body
                    .get(stmt_index + 1)
                    .map_or(text.len(), |next| next.start().to_usize());
                let line_end = newlines
                    .at_or_after(stmt.end().to_usize())
                    .map_or(text.len(), |at| at + 1);
                let end = if stmt_index + 1 == body.len() {
                    text.len()
                } else {
                    line_end.min(next_start)
                };
                let start = previous_end.min(stmt.start().to_usize());
                previous_end = end;
                while self
                    .kept
                    .get(next_kept)
                    .is_some_and(|kept| (kept.work, kept.stmt) < (work_index, stmt_index))
                {
                    next_kept += 1;
                }
                let kept_index = next_kept;
                let Some(kept) = self
                    .kept
                    .get(kept_index)
                    .filter(|kept| (kept.work, kept.stmt) == (work_index, stmt_index))
                else {
                    continue;
                };
                if kept.removed || self.promoted.contains(&(work.index, stmt_index)) {
                    continue;
                }
                let mut chunk_text = edits.apply(text, start, end);
                let leading_blank =
                    chunk_text.len() - chunk_text.trim_start_matches(['\n', ' ', '\t']).len();
                let line_start = chunk_text[..leading_blank]
                    .rfind('\n')
                    .map_or(0, |at| at + 1);
                chunk_text.drain(..line_start);
                if !chunk_text.ends_with('\n') {
                    chunk_text.push('\n');
                }
                let placement = if mode == Mode::Functions && hoistable[kept_index] {
                    Placement::Module
                } else {
                    Placement::Body
                };
                chunks.push(Chunk {
                    cell: work.index,
                    text: chunk_text,
                    placement,
                });
            }
        }
        self.analysis.chunks = chunks;
    }

    fn check_history(&mut self, notebook: &Notebook) {
        let counts: Vec<i64> = notebook
            .cells
            .iter()
            .filter_map(|cell| cell.execution_count)
            .collect();
        if counts.windows(2).any(|pair| pair[1] < pair[0]) {
            self.note(
                Severity::Warning,
                "NB070",
                "cells were last run out of order; a clean top-to-bottom run may differ"
                    .to_string(),
                Some("restart the kernel and run all cells before converting"),
            );
        }
        for cell in notebook.cells.iter().filter(|cell| cell.has_error_output) {
            let diagnostic = cell_diagnostic(
                Severity::Warning,
                "NB071",
                cell,
                None,
                "the cell's last run ended with an error".to_string(),
                None,
            );
            self.diagnose(diagnostic);
        }
        if self
            .analysis
            .chunks
            .iter()
            .all(|chunk| chunk.placement == Placement::Module)
            && self.analysis.chunks.iter().all(|chunk| {
                chunk.text.trim_start().starts_with("import")
                    || chunk.text.trim_start().starts_with("from")
            })
            && !self.analysis.has_errors()
        {
            self.note(
                Severity::Error,
                "NB061",
                "nothing is left to run after dropping cells".to_string(),
                Some("check the dropped cells in the report"),
            );
        }
    }

    fn finish(mut self) -> Analysis {
        self.analysis.diagnostics.sort_by(|a, b| {
            (b.severity, a.index, a.line, a.code).cmp(&(a.severity, b.index, b.line, b.code))
        });
        self.analysis
    }
}

/// Whether a definition's immediate reads (decorators, defaults, bases, class body) need
/// names that are not imports, definitions or literal constants.
fn reads_non_module(kept: &KeptStatement, module: &HashSet<&str>) -> bool {
    kept.names
        .reads
        .iter()
        .any(|read| !names::is_builtin(&read.name) && !module.contains(read.name.as_str()))
}

/// A name assigned twice is one parameter, placed where its last assignment is, with its value.
fn last_of_each_name(found: Vec<Parameter>) -> Vec<Parameter> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(found.len());
    for (index, parameter) in found.iter().enumerate() {
        last.insert(parameter.name.as_str(), index);
    }
    let keep: Vec<bool> = found
        .iter()
        .enumerate()
        .map(|(index, parameter)| last[parameter.name.as_str()] == index)
        .collect();
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(parameter, keep)| keep.then_some(parameter))
        .collect()
}

/// The index of the first parameter of each name.
fn first_index_by_name(parameters: &[Parameter]) -> HashMap<String, usize> {
    let mut index = HashMap::with_capacity(parameters.len());
    for (at, parameter) in parameters.iter().enumerate() {
        index.entry(parameter.name.clone()).or_insert(at);
    }
    index
}

static EMPTY_SET: BTreeSet<String> = BTreeSet::new();

#[derive(Default)]
struct Binder {
    ports: Vec<PortDraft>,
    writes: BTreeSet<String>,
    downloads: BTreeSet<String>,
    promoted: BTreeSet<String>,
    new_parameters: Vec<Parameter>,
    fresh_names: BTreeSet<String>,
    /// Per base name, the counter to try next: every name before it is taken.
    fresh_counters: HashMap<String, usize>,
    /// The notebook's parameters (before binding adds any), first index by name.
    parameter_index: HashMap<String, usize>,
}

struct PortDraft {
    input: bool,
    name: String,
    kind: &'static str,
    path: Option<String>,
    origin: String,
}

impl From<PortDraft> for DataPort {
    fn from(draft: PortDraft) -> Self {
        DataPort {
            name: draft.name,
            kind: draft.kind,
            path: draft.path,
            local: false,
            origin: draft.origin,
        }
    }
}

impl Binder {
    fn port(
        &mut self,
        input: bool,
        name: &str,
        kind: &'static str,
        path: Option<String>,
        origin: String,
    ) {
        self.ports.push(PortDraft {
            input,
            name: name.to_string(),
            kind,
            path,
            origin,
        });
    }

    /// `base`, or `base_2`, `base_3`… : the first not in `used` nor given out before. Names
    /// only ever become taken, so the search for a base resumes where its last one stopped.
    fn fresh(&mut self, base: &str, used: &BTreeSet<String>) -> String {
        let base = identifier(base);
        let mut counter = self.fresh_counters.get(&base).copied().unwrap_or(1);
        let mut name = if counter == 1 {
            base.clone()
        } else {
            format!("{base}_{counter}")
        };
        while used.contains(&name) || self.fresh_names.contains(&name) {
            counter += 1;
            name = format!("{base}_{counter}");
        }
        self.fresh_names.insert(name.clone());
        self.fresh_counters.insert(base, counter + 1);
        name
    }
}

fn port_kind(path: &str, folder: bool) -> &'static str {
    if folder || !data::looks_like_file(path) {
        "uri_folder"
    } else {
        "uri_file"
    }
}

struct CellResolver<'a> {
    cell: &'a PreparedCell,
    names: &'a BTreeMap<String, (usize, String)>,
    parameters: &'a BTreeSet<String>,
    holder: Option<&'a str>,
}

impl data::Resolver for CellResolver<'_> {
    fn slice(&self, range: TextRange) -> &str {
        self.cell.slice(range)
    }
    fn is_path_name(&self, name: &str) -> bool {
        self.names.contains_key(name) || self.parameters.contains(name)
    }
    fn holder(&self) -> Option<&str> {
        self.holder
    }
}

/// Line escapes found anywhere in a statement.
#[derive(Default)]
struct EscapeCollector {
    statements: Vec<ruff_python_ast::StmtIpyEscapeCommand>,
    expressions: Vec<(TextRange, String)>,
}

impl<'a> Visitor<'a> for EscapeCollector {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::IpyEscapeCommand(escape) = stmt {
            self.statements.push(escape.clone());
        }
        visitor::walk_stmt(self, stmt);
    }
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::IpyEscapeCommand(escape) = expr {
            self.expressions.push((
                escape.range,
                format!("{}{}", escape.kind.as_str(), escape.value),
            ));
        }
        visitor::walk_expr(self, expr);
    }
}

fn escape_text(escape: &ruff_python_ast::StmtIpyEscapeCommand) -> String {
    format!("{}{}", escape.kind.as_str(), escape.value)
}

/// Calls in a statement, by callee text.
struct CallCollector<'c> {
    cell: &'c PreparedCell,
    calls: Vec<(String, TextRange)>,
}

impl<'c> CallCollector<'c> {
    fn new(cell: &'c PreparedCell) -> Self {
        CallCollector {
            cell,
            calls: Vec::new(),
        }
    }
}

impl<'a> Visitor<'a> for CallCollector<'_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            let callee = match call.func.as_ref() {
                Expr::Name(name) => name.id.to_string(),
                Expr::Attribute(attribute) => match attribute.value.as_ref() {
                    Expr::Name(_) | Expr::Attribute(_) => {
                        self.cell.slice(call.func.range()).to_string()
                    }
                    _ => format!(".{}", attribute.attr),
                },
                _ => String::new(),
            };
            self.calls.push((callee, call.range()));
        }
        visitor::walk_expr(self, expr);
    }
}

fn last_segment(callee: &str) -> &str {
    callee.rsplit('.').next().unwrap_or(callee)
}

/// Modules imported anywhere in a statement (dotted; relative imports start with `.`).
fn imports_of(stmt: &Stmt) -> Vec<(String, TextRange)> {
    #[derive(Default)]
    struct Imports(Vec<(String, TextRange)>);
    impl<'a> Visitor<'a> for Imports {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::Import(import) => {
                    for alias in &import.names {
                        self.0.push((alias.name.to_string(), import.range));
                    }
                }
                Stmt::ImportFrom(import) => {
                    let module = import
                        .module
                        .as_ref()
                        .map(|module| module.to_string())
                        .unwrap_or_default();
                    let dots = ".".repeat(import.level as usize);
                    if module == "azureml" || module == "azure.ai" {
                        for alias in &import.names {
                            self.0
                                .push((format!("{module}.{}", alias.name), import.range));
                        }
                    } else {
                        self.0.push((format!("{dots}{module}"), import.range));
                    }
                }
                _ => visitor::walk_stmt(self, stmt),
            }
        }
    }
    let mut imports = Imports::default();
    imports.visit_stmt(stmt);
    imports.0
}

/// The assignment target name when `range` is (inside) the assigned value.
fn assignment_target(stmt: &Stmt, range: TextRange) -> Option<String> {
    let Stmt::Assign(assign) = stmt else {
        return None;
    };
    let [Expr::Name(name)] = assign.targets.as_slice() else {
        return None;
    };
    assign
        .value
        .range()
        .contains_range(range)
        .then(|| name.id.to_string())
}

/// Methods that only show data.
const INSPECTORS: &[&str] = &[
    "columns",
    "corr",
    "count",
    "describe",
    "dtypes",
    "head",
    "index",
    "info",
    "isna",
    "isnull",
    "memory_usage",
    "nunique",
    "sample",
    "shape",
    "sum",
    "T",
    "tail",
    "unique",
    "value_counts",
];

/// When a statement only shows something, a short text for the report.
fn display_only(cell: &PreparedCell, stmt: &Stmt) -> Option<String> {
    let Stmt::Expr(expression) = stmt else {
        return None;
    };
    let value = expression.value.as_ref();
    let shown = match value {
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Name(name) if matches!(name.id.as_str(), "display" | "type" | "len") => true,
            Expr::Attribute(attribute) => {
                INSPECTORS.contains(&attribute.attr.as_str()) && inert(&attribute.value)
            }
            _ => false,
        },
        other => inert(other),
    };
    shown.then(|| {
        let text = cell.slice(value.range());
        let first = text.lines().next().unwrap_or_default();
        if first.len() < text.len() {
            format!("{first} …")
        } else {
            first.to_string()
        }
    })
}

/// Names, attributes, subscripts with literal keys, literals, and inspector calls on those.
fn inert(expr: &Expr) -> bool {
    match expr {
        Expr::Name(_)
        | Expr::StringLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Attribute(attribute) => inert(&attribute.value),
        Expr::Subscript(subscript) => inert(&subscript.value) && inert(&subscript.slice),
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(attribute) => {
                INSPECTORS.contains(&attribute.attr.as_str())
                    && inert(&attribute.value)
                    && call.arguments.args.iter().all(inert)
            }
            _ => false,
        },
        Expr::Tuple(tuple) => tuple.elts.iter().all(inert),
        _ => false,
    }
}

/// `mlflow.set_experiment("name")` or `(experiment_name="name")` as a statement.
fn experiment_name(cell: &PreparedCell, stmt: &Stmt) -> Option<String> {
    let Stmt::Expr(expression) = stmt else {
        return None;
    };
    let Expr::Call(call) = expression.value.as_ref() else {
        return None;
    };
    if cell.slice(call.func.range()) != "mlflow.set_experiment" {
        return None;
    }
    let argument = call.arguments.args.first().or_else(|| {
        call.arguments
            .find_keyword("experiment_name")
            .map(|keyword| &keyword.value)
    })?;
    argument
        .as_string_literal_expr()
        .map(|literal| literal.value.to_str().to_string())
}

fn misplaced_finding(misplaced: Misplaced) -> (&'static str, String, String) {
    match misplaced {
        Misplaced::Await => (
            "NB011",
            "top-level `await` only works in IPython".to_string(),
            "wrap the code in an async function and call it with asyncio.run(...)".to_string(),
        ),
        Misplaced::Return => (
            "NB012",
            "`return` outside a function".to_string(),
            "remove it or move the code into a function".to_string(),
        ),
        Misplaced::Yield => (
            "NB012",
            "`yield` outside a function".to_string(),
            "move the code into a function".to_string(),
        ),
    }
}

/// A name that differs by a prefix or a couple of characters.
///
/// The first such name in order: names starting with `name_` sort together, from `name_` on.
fn similar_name<'a>(name: &str, bound: &'a BTreeSet<String>) -> Option<&'a String> {
    let prefix = format!("{name}_");
    bound
        .range::<str, _>((
            std::ops::Bound::Included(prefix.as_str()),
            std::ops::Bound::Unbounded,
        ))
        .next()
        .filter(|candidate| candidate.starts_with(&prefix))
}

/// `#| amlops: skip` (or nbdev's `#| hide`-style directives we honour).
fn skip_directive(source: &str) -> Option<&'static str> {
    let first = source.lines().find(|line| !line.trim().is_empty())?.trim();
    let directive = first.strip_prefix("#|")?.trim();
    (directive == "amlops: skip").then_some("directive `#| amlops: skip`")
}

/// Markdown as `#` comment lines.
fn markdown_comment(source: &str) -> String {
    let mut out = String::new();
    for line in source.trim_end().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Applies edits inside `[start, end)` of `text`.
pub(crate) fn apply_edits(
    text: &str,
    edits: &[(TextRange, String)],
    start: usize,
    end: usize,
) -> String {
    SortedEdits::new(edits).apply(text, start, end)
}

/// A cell's edits sorted by start (ties in the order they were made), so that applying the
/// edits of each of a cell's statements costs the statement's edits, not all the cell's.
struct SortedEdits<'e>(Vec<&'e (TextRange, String)>);

impl<'e> SortedEdits<'e> {
    fn new(edits: &'e [(TextRange, String)]) -> Self {
        let mut sorted: Vec<&(TextRange, String)> = edits.iter().collect();
        sorted.sort_by_key(|(range, _)| range.start());
        SortedEdits(sorted)
    }

    /// `text[start..end]` with the edits that lie wholly inside it applied; an edit that
    /// overlaps one applied before it is skipped.
    fn apply(&self, text: &str, start: usize, end: usize) -> String {
        let first = self
            .0
            .partition_point(|(range, _)| range.start().to_usize() < start);
        let inside = self.0[first..]
            .iter()
            .take_while(|(range, _)| range.start().to_usize() <= end)
            .filter(|(range, _)| range.end().to_usize() <= end);
        let mut out = String::new();
        let mut at = start;
        for (range, replacement) in inside {
            let (from, to) = (range.start().to_usize(), range.end().to_usize());
            if from < at {
                continue;
            }
            out.push_str(&text[at..from]);
            out.push_str(replacement);
            at = to;
        }
        out.push_str(&text[at..end]);
        out
    }
}

/// Finds the first newline at or after offsets that never decrease, resuming the search, so
/// that many statements on one line do not each scan the rest of the line.
struct NextNewline<'t> {
    text: &'t str,
    /// The last search: where it started and what it found.
    last: Option<(usize, Option<usize>)>,
}

impl<'t> NextNewline<'t> {
    fn new(text: &'t str) -> Self {
        NextNewline { text, last: None }
    }

    fn at_or_after(&mut self, from: usize) -> Option<usize> {
        match self.last {
            // No newline between the last start and the one found, nor after the last start.
            Some((start, Some(found))) if start <= from && from <= found => return Some(found),
            Some((start, None)) if start <= from => return None,
            _ => {}
        }
        let found = self.text[from..].find('\n').map(|at| from + at);
        self.last = Some((from, found));
        found
    }
}

/// The value of a plain string literal's source.
fn python_string_value(source: &str) -> Option<String> {
    let parsed = ruff_python_parser::parse_expression(source).ok()?;
    parsed
        .expr()
        .as_string_literal_expr()
        .map(|literal| literal.value.to_str().to_string())
}

fn file_stem_name(path: &str) -> String {
    let last = path
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path);
    let stem = last.split('.').next().unwrap_or(last);
    if stem.is_empty() {
        "data".to_string()
    } else {
        stem.to_string()
    }
}

/// A Python identifier from any text: lowercase, runs of other characters become `_`.
pub fn identifier(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    match out.chars().next() {
        None => "notebook".to_string(),
        Some(first) if first.is_ascii_digit() => format!("nb_{out}"),
        Some(_) => out,
    }
}

/// The script name for a notebook file stem.
pub fn script_name(stem: &str) -> String {
    identifier(&stem.to_lowercase())
}

fn python_version(declared: Option<&str>) -> String {
    let parsed = declared.and_then(|version| {
        let mut parts = version.split('.');
        Some((
            parts.next()?.parse::<u32>().ok()?,
            parts.next()?.parse::<u32>().ok()?,
        ))
    });
    match parsed {
        Some(version) if version >= OLDEST_PYTHON => format!("{}.{}", version.0, version.1),
        _ => DEFAULT_PYTHON.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::reader::read_notebook;

    /// A notebook from `(source, tags)` code cells.
    fn analyse(cells: &[(&str, &[&str])]) -> Analysis {
        let cells: Vec<String> = cells
            .iter()
            .map(|(source, tags)| {
                serde_json::json!({"cell_type": "code", "metadata": {"tags": tags},
                    "source": source, "outputs": [], "execution_count": null})
                .to_string()
            })
            .collect();
        let text = format!(
            r#"{{"nbformat": 4, "nbformat_minor": 5, "metadata": {{"kernelspec":
                {{"name": "python3", "language": "python"}}}}, "cells": [{}]}}"#,
            cells.join(",")
        );
        let notebook = read_notebook(text.as_bytes()).unwrap();
        let info = NotebookInfo {
            path: "t.ipynb".into(),
            sha256: "0".repeat(64),
            nbformat: "4.5".into(),
            kernel: None,
            language: None,
            language_version: None,
        };
        analyze(&notebook, info, "t", &NoFiles, &Options::default())
    }

    fn errors(analysis: &Analysis) -> Vec<(&'static str, Option<usize>, Option<u32>)> {
        analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.code, d.index, d.line))
            .collect()
    }

    #[test]
    fn every_refusal_is_reported_in_one_run() {
        let analysis = analyse(&[
            ("%%bash\nls\n", &[]),
            ("def broken(:\n    pass\n", &[]),
            ("import asyncio\nawait asyncio.sleep(0)\n", &[]),
            ("%run other.py\n", &[]),
            ("%%writefile a.txt\nhello\n", &[]),
            ("files = !ls\n", &[]),
        ]);
        let found = errors(&analysis);
        for expected in [
            ("NB003", Some(0), Some(1)),
            ("NB010", Some(1), Some(1)),
            ("NB011", Some(2), Some(2)),
            ("NB031", Some(3), Some(1)),
            ("NB032", Some(4), Some(1)),
            ("NB033", Some(5), Some(1)),
        ] {
            assert!(found.contains(&expected), "{expected:?} not in {found:?}");
        }
        assert!(analysis.diagnostics.iter().all(|d| d.hint.is_some()));
    }

    #[test]
    fn hidden_state_names_the_cell_and_suggests() {
        let analysis = analyse(&[("reg_model = 1\n", &[]), ("x = 2\nprint(reg)\n", &[])]);
        let diagnostic = &analysis.diagnostics[0];
        assert_eq!(
            (diagnostic.code, diagnostic.index, diagnostic.line),
            ("NB020", Some(1), Some(2))
        );
        assert_eq!(
            diagnostic.hint.as_deref(),
            Some("did you mean `reg_model`?")
        );
        let dropped = analyse(&[("x = 1\n", &["skip"]), ("print(x)\n", &[])]);
        assert!(
            dropped.diagnostics[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("cell 0")
        );
    }

    #[test]
    fn display_and_magics_are_dropped_or_rewritten() {
        let analysis = analyse(&[
            (
                "%matplotlib inline\nimport pandas as pd\ndf = pd.DataFrame()\ndf.head()\n",
                &[],
            ),
            ("%time y = 1\nif y:\n    %ls\nprint(y)\ndf\n", &[]),
            ("%pip install -q lightgbm==4.3.0\n", &[]),
        ]);
        assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
        let body: String = analysis
            .chunks
            .iter()
            .map(|chunk| chunk.text.as_str())
            .collect();
        assert!(!body.contains('%') && !body.contains("df.head") && !body.contains("\ndf\n"));
        assert!(body.contains("y = 1") && body.contains("    pass"));
        let lightgbm = analysis
            .dependencies
            .iter()
            .find(|d| d.name == "lightgbm")
            .unwrap();
        assert_eq!(lightgbm.spec.as_deref(), Some("lightgbm==4.3.0"));
        assert_eq!(analysis.cells[2].decision, Decision::Dropped);
    }

    #[test]
    fn functions_mode_hoists_and_declares_globals() {
        let analysis = analyse(&[
            ("N = 3\n", &["parameters"]),
            (
                "import math\nLIMIT = 10\ndef f():\n    return math.sqrt(total) + N\n",
                &[],
            ),
            ("total = len([4])\nprint(f())\n", &[]),
        ]);
        assert_eq!(analysis.mode, Mode::Functions);
        let module: Vec<&str> = analysis
            .chunks
            .iter()
            .filter(|chunk| chunk.placement == Placement::Module)
            .map(|chunk| chunk.text.trim())
            .collect();
        assert_eq!(module.len(), 3);
        let globals: Vec<&str> = analysis.main_globals.iter().map(String::as_str).collect();
        assert_eq!(globals, ["N", "total"]);
    }

    #[test]
    fn classes_built_from_body_values_force_flat_mode() {
        let analysis = analyse(&[("size = len([1])\nclass Model:\n    width = size\n", &[])]);
        assert_eq!(analysis.mode, Mode::Flat);
        assert!(
            analysis.mode_reasons[0].contains("a class"),
            "{:?}",
            analysis.mode_reasons
        );
    }

    #[test]
    fn data_reads_become_inputs_and_literals_parameters() {
        let analysis = analyse(&[
            ("import pandas as pd\n", &[]),
            (
                "df = pd.read_csv(\"data/train.csv\")\nout = \"results\"\ndf.to_csv(out)\n",
                &[],
            ),
            ("other = pd.read_csv(\"/home/me/x.csv\")\n", &[]),
        ]);
        let input = &analysis.inputs[0];
        assert_eq!(
            (input.name.as_str(), input.kind, input.local),
            ("df_path", "uri_file", true)
        );
        assert_eq!(analysis.outputs[0].name, "out");
        assert!(errors(&analysis).contains(&("NB040", Some(2), Some(1))));
        let body: String = analysis
            .chunks
            .iter()
            .map(|chunk| chunk.text.as_str())
            .collect();
        assert!(body.contains("pd.read_csv(df_path)"));
        assert!(
            !body.contains("out = \"results\""),
            "the constant became a parameter"
        );
    }

    #[test]
    fn control_plane_and_chdir_are_refused() {
        let analysis = analyse(&[(
            "import os\nfrom azure.ai.ml import MLClient\nos.chdir('..')\n",
            &[],
        )]);
        let codes: Vec<_> = errors(&analysis).into_iter().map(|e| e.0).collect();
        assert!(
            codes.contains(&"NB060") && codes.contains(&"NB030"),
            "{codes:?}"
        );
    }

    #[test]
    fn names_are_identifiers() {
        assert_eq!(
            script_name("Diabetes Ridge Regression Training"),
            "diabetes_ridge_regression_training"
        );
        assert_eq!(script_name("00_quick-start"), "nb_00_quick_start");
        assert_eq!(python_version(Some("3.6.9")), DEFAULT_PYTHON);
        assert_eq!(python_version(Some("3.11.4")), "3.11");
    }
}
