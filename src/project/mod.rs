//! The project file, `amlops.kdl`, at the root of a manifest directory.
//!
//! It names the project (the ownership tags amlops puts on what it creates), the targets the
//! manifests apply to, typed variables the manifests use as `${var.NAME}`, and per-target
//! overlays that change fields of named resources:
//!
//! ```kdl
//! project "iris"
//! default-target "dev"
//!
//! variable "max_nodes" type="integer" default=4
//! variable "data_path" type="string"
//!
//! target "dev" {
//!     local data-dir=".amlops-dev"
//!     variables {
//!         max_nodes 1
//!         data_path "./data/sample.csv"
//!     }
//!     overlay {
//!         compute "cpu-cluster" { tier "low_priority" }
//!     }
//! }
//!
//! target "prod" {
//!     workspace subscription="…" resource-group="ml-prod" name="mlw-prod"
//!     auth "workload-identity"
//!     variables { data_path "azureml://datastores/prod/paths/iris.csv" }
//! }
//! ```
//!
//! The file is optional: without it the local workspace is the only target. Reading it and
//! selecting a target touch nothing but the file; opening the target is the backend's job.

mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::kdl::{KdlDocument, KdlNode};

use crate::diag::{Diagnostic, Loc, Located, SourceFile, did_you_mean};
use crate::manifest::inputs::{Inputs, PROJECT_FILE};
use crate::manifest::kdl::{self as kdl_reader, Reader};
use crate::manifest::node::{Node, NodeValue};
use crate::manifest::overlay::Overlay;
use crate::manifest::read::{Fields, Problems};
use crate::manifest::vars;
use crate::model::Kind;
use crate::target::{AuthMethod, Connection, TargetSpec};

pub use resolve::{VarType, parse_cli_value};

/// The name of the target that is always there: the embedded local workspace.
pub const LOCAL: &str = "local";

/// A project: what `amlops.kdl` declares, or nothing when there is none.
#[derive(Debug, Default)]
pub struct Project {
    /// The project file, when the manifest directory has one.
    pub file: Option<Arc<SourceFile>>,
    pub name: Option<Located<String>>,
    pub default_target: Option<Located<String>>,
    pub variables: Vec<VariableDecl>,
    /// Declared targets, in file order.
    pub targets: Vec<TargetDecl>,
}

/// `variable "NAME" type="…" default=… description="…"`.
#[derive(Clone, Debug)]
pub struct VariableDecl {
    pub name: Located<String>,
    pub ty: VarType,
    /// The default as written (it may refer to other variables).
    pub default: Option<Node>,
    pub description: Option<String>,
    /// `sensitive=#true`: the value is a secret, never shown (plans, `amlops targets`,
    /// errors). A variable whose value uses a sensitive one is sensitive too.
    pub sensitive: bool,
}

/// A variable's value given outside the project file: on the command line (`--var
/// NAME=VALUE`) or in the environment (`AMLOPS_VAR_NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub name: String,
    pub value: String,
    /// `--var`, or the environment variable's name.
    pub source: String,
}

impl Override {
    /// The prefix of environment variables that set variables.
    pub const ENV_PREFIX: &'static str = "AMLOPS_VAR_";

    /// `NAME=VALUE` from `--var`.
    pub fn from_assignment(text: &str) -> Result<Override, Diagnostic> {
        match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok(Override {
                name: name.to_owned(),
                value: value.to_owned(),
                source: "--var".into(),
            }),
            _ => Err(Diagnostic::error("`--var` takes NAME=VALUE")),
        }
    }

    /// The `AMLOPS_VAR_NAME` variables among `environment`, by name.
    pub fn from_environment(
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<Override> {
        let mut found: Vec<Override> = environment
            .into_iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix(Self::ENV_PREFIX)?.to_owned();
                (!name.is_empty()).then(|| Override {
                    name,
                    value,
                    source: key.clone(),
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }
}

/// `target "NAME" { … }`.
#[derive(Clone, Debug)]
pub struct TargetDecl {
    pub name: Located<String>,
    pub description: Option<String>,
    pub spec: TargetSpec,
    /// Values this target gives variables, as written.
    pub values: Vec<(Located<String>, Node)>,
    /// Overlays as written: variables in them are substituted when the target is selected.
    pub overlays: Vec<Overlay>,
    /// The local workspace amlops provides when the file declares no target `local`.
    pub implicit: bool,
}

/// A target chosen for a run, with everything the manifests need from the project.
#[derive(Clone, Debug)]
pub struct Selection {
    pub target: String,
    pub spec: TargetSpec,
    /// The project's name, when the file gives one.
    pub project: Option<String>,
    /// Variable values and overlays for reading the manifests.
    pub inputs: Inputs,
}

impl Project {
    /// Reads `root/amlops.kdl` when it exists.
    pub fn load(root: &Path) -> Result<Project, Vec<Diagnostic>> {
        let path = root.join(PROJECT_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                vec![
                    Diagnostic::error("file is not valid UTF-8")
                        .in_file(path.display().to_string()),
                ]
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Project::default()),
            Err(e) => {
                return Err(vec![
                    Diagnostic::error(format!("cannot read the project file: {e}"))
                        .in_file(path.display().to_string()),
                ]);
            }
        };
        Project::parse(&SourceFile::new(&path, text))
    }

    /// Reads a project file's text.
    pub fn parse(file: &Arc<SourceFile>) -> Result<Project, Vec<Diagnostic>> {
        let (document, map) = kdl_reader::parse_document(file)?;
        let reader = Reader { file, map: &map };
        let mut parser = Parser {
            reader: &reader,
            base: file.dir().to_path_buf(),
            problems: Problems::default(),
        };
        let mut project = Project {
            file: Some(Arc::clone(file)),
            ..Project::default()
        };
        for node in document.nodes() {
            parser.top_level(node, &mut project);
        }
        parser.check(&project);
        if parser.problems.has_errors() {
            Err(parser.problems.items)
        } else {
            Ok(project)
        }
    }

    /// Every target, the implicit local workspace first unless the file declares `local`.
    pub fn targets(&self) -> Vec<TargetDecl> {
        let mut targets = Vec::new();
        if !self.targets.iter().any(|t| t.name.value == LOCAL) {
            targets.push(implicit_local(self.file.as_ref()));
        }
        targets.extend(self.targets.iter().cloned());
        targets
    }

    /// The target a run uses when none is asked for.
    pub fn default_target_name(&self) -> &str {
        self.default_target
            .as_ref()
            .map_or(LOCAL, |t| t.value.as_str())
    }

    /// The project's name: as the file gives it, or the manifest directory's name.
    pub fn name_or(&self, fallback: impl FnOnce() -> String) -> String {
        self.name
            .as_ref()
            .map_or_else(fallback, |n| n.value.clone())
    }

    /// Selects `requested` (or the default target), resolving its variables and its overlays.
    /// `overrides` win over the target's values, a later one over an earlier one.
    pub fn select(
        &self,
        requested: Option<&str>,
        overrides: &[Override],
    ) -> Result<Selection, Vec<Diagnostic>> {
        let name = requested.unwrap_or_else(|| self.default_target_name());
        let targets = self.targets();
        let Some(target) = targets.iter().find(|t| t.name.value == name) else {
            return Err(vec![self.unknown_target(name)]);
        };
        let overrides = resolve::parse_overrides(&self.variables, overrides)?;
        let variables = resolve::variables(self, target, &overrides)?;
        let mut problems = Vec::new();
        let overlays = target
            .overlays
            .iter()
            .map(|overlay| {
                let mut overlay = overlay.clone();
                vars::substitute(
                    &mut overlay.fields,
                    "",
                    &variables,
                    &mut Vec::new(),
                    &mut problems,
                );
                overlay
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Selection {
            target: name.to_owned(),
            spec: target.spec.clone(),
            project: self.name.as_ref().map(|n| n.value.clone()),
            inputs: Inputs {
                variables,
                overlays,
            },
        })
    }

    fn unknown_target(&self, name: &str) -> Diagnostic {
        let targets = self.targets();
        let names: Vec<&str> = targets.iter().map(|t| t.name.value.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!("unknown target `{name}`"));
        diagnostic = match &self.file {
            Some(file) => diagnostic.in_file(file.display.clone()).hint(format!(
                "the targets are {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            )),
            None => diagnostic.hint(format!(
                "declare targets in {PROJECT_FILE} at the root of the manifest directory; without it the only target is `{LOCAL}`"
            )),
        };
        if let Some(close) = did_you_mean(name, names.iter().copied()) {
            diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
        }
        diagnostic
    }
}

fn child_nodes(node: &KdlNode) -> &[KdlNode] {
    node.children().map(KdlDocument::nodes).unwrap_or_default()
}

fn implicit_local(file: Option<&Arc<SourceFile>>) -> TargetDecl {
    let loc = file.map_or_else(
        || {
            Loc::new(
                &SourceFile::new(Path::new(PROJECT_FILE), String::new()),
                1,
                1,
                0,
            )
        },
        Loc::file_start,
    );
    TargetDecl {
        name: Located::new(LOCAL.to_owned(), loc),
        description: Some("the embedded local workspace".into()),
        spec: TargetSpec::Local { data_dir: None },
        values: Vec::new(),
        overlays: Vec::new(),
        implicit: true,
    }
}

const TOP_LEVEL: &[&str] = &["project", "default-target", "variable", "target"];
const TARGET_SETTINGS: &[&str] = &[
    "description",
    "local",
    "workspace",
    "registry",
    "endpoint",
    "ca-cert",
    "auth",
    "variables",
    "overlay",
];
const AUTH_METHODS: &[(&str, AuthMethod)] = &[
    ("env", AuthMethod::Env),
    ("workload-identity", AuthMethod::WorkloadIdentity),
    ("managed-identity", AuthMethod::ManagedIdentity),
    ("cli", AuthMethod::Cli),
];

struct Parser<'r> {
    reader: &'r Reader<'r>,
    /// Relative paths in the file resolve from its directory.
    base: PathBuf,
    problems: Problems,
}

impl Parser<'_> {
    fn top_level(&mut self, node: &KdlNode, project: &mut Project) {
        match node.name().value() {
            "project" => {
                let name = self.single_string(node);
                if let Some(name) = &name {
                    self.check_project_name(name);
                }
                self.once(&project.name, node);
                project.name = name.or(project.name.take());
            }
            "default-target" => {
                let name = self.single_string(node);
                self.once(&project.default_target, node);
                project.default_target = name.or(project.default_target.take());
            }
            "variable" => {
                if let Some(variable) = self.variable(node) {
                    project.variables.push(variable);
                }
            }
            "target" => {
                if let Some(target) = self.target(node) {
                    project.targets.push(target);
                }
            }
            other => self.unknown(node, other, TOP_LEVEL, "the project file"),
        }
    }

    /// Cross-checks: names declared once, the default target declared.
    fn check(&mut self, project: &Project) {
        let variables: Vec<&Located<String>> = project.variables.iter().map(|v| &v.name).collect();
        self.unique(&variables, "variable");
        let targets: Vec<&Located<String>> = project.targets.iter().map(|t| &t.name).collect();
        self.unique(&targets, "target");
        if let Some(default) = &project.default_target
            && default.value != LOCAL
            && !project
                .targets
                .iter()
                .any(|t| t.name.value == default.value)
        {
            let mut diagnostic =
                Diagnostic::error(format!("unknown target `{}`", default.value)).at(&default.loc);
            if let Some(close) =
                did_you_mean(&default.value, targets.iter().map(|t| t.value.as_str()))
            {
                diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
            }
            self.problems
                .push(diagnostic.hint("declare it with `target \"NAME\" { … }`"));
        }
        for target in &project.targets {
            for (name, _) in &target.values {
                if !project.variables.iter().any(|v| v.name.value == name.value) {
                    let mut diagnostic = Diagnostic::error(format!(
                        "target `{}` sets `{}`, which is not a declared variable",
                        target.name.value, name.value
                    ))
                    .at(&name.loc);
                    if let Some(close) = did_you_mean(
                        &name.value,
                        project.variables.iter().map(|v| v.name.value.as_str()),
                    ) {
                        diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
                    }
                    self.problems.push(diagnostic.hint(format!(
                        "declare it with `variable \"{}\" type=\"string\"`",
                        name.value
                    )));
                }
            }
        }
    }

    fn unique(&mut self, names: &[&Located<String>], what: &str) {
        for (i, name) in names.iter().enumerate() {
            if let Some(first) = names[..i].iter().find(|n| n.value == name.value) {
                self.problems.push(
                    Diagnostic::error(format!("{what} `{}` is declared twice", name.value))
                        .at(&name.loc)
                        .related("first declared", &first.loc),
                );
            }
        }
    }

    fn once<T>(&mut self, existing: &Option<Located<T>>, node: &KdlNode) {
        if let Some(first) = existing {
            self.problems.push(
                Diagnostic::error(format!("`{}` is written twice", node.name().value()))
                    .at(&self.reader.name_loc(node))
                    .related("first written", &first.loc),
            );
        }
    }

    fn unknown(&mut self, node: &KdlNode, name: &str, known: &[&str], place: &str) {
        let mut diagnostic = Diagnostic::error(format!("unknown key `{name}` in {place}"))
            .at(&self.reader.name_loc(node));
        match did_you_mean(name, known.iter().copied()) {
            Some(close) => diagnostic = diagnostic.hint(format!("did you mean `{close}`?")),
            None => {
                diagnostic = diagnostic.hint(format!(
                    "{place} takes {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        self.problems.push(diagnostic);
    }

    /// A node of exactly one string value: `project "iris"`.
    fn single_string(&mut self, node: &KdlNode) -> Option<Located<String>> {
        let name = node.name().value();
        let entries = node.entries();
        let value = match (entries, node.children()) {
            ([entry], None) if entry.name().is_none() => self.reader.scalar(entry, name),
            _ => {
                self.problems.push(
                    Diagnostic::error(format!("`{name}` takes one string: `{name} \"…\"`"))
                        .at(&self.reader.name_loc(node)),
                );
                return None;
            }
        };
        let value = match value {
            Ok(value) => value,
            Err(error) => {
                self.problems.push(error);
                return None;
            }
        };
        crate::manifest::read::expect_str(&value, name, &mut self.problems)
    }

    fn check_project_name(&mut self, name: &Located<String>) {
        let valid = !name.value.is_empty()
            && name.value.len() <= 255
            && name.value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            self.problems.error(
                &name.loc,
                "project",
                format!(
                    "`{}` is not a valid project name: letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                    name.value
                ),
            );
        }
    }

    /// The name argument and the fields of a node that takes one.
    fn named_body(&mut self, node: &KdlNode, what: &str) -> Option<(Located<String>, Node)> {
        let (args, body) = match self.reader.body(node, 1, "") {
            Ok(parts) => parts,
            Err(error) => {
                self.problems.push(error);
                return None;
            }
        };
        let Some(name) = args.first() else {
            self.problems.push(
                Diagnostic::error(format!(
                    "{what} needs a name: `{} \"NAME\"`",
                    node.name().value()
                ))
                .at(&self.reader.name_loc(node)),
            );
            return None;
        };
        let name = crate::manifest::read::expect_str(name, "name", &mut self.problems)?;
        Some((name, body))
    }

    fn variable(&mut self, node: &KdlNode) -> Option<VariableDecl> {
        let (name, body) = self.named_body(node, "a variable")?;
        if !vars::valid_name(&name.value) {
            self.problems.error(
                &name.loc,
                "name",
                format!(
                    "`{}` is not a valid variable name: letters, digits, `_` and `-`, starting with a letter or `_`",
                    name.value
                ),
            );
        }
        let what = format!("variable `{}`", name.value);
        let mut fields = Fields::new(&body, "", &what, &mut self.problems)?;
        let ty = fields
            .choice("type", VarType::NAMES, &mut self.problems)
            .and_then(|t| VarType::parse(t.value));
        if !fields.has("type") {
            self.problems.push(
                Diagnostic::error(format!("variable `{}` needs a type", name.value))
                    .at(&name.loc)
                    .hint("add `type=\"string\"`, `\"integer\"`, `\"number\"` or `\"boolean\"`"),
            );
        }
        let default = fields.take("default").cloned();
        let description = fields
            .str("description", &mut self.problems)
            .map(|d| d.value);
        let sensitive = fields
            .bool("sensitive", &mut self.problems)
            .is_some_and(|s| s.value);
        fields.finish(&mut self.problems);
        let ty = ty?;
        if let Some(default) = &default {
            resolve::check_literal(ty, &name.value, default, &mut self.problems);
        }
        Some(VariableDecl {
            name,
            ty,
            default,
            description,
            sensitive,
        })
    }

    fn target(&mut self, node: &KdlNode) -> Option<TargetDecl> {
        let name = self.target_name(node)?;
        let mut settings = TargetSettings::default();
        for child in child_nodes(node) {
            self.target_setting(child, &name, &mut settings);
        }
        let spec = self.target_spec(node, &name, settings.kind.take(), settings.connection)?;
        Some(TargetDecl {
            name,
            description: settings.description,
            spec,
            values: settings.values,
            overlays: settings.overlays,
            implicit: false,
        })
    }

    /// `target "NAME"`: one string, the settings being children.
    fn target_name(&mut self, node: &KdlNode) -> Option<Located<String>> {
        let entries = node.entries();
        match entries {
            [entry] if entry.name().is_none() => match self.reader.scalar(entry, "target") {
                Ok(value) => {
                    crate::manifest::read::expect_str(&value, "target", &mut self.problems)
                }
                Err(error) => {
                    self.problems.push(error);
                    None
                }
            },
            _ => {
                self.problems.push(
                    Diagnostic::error(
                        "a target is written `target \"NAME\" { … }`, its settings in the braces",
                    )
                    .at(&self.reader.name_loc(node)),
                );
                None
            }
        }
    }

    fn target_setting(
        &mut self,
        child: &KdlNode,
        target: &Located<String>,
        settings: &mut TargetSettings,
    ) {
        let key = child.name().value();
        match key {
            "description" => settings.description = self.single_string(child).map(|d| d.value),
            "local" | "workspace" | "registry" => self.target_kind(child, target, settings),
            "endpoint" | "ca-cert" | "auth" => self.connection_setting(child, settings),
            "variables" => self.target_values(child, settings),
            "overlay" => self.overlays(child, target, settings),
            other => self.unknown(
                child,
                other,
                TARGET_SETTINGS,
                &format!("target `{}`", target.value),
            ),
        }
    }

    /// `local`, `workspace` or `registry`: where the target applies, once.
    fn target_kind(
        &mut self,
        child: &KdlNode,
        target: &Located<String>,
        settings: &mut TargetSettings,
    ) {
        let key = child.name().value();
        if let Some(TargetKind { word: first, .. }) = &settings.kind {
            self.problems.push(
                Diagnostic::error(format!(
                    "target `{}` is already a `{}` target",
                    target.value, first.value
                ))
                .at(&self.reader.name_loc(child))
                .related("declared", &first.loc)
                .hint("a target is one of `local`, `workspace` or `registry`"),
            );
            return;
        }
        let word = Located::new(key.to_owned(), self.reader.name_loc(child));
        match self.reader.body(child, 1, key) {
            Ok((args, fields)) => settings.kind = Some(TargetKind { word, args, fields }),
            Err(error) => self.problems.push(error),
        }
    }

    /// `endpoint`, `ca-cert` and `auth`: how to reach Azure Resource Manager.
    fn connection_setting(&mut self, child: &KdlNode, settings: &mut TargetSettings) {
        let Some(value) = self.single_string(child) else {
            return;
        };
        match child.name().value() {
            "endpoint" => {
                if !(value.value.starts_with("https://") || value.value.starts_with("http://")) {
                    self.problems.error(
                        &value.loc,
                        "endpoint",
                        format!("`endpoint` `{}` is not an http or https URL", value.value),
                    );
                }
                settings.connection.0 = Some(value);
            }
            "ca-cert" => settings.connection.1 = Some(value.map(|p| self.base.join(p))),
            _ => {
                let names: Vec<&'static str> = AUTH_METHODS.iter().map(|(n, _)| *n).collect();
                let choice =
                    crate::manifest::read::check_choice(&value, "auth", &names, &mut self.problems);
                settings.connection.2 = choice.and_then(|choice| {
                    let (_, method) = AUTH_METHODS.iter().find(|(n, _)| *n == choice.value)?;
                    Some(Located::new(*method, choice.loc))
                });
            }
        }
    }

    fn target_values(&mut self, node: &KdlNode, settings: &mut TargetSettings) {
        if !node.entries().is_empty() {
            self.problems.push(
                Diagnostic::error(
                    "`variables` takes its values as child nodes: `variables { NAME VALUE }`",
                )
                .at(&self.reader.name_loc(node)),
            );
            return;
        }
        for child in child_nodes(node) {
            let name = Located::new(child.name().value().to_owned(), self.reader.name_loc(child));
            if let Some((first, _)) = settings.values.iter().find(|(n, _)| n.value == name.value) {
                self.problems.push(
                    Diagnostic::error(format!("variable `{}` is set twice", name.value))
                        .at(&name.loc)
                        .related("first set", &first.loc),
                );
                continue;
            }
            match self.reader.value(child, &name.value) {
                Ok(value) if matches!(value.value, NodeValue::Scalar(_)) => {
                    settings.values.push((name, value));
                }
                Ok(value) => self.problems.error(
                    &value.loc,
                    &name.value,
                    format!(
                        "variable `{}` takes one value, found {}",
                        name.value,
                        value.describe()
                    ),
                ),
                Err(error) => self.problems.push(error),
            }
        }
    }

    fn overlays(
        &mut self,
        node: &KdlNode,
        target: &Located<String>,
        settings: &mut TargetSettings,
    ) {
        for child in child_nodes(node) {
            let resource = match self.reader.resource(child) {
                Ok(resource) => resource,
                Err(error) => {
                    self.problems.push(error);
                    continue;
                }
            };
            let Some(kind) = Kind::parse(&resource.kind_word.value).filter(|k| {
                matches!(
                    k,
                    Kind::Data | Kind::Environment | Kind::Compute | Kind::Job
                )
            }) else {
                self.problems.push(
                    Diagnostic::error(format!(
                        "an overlay changes a `data`, `environment`, `compute` or `job`, not a `{}`",
                        resource.kind_word.value
                    ))
                    .at(&resource.kind_word.loc),
                );
                continue;
            };
            let mut fields = resource.doc;
            let name = match &mut fields.value {
                NodeValue::Map(entries)
                    if entries.first().is_some_and(|e| e.key.value == "name") =>
                {
                    let entry = entries.remove(0);
                    crate::manifest::read::expect_str(&entry.value, "name", &mut self.problems)
                }
                _ => {
                    self.problems.push(
                        Diagnostic::error(format!(
                            "an overlay names the {kind} it changes: `{kind} \"NAME\" {{ … }}`"
                        ))
                        .at(&resource.kind_word.loc),
                    );
                    None
                }
            };
            let Some(name) = name else { continue };
            settings.overlays.push(Overlay {
                kind,
                name,
                fields,
                target: target.value.clone(),
                loc: resource.kind_word.loc,
            });
        }
    }

    fn target_spec(
        &mut self,
        node: &KdlNode,
        target: &Located<String>,
        kind: Option<TargetKind>,
        connection: ConnectionSettings,
    ) -> Option<TargetSpec> {
        let Some(TargetKind {
            word: kind,
            args,
            fields: body,
        }) = kind
        else {
            self.problems.push(
                Diagnostic::error(format!("target `{}` does not say where it applies", target.value))
                    .at(&self.reader.name_loc(node))
                    .hint("add `local`, `workspace subscription=… resource-group=… name=…` or `registry \"NAME\"`"),
            );
            return None;
        };
        let what = format!("a {} target", kind.value);
        let mut fields = Fields::new(&body, &kind.value, &what, &mut self.problems)?;
        let spec = match kind.value.as_str() {
            "local" => self.local_spec(&mut fields, args.first(), &connection),
            "workspace" => self.workspace_spec(&mut fields, args.first(), connection),
            _ => self.registry_spec(&mut fields, args.first(), connection),
        };
        fields.finish(&mut self.problems);
        spec
    }

    fn local_spec(
        &mut self,
        fields: &mut Fields<'_>,
        argument: Option<&Node>,
        connection: &ConnectionSettings,
    ) -> Option<TargetSpec> {
        if let Some(argument) = argument {
            self.problems.error(
                &argument.loc,
                "local",
                "`local` takes no value: write `local data-dir=\"…\"`",
            );
        }
        let (endpoint, ca_cert, auth) = connection;
        for (set, key) in [
            (endpoint.as_ref().map(|e| &e.loc), "endpoint"),
            (ca_cert.as_ref().map(|c| &c.loc), "ca-cert"),
            (auth.as_ref().map(|a| &a.loc), "auth"),
        ] {
            if let Some(loc) = set {
                self.problems.error(
                    loc,
                    key,
                    format!("`{key}` applies to workspace and registry targets, not to the local workspace"),
                );
            }
        }
        let data_dir = fields
            .str("data-dir", &mut self.problems)
            .map(|d| self.base.join(&d.value));
        Some(TargetSpec::Local { data_dir })
    }

    fn workspace_spec(
        &mut self,
        fields: &mut Fields<'_>,
        argument: Option<&Node>,
        connection: ConnectionSettings,
    ) -> Option<TargetSpec> {
        let subscription = fields.req_str("subscription", &mut self.problems);
        let resource_group = fields.req_str("resource-group", &mut self.problems);
        let name = self.name_of(fields, argument);
        Some(TargetSpec::Workspace {
            subscription: subscription?.value,
            resource_group: resource_group?.value,
            workspace: name?.value,
            connection: connection_of(connection),
        })
    }

    fn registry_spec(
        &mut self,
        fields: &mut Fields<'_>,
        argument: Option<&Node>,
        connection: ConnectionSettings,
    ) -> Option<TargetSpec> {
        let subscription = fields.str("subscription", &mut self.problems);
        let resource_group = fields.str("resource-group", &mut self.problems);
        let location = fields.str("location", &mut self.problems);
        let name = self.name_of(fields, argument);
        Some(TargetSpec::Registry {
            name: name?.value,
            subscription: subscription.map(|s| s.value),
            resource_group: resource_group.map(|r| r.value),
            location: location.map(|l| l.value),
            connection: connection_of(connection),
        })
    }

    /// The name of a workspace or registry: its argument or its `name` field.
    fn name_of(
        &mut self,
        fields: &mut Fields<'_>,
        argument: Option<&Node>,
    ) -> Option<Located<String>> {
        match argument {
            Some(argument) => {
                if let Some(loc) = fields.key_loc("name") {
                    let loc = loc.clone();
                    fields.take("name");
                    self.problems.push(
                        Diagnostic::error("the name is given twice: as the argument and as `name`")
                            .at(&loc)
                            .related("argument", &argument.loc),
                    );
                }
                crate::manifest::read::expect_str(argument, "name", &mut self.problems)
            }
            None => fields.req_str("name", &mut self.problems),
        }
    }
}

fn connection_of((endpoint, ca_cert, auth): ConnectionSettings) -> Connection {
    Connection {
        endpoint: endpoint.map(|e| e.value),
        ca_cert: ca_cert.map(|c| c.value),
        auth: auth.map(|a| a.value),
    }
}

/// Endpoint, CA certificate and authentication of a target, with where each was written.
type ConnectionSettings = (
    Option<Located<String>>,
    Option<Located<PathBuf>>,
    Option<Located<AuthMethod>>,
);

/// `local`, `workspace` or `registry` in a target, with its arguments and fields.
struct TargetKind {
    word: Located<String>,
    args: Vec<Node>,
    fields: Node,
}

/// What a target block holds, gathered before the target is built.
#[derive(Default)]
struct TargetSettings {
    description: Option<String>,
    kind: Option<TargetKind>,
    connection: ConnectionSettings,
    values: Vec<(Located<String>, Node)>,
    overlays: Vec<Overlay>,
}

#[cfg(test)]
mod tests;
