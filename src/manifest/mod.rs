//! Reading manifest directories: discovery, parsing, classification and reading of resources.
//!
//! A manifest directory holds Azure ML CLI v2 YAML files (`*.yml`, `*.yaml`), searched
//! recursively, one resource per YAML document, and KDL files (`*.kdl`) with one resource
//! per top-level node (see [`kdl`]); `amlops.kdl` is the project file, not a resource file. The kind of each document comes from its
//! `type` and its keys, as `az ml` decides it: a job without `type` is a command job, a
//! document with `image` or `build` is an environment. `$schema` is a hint, never required.
//!
//! Files a resource refers to (conda files, environment files, files inside code folders) are
//! not resources of their own. Any other YAML file that is no resource is reported as a
//! warning rather than skipped in silence.

pub mod assets;
pub mod component;
pub mod compute;
pub mod convert;
pub mod inputs;
pub mod job;
pub mod kdl;
pub mod node;
pub mod overlay;
pub mod pipeline;
pub mod pydump;
pub mod read;
pub mod shape;
pub mod sweep;
pub mod vars;
pub mod yaml;
pub mod yaml_write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Loc, SourceFile, display_path};
use crate::model::{Address, DataType, Kind, Resource, Spec, ValueOrigin};
use inputs::{Inputs, PROJECT_FILE, Preparer};
use node::Node;
use read::Problems;

/// Everything read from a set of manifest paths.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The directory relative paths are shown from and `.amlops/` is kept in.
    pub root: PathBuf,
    pub resources: Vec<Resource>,
    pub diagnostics: Diagnostics,
    /// Number of manifest files read.
    pub files_read: usize,
    /// The manifest files read, as shown to the user, in order.
    pub files: Vec<String>,
    /// Fields whose values came from variables or overlays, by resource and dotted path, in
    /// the order they were set (a later entry for the same path wins).
    pub origins: BTreeMap<Address, Vec<(String, ValueOrigin)>>,
    /// Values of sensitive variables the manifests may hold: never shown in plans.
    pub secrets: Vec<String>,
    /// Names of the sensitive variables: a field one of them set is never shown, live
    /// value included (it may hold the secret's previous value).
    pub sensitive_variables: std::collections::BTreeSet<String>,
}

impl Manifest {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }

    pub fn resource(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }
}

/// What a YAML document is, judged from its keys, `type` and `$schema`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    Data,
    Environment,
    Compute,
    Component,
    Job,
    /// A kind `az ml` knows that amlops does not manage; the name says which.
    Unsupported(&'static str),
    /// Not an Azure ML resource; the text says what it looks like.
    NotResource(&'static str),
}

/// Decides what a document is, as the `az ml` command a user would run on it decides: jobs,
/// computes and components by `type`, data by its keys; `$schema` only separates a
/// component from a job of the same `type`.
pub fn classify(doc: &Node) -> Classified {
    if doc.entries().is_none() {
        return Classified::NotResource("a YAML document that is not a mapping");
    }
    let schema = doc
        .get_str("$schema")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let kind = doc.get_str("type").map(str::to_ascii_lowercase);
    if schema.contains("dataimport")
        || (doc.get("source").is_some_and(|s| s.entries().is_some())
            && kind
                .as_deref()
                .is_some_and(|k| DataType::parse(k).is_some()))
    {
        return Classified::Unsupported("data import");
    }
    if let Some(kind) = kind.as_deref()
        && let Some(classified) = classify_type(doc, kind, &schema)
    {
        return classified;
    }
    classify_by_keys(doc, kind.is_some(), &schema)
}

fn classify_type(doc: &Node, kind: &str, schema: &str) -> Option<Classified> {
    let component = schema.contains("component") || looks_like_component(doc);
    Some(match kind {
        "uri_file" | "uri_folder" | "mltable" => Classified::Data,
        "amlcompute" | "computeinstance" | "virtualmachine" | "synapsespark" | "kubernetes" => {
            Classified::Compute
        }
        "aks" | "hdinsight" | "databricks" => Classified::Unsupported("attached compute"),
        "command" | "pipeline" | "parallel" if component => Classified::Component,
        "command" | "sweep" | "pipeline" => Classified::Job,
        "parallel" => Classified::Unsupported("parallel job"),
        "automl" => Classified::Unsupported("AutoML job"),
        "spark" if component => Classified::Unsupported("Spark component"),
        "spark" => Classified::Unsupported("Spark job"),
        "import" | "data_transfer" => Classified::Unsupported("data import job"),
        "finetuning" | "distillation" => Classified::Unsupported("fine-tuning job"),
        "flow" => Classified::Unsupported("prompt flow"),
        _ => return None,
    })
}

fn classify_by_keys(doc: &Node, has_type: bool, schema: &str) -> Classified {
    let has = |key: &str| doc.get(key).is_some();
    if schema.contains("automl") {
        return Classified::Unsupported("AutoML job");
    }
    if schema.contains("dataimport") {
        return Classified::Unsupported("data import");
    }
    if schema.contains("schedule") || has("trigger") {
        return Classified::Unsupported("schedule");
    }
    if schema.contains("finetuning") || has("model_provider") {
        return Classified::Unsupported("fine-tuning job");
    }
    if schema.contains("model.schema") {
        return Classified::Unsupported("model");
    }
    if schema.contains("deployment") || schema.contains("endpoint") {
        return Classified::Unsupported("online endpoint or deployment");
    }
    if ["workspace", "registry", "datastore", "connection"]
        .iter()
        .any(|k| schema.contains(k))
    {
        return Classified::Unsupported("workspace, registry, datastore or connection");
    }
    if has_type && schema.contains("compute") {
        return Classified::Compute;
    }
    if schema.contains("commandjob") || (has("command") && !has_type) {
        if looks_like_component(doc) || schema.contains("component") {
            return Classified::Component;
        }
        return Classified::Job;
    }
    if schema.contains("environment") || has("image") || has("build") {
        return Classified::Environment;
    }
    // A job with a misspelt `command` still has what jobs have: read it as one, so that the
    // misspelling is reported where it is.
    if !has_type && (has("environment") || has("code")) {
        return Classified::Job;
    }
    if schema.contains("/data.schema") || (has("path") && has("name")) {
        return Classified::Data;
    }
    if has("dependencies") || has("channels") {
        return Classified::NotResource("a conda environment file");
    }
    if has("paths") && has("transformations") {
        return Classified::NotResource("an MLTable file");
    }
    Classified::NotResource("a YAML file without the keys of any Azure ML resource")
}

/// A document whose keys only components have is a component, not a job: a version, the
/// component-only settings, or inputs that are declarations (a parameter type, a default,
/// `optional`) rather than values.
fn looks_like_component(doc: &Node) -> bool {
    doc.get("version").is_some()
        || doc.get("is_deterministic").is_some()
        || doc.get("additional_includes").is_some()
        || doc
            .get("inputs")
            .and_then(Node::entries)
            .is_some_and(|inputs| {
                inputs.iter().any(|i| {
                    i.value.get("default").is_some()
                        || i.value.get("optional").is_some()
                        || i.value.get("type").and_then(Node::scalar).is_some_and(|t| {
                            component::PARAMETER_TYPES
                                .contains(&t.text.to_ascii_lowercase().as_str())
                        })
                })
            })
}

/// One file's documents, read and waiting to learn whether another file refers to it.
struct FileResult {
    path: PathBuf,
    resources: Vec<Resource>,
    problems: Problems,
    /// Documents that are no resource, with what they look like.
    not_resources: Vec<(Loc, &'static str)>,
    origins: Vec<(Address, Vec<(String, ValueOrigin)>)>,
    /// The file could not be parsed: what it declares is unknown.
    unparsed: bool,
}

/// Reads the manifests at `paths` (directories, searched recursively, or files).
pub fn load(paths: &[PathBuf]) -> Manifest {
    load_with(paths, &Inputs::default())
}

/// Reads the manifests at `paths` with a project's variables and a target's overlays.
pub fn load_with(paths: &[PathBuf], inputs: &Inputs) -> Manifest {
    let mut manifest = Manifest {
        root: root_of(paths),
        secrets: inputs.variables.secrets(),
        sensitive_variables: inputs
            .variables
            .values()
            .filter(|(_, v)| v.sensitive)
            .map(|(name, _)| name.clone())
            .collect(),
        ..Manifest::default()
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            discover(path, &mut files, &mut manifest.diagnostics);
        } else if path.is_file() {
            files.push(normalize(path));
        } else {
            manifest.diagnostics.push(Diagnostic::error(format!(
                "{} does not exist",
                display_path(path)
            )));
        }
    }
    files.sort();
    files.dedup();
    skip_project_files(&mut files, &manifest.root, &mut manifest.diagnostics);
    manifest.files_read = files.len();
    manifest.files = files.iter().map(|f| display_path(f)).collect();

    let mut preparer = Preparer::new(inputs);
    let results: Vec<FileResult> = files
        .iter()
        .filter_map(|path| read_file(path, &mut manifest.diagnostics, &mut preparer))
        .collect();
    // Overlays can only be checked against everything when whole directories were read, and
    // every file could be parsed (one that could not may declare what an overlay names).
    let all_parsed = results.len() == files.len() && results.iter().all(|r| !r.unparsed);
    if all_parsed && paths.iter().all(|p| p.is_dir()) {
        manifest.diagnostics.items.extend(preparer.unmatched());
    }
    let referenced: BTreeSet<PathBuf> = results
        .iter()
        .flat_map(|r| r.problems.referenced.iter().map(|p| normalize(p)))
        .collect();
    let is_referenced = |path: &Path| referenced.contains(path);
    let in_code_folder = |path: &Path| referenced.iter().any(|r| r != path && path.starts_with(r));
    for result in results {
        if is_referenced(&result.path) {
            continue;
        }
        manifest.diagnostics.items.extend(result.problems.items);
        manifest.resources.extend(result.resources);
        manifest.origins.extend(result.origins);
        if !in_code_folder(&result.path) {
            for (loc, what) in result.not_resources {
                manifest.diagnostics.push(
                    Diagnostic::warning(format!("skipped: not an Azure ML resource ({what})"))
                        .in_file(loc.file.display.clone())
                        .hint(
                            "amlops reads data assets, environments, computes, components and jobs",
                        ),
                );
            }
        }
    }
    check_duplicates(&manifest.resources, &mut manifest.diagnostics);
    // A problem with a value may quote it: never a sensitive variable's, nor a signature.
    for diagnostic in &mut manifest.diagnostics.items {
        diagnostic.message = crate::redact::masked(&diagnostic.message, &manifest.secrets);
        for hint in &mut diagnostic.hints {
            *hint = crate::redact::masked(hint, &manifest.secrets);
        }
    }
    manifest
}

fn root_of(paths: &[PathBuf]) -> PathBuf {
    match paths.first() {
        Some(p) if p.is_dir() => normalize(p),
        Some(p) => normalize(p)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => PathBuf::from("."),
    }
}

/// The project file is read by the project, never as resources; one below the root is a
/// mistake worth a warning.
fn skip_project_files(files: &mut Vec<PathBuf>, root: &Path, diagnostics: &mut Diagnostics) {
    files.retain(|path| {
        if path.file_name().is_none_or(|n| n != PROJECT_FILE) {
            return true;
        }
        if path.parent() != Some(root) {
            diagnostics.push(
                Diagnostic::warning(format!(
                    "ignored: {PROJECT_FILE} is read only at the root of the manifest directory"
                ))
                .in_file(display_path(path)),
            );
        }
        false
    });
}

/// Finds YAML and KDL files under `dir`, skipping hidden entries and amlops' own state.
fn discover(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Diagnostics) {
    let wanted =
        |name: &str| name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".kdl");
    files.extend(
        find_files(dir, &wanted, diagnostics)
            .into_iter()
            .map(|p| normalize(&p)),
    );
}

/// Files under `dir` whose names `wanted` accepts, skipping hidden entries, `node_modules`,
/// `__pycache__` and `target`. A linked folder is read when it stays inside `dir` and is not
/// read already; a link that leaves `dir`, or that would read a folder twice (a loop), is
/// skipped with a warning.
pub fn find_files(
    dir: &Path,
    wanted: &dyn Fn(&str) -> bool,
    diagnostics: &mut Diagnostics,
) -> Vec<PathBuf> {
    let mut walk = Walk {
        root: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        visited: std::collections::HashSet::new(),
        files: Vec::new(),
        wanted,
    };
    walk.visited.insert(walk.root.clone());
    walk.folder(dir, diagnostics);
    walk.files
}

struct Walk<'w> {
    /// The folder searched, with its links resolved.
    root: PathBuf,
    /// Folders read, with their links resolved.
    visited: std::collections::HashSet<PathBuf>,
    files: Vec<PathBuf>,
    wanted: &'w dyn Fn(&str) -> bool,
}

impl Walk<'_> {
    fn folder(&mut self, dir: &Path, diagnostics: &mut Diagnostics) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                diagnostics.push(Diagnostic::error(format!(
                    "cannot read directory {}: {e}",
                    display_path(dir)
                )));
                return;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.')
                || matches!(name.as_ref(), "node_modules" | "__pycache__" | "target")
            {
                continue;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if (kind.is_dir() || kind.is_symlink())
                && path.join(crate::WORKSPACE_DATABASE).is_file()
            {
                // A local workspace's data directory (`--data-dir` inside the manifests).
                continue;
            }
            if kind.is_dir() {
                let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if self.visited.insert(real) {
                    self.folder(&path, diagnostics);
                }
            } else if kind.is_symlink() && path.is_dir() {
                self.linked_folder(&path, diagnostics);
            } else if (self.wanted)(&name) {
                if kind.is_symlink()
                    && let Ok(real) = std::fs::canonicalize(&path)
                    && !real.starts_with(&self.root)
                {
                    diagnostics.push(Diagnostic::warning(format!(
                        "skipped the linked file {}: it leads out of the manifest directory, to {}",
                        display_path(&path),
                        real.display()
                    )));
                    continue;
                }
                self.files.push(path);
            }
        }
    }

    fn linked_folder(&mut self, path: &Path, diagnostics: &mut Diagnostics) {
        let Ok(real) = std::fs::canonicalize(path) else {
            return;
        };
        let skipped = |why: String| {
            Diagnostic::warning(format!(
                "skipped the linked folder {}: {why}",
                display_path(path)
            ))
        };
        if !real.starts_with(&self.root) {
            diagnostics.push(skipped(format!(
                "it leads out of the manifest directory, to {}",
                real.display()
            )));
        } else if !self.visited.insert(real.clone()) {
            let shown = display_path(&real);
            diagnostics.push(skipped(format!(
                "its folder {} is read already (a link loop, or a second way in)",
                if shown.is_empty() {
                    "."
                } else {
                    shown.as_str()
                }
            )));
        } else {
            self.folder(path, diagnostics);
        }
    }
}

fn read_file(
    path: &Path,
    diagnostics: &mut Diagnostics,
    preparer: &mut Preparer<'_>,
) -> Option<FileResult> {
    let text = match read::read_file_text(path) {
        Ok(text) => text,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(format!("cannot read file: {e}")).in_file(display_path(path)),
            );
            return None;
        }
    };
    Some(read_source(path, text, preparer))
}

/// Reads the documents of one file whose text is given. Paths inside it resolve from the
/// file's folder, which may not exist.
fn read_source(path: &Path, text: String, preparer: &mut Preparer<'_>) -> FileResult {
    let file = SourceFile::new(path, text);
    let mut result = FileResult {
        path: path.to_path_buf(),
        resources: Vec::new(),
        problems: Problems::default(),
        not_resources: Vec::new(),
        origins: Vec::new(),
        unparsed: false,
    };
    let mut docs = match inputs::parse_file(&file, &mut result.problems.items) {
        Ok(docs) => docs,
        Err(errors) => {
            result.problems.items.extend(errors);
            result.unparsed = true;
            return result;
        }
    };
    preparer.prepare(&mut docs, &file, &mut result.problems.items);
    let many = docs.len() > 1;
    for (index, doc) in docs.into_iter().enumerate() {
        if doc.skip {
            continue;
        }
        let suffix = if many { Some(index + 1) } else { None };
        let read = result.resources.len();
        read_document(&doc.node, &file, suffix, &mut result);
        if let Some(resource) = result.resources.get(read)
            && !doc.origins.is_empty()
        {
            result.origins.push((resource.address.clone(), doc.origins));
        }
    }
    result
}

/// Reads manifest text as if it were the file at `path`: what `load` does for one file,
/// without reading that file from disk. For tests and fuzzing.
pub fn read_text(path: &Path, text: &str) -> Manifest {
    let inputs = Inputs::default();
    let mut preparer = Preparer::new(&inputs);
    let result = read_source(path, text.to_owned(), &mut preparer);
    let mut manifest = Manifest {
        root: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        files_read: 1,
        files: vec![display_path(path)],
        ..Manifest::default()
    };
    manifest.diagnostics.items.extend(result.problems.items);
    manifest.resources.extend(result.resources);
    check_duplicates(&manifest.resources, &mut manifest.diagnostics);
    // A problem with a value may quote it: never a sensitive variable's, nor a signature.
    for diagnostic in &mut manifest.diagnostics.items {
        diagnostic.message = crate::redact::masked(&diagnostic.message, &manifest.secrets);
        for hint in &mut diagnostic.hints {
            *hint = crate::redact::masked(hint, &manifest.secrets);
        }
    }
    manifest
}

fn read_document(
    doc: &Node,
    file: &Arc<SourceFile>,
    index: Option<usize>,
    result: &mut FileResult,
) {
    let problems = &mut result.problems;
    let before = problems.error_count();
    let spec = match classify(doc) {
        Classified::Data => assets::read_data(doc, file, problems).map(Spec::Data),
        Classified::Environment => {
            assets::read_environment(doc, "", file, true, problems).map(Spec::Environment)
        }
        Classified::Compute => compute::read_compute(doc, problems).map(Spec::Compute),
        Classified::Component => {
            component::read_component(doc, file, component::Context::Registered, problems)
                .map(Spec::Component)
        }
        Classified::Job => job::read_job(doc, file, problems).map(Spec::Job),
        Classified::Unsupported(kind) => {
            job::check_shared_keys(doc, problems);
            let at = doc.get("type").map_or(&doc.loc, |t| &t.loc);
            problems.push(
                Diagnostic::error(format!("unsupported kind: {kind}"))
                    .at(at)
                    .hint("amlops manages data assets, environments, computes, components, and command, sweep and pipeline jobs"),
            );
            None
        }
        Classified::NotResource(what) => {
            result.not_resources.push((doc.loc.clone(), what));
            None
        }
    };
    if problems.error_count() > before {
        return;
    }
    if let Some(spec) = spec {
        let address = address_of(&spec, file, index);
        result.resources.push(Resource {
            address,
            origin: Loc::new(file, doc.loc.line, 1, 0),
            spec,
        });
    }
}

/// The address of a resource: its kind, its name (for unnamed jobs, the file's name), and its
/// version when pinned.
fn address_of(spec: &Spec, file: &SourceFile, index: Option<usize>) -> Address {
    let version = |v: &crate::model::VersionSpec| v.exact().map(str::to_owned);
    match spec {
        Spec::Data(d) => Address::new(Kind::Data, d.name.value.clone(), version(&d.version)),
        Spec::Environment(e) => Address::new(
            Kind::Environment,
            e.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
            version(&e.version),
        ),
        Spec::Compute(c) => Address::new(Kind::Compute, c.name.value.clone(), None),
        Spec::Component(c) => Address::new(
            Kind::Component,
            c.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
            version(&c.version),
        ),
        Spec::Job(j) => {
            let name = match &j.name {
                Some(name) => name.value.clone(),
                None => {
                    let stem = file
                        .path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    match index {
                        Some(i) => format!("{stem}-{i}"),
                        None => stem,
                    }
                }
            };
            Address::new(Kind::Job, name, None)
        }
    }
}

fn check_duplicates(resources: &[Resource], diagnostics: &mut Diagnostics) {
    let mut seen: BTreeMap<&Address, &Resource> = BTreeMap::new();
    for resource in resources {
        if let Some(first) = seen.get(&resource.address) {
            diagnostics.push(
                Diagnostic::error(format!("{} is declared twice", resource.address))
                    .at(&resource.origin)
                    .related("first declared", &first.origin)
                    .hint("give one of them another name or version"),
            );
        } else {
            seen.insert(&resource.address, resource);
        }
    }
}

/// An absolute path with `.` and `..` removed, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_text(text: &str) -> Classified {
        let file = SourceFile::new(Path::new("t.yml"), text.into());
        classify(&yaml::parse(&file, &mut Vec::new()).unwrap()[0])
    }

    #[test]
    fn kinds_come_from_type_and_keys() {
        assert_eq!(
            classify_text("command: echo hi\nenvironment: azureml:e:1\n"),
            Classified::Job
        );
        assert_eq!(
            classify_text("type: command\ncommand: x\nenvironment: azureml:e:1\n"),
            Classified::Job
        );
        assert_eq!(
            classify_text("name: e\nimage: python\n"),
            Classified::Environment
        );
        assert_eq!(classify_text("name: d\npath: ./x\n"), Classified::Data);
        assert_eq!(
            classify_text("type: uri_file\nname: d\npath: ./x\n"),
            Classified::Data
        );
        assert_eq!(
            classify_text("type: amlcompute\nname: c\n"),
            Classified::Compute
        );
        assert_eq!(
            classify_text("channels: [conda-forge]\ndependencies: [python]\n"),
            Classified::NotResource("a conda environment file")
        );
        assert_eq!(
            classify_text("type: automl\n"),
            Classified::Unsupported("AutoML job")
        );
        assert_eq!(
            classify_text(
                "type: command\nname: c\nversion: 1\ncommand: x\nenvironment: azureml:e:1\n"
            ),
            Classified::Component
        );
    }

    #[test]
    fn normalizes_dots() {
        let p = normalize(Path::new("/a/./b/../c.yml"));
        assert_eq!(p, PathBuf::from("/a/c.yml"));
    }
}
