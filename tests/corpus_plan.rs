//! Real input on the local workspace: every in-scope data, environment, compute cluster and
//! command-job file of the corpus plans, with the computes and assets it refers to declared
//! beside it; and the jobs of `cli/jobs/basics/` whose commands run on any machine (`echo`,
//! `ls`, Python on the corpus' stand-in scripts) apply and complete.
//!
//! Reads the corpus from `../shared/` and skips, saying so, when it is absent.

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use amlops::backend::local::LocalWorkspace;
use amlops::diag::Located;
use amlops::manifest;
use amlops::model::walk::{self, Reference, Visitor};
use amlops::model::{AssetRef, Kind, VersionSel};
use amlops::plan::PlanOptions;
use amlops::scope::Scope;
use amlops::workflow::{self, PlanRequest};
use common::corpus;

/// The kinds of issue 2's slice.
const KINDS: &[&str] = &["data", "environment", "compute-amlcompute", "job-command"];

/// The basics jobs that run anywhere: their commands use `echo`, `ls`, `cat` and Python on the
/// corpus' (empty) stand-in scripts, and read no remote data.
const RUNNABLE_BASICS: &[&str] = &[
    "hello-world.yml",
    "hello-world-org.yml",
    "hello-world-env-var.yml",
    "hello-world-input.yml",
    "hello-world-output.yml",
    "hello-world-output-data.yml",
    "hello-code.yml",
    "hello-sweep.yml",
    "hello-pipeline.yml",
    "hello-pipeline-io.yml",
    "hello-pipeline-abc.yml",
    "hello-pipeline-settings.yml",
    "hello-pipeline-customize-output-folder.yml",
];

/// What a file refers to that must be declared beside it.
#[derive(Default)]
struct Wanted {
    computes: BTreeSet<String>,
    assets: BTreeSet<(Kind, String, String)>,
}

impl<'a> Visitor<'a> for Wanted {
    fn reference(&mut self, reference: Reference<'a>) {
        if reference.asset.is_curated() {
            return;
        }
        if let AssetRef::Workspace { name, version } = reference.asset {
            let version = match version {
                VersionSel::Exact(v) => v.clone(),
                _ => "1".to_owned(),
            };
            self.assets.insert((reference.kind, name.clone(), version));
        }
    }

    fn compute(&mut self, compute: &'a Located<String>) {
        let name = compute.value.trim().trim_start_matches("azureml:");
        if !name.is_empty() && !name.eq_ignore_ascii_case("serverless") && !name.starts_with("${{")
        {
            self.computes.insert(name.to_owned());
        }
    }
}

/// Manifests declaring what `file` refers to, written into `dir`.
fn declare_references(file: &Path, dir: &Path) {
    let manifest = manifest::load(&[file.to_path_buf()]);
    let mut wanted = Wanted::default();
    for resource in &manifest.resources {
        walk::walk(resource, &mut wanted);
    }
    for compute in &wanted.computes {
        let text = format!("type: amlcompute\nname: {compute}\nmax_instances: 1\n");
        std::fs::write(dir.join(format!("compute-{compute}.yml")), text).expect("write");
    }
    for (kind, name, version) in &wanted.assets {
        let text = match kind {
            Kind::Data => format!(
                "type: uri_folder\nname: {name}\nversion: \"{version}\"\npath: azureml://datastores/workspaceblobstore/paths/{name}/\n"
            ),
            Kind::Environment => {
                format!("name: {name}\nversion: \"{version}\"\nimage: python:3.11\n")
            }
            other => panic!("a {other} reference in a file of the four kinds"),
        };
        std::fs::write(dir.join(format!("{kind}-{name}-{version}.yml")), text).expect("write");
    }
}

#[test]
fn four_kinds_plan_with_their_references_declared() {
    let Some(shared) = corpus::shared_dir() else {
        println!("corpus plan: skipped, ../shared/corpus is absent");
        return;
    };
    let stage = corpus::stage(&shared);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut planned = 0;
    let mut failures = Vec::new();
    for row in corpus::rows(&shared) {
        if !row.core || row.rejected() || !KINDS.contains(&row.kind.as_str()) {
            continue;
        }
        let file = stage.root.join(&row.path);
        let beside = tempfile::tempdir().expect("temp dir");
        declare_references(&file, beside.path());
        let manifest = manifest::load(&[file.clone(), beside.path().to_path_buf()]);
        if manifest.has_errors() {
            let errors: Vec<String> = manifest.diagnostics.errors().map(|d| d.render()).collect();
            failures.push(format!("{}:\n{}", row.path, errors.join("")));
            continue;
        }
        let artifacts = match workflow::artifacts(&manifest.resources) {
            Ok(artifacts) => artifacts,
            Err(errors) => {
                failures.push(format!("{}: {}", row.path, errors[0].render()));
                continue;
            }
        };
        let data = tempfile::tempdir().expect("temp dir");
        let workspace = LocalWorkspace::open(data.path(), Scope::local()).expect("workspace");
        let request = PlanRequest {
            manifest: &manifest,
            artifacts: &artifacts,
            project: "corpus",
            options: PlanOptions::default(),
        };
        match runtime.block_on(workflow::make_plan(&workspace, request)) {
            Ok(plan) if plan.has_changes() => planned += 1,
            Ok(_) => failures.push(format!("{}: a plan without changes", row.path)),
            Err(workflow::PlanError::Invalid(diagnostics)) => failures.push(format!(
                "{}:\n{}",
                row.path,
                diagnostics.iter().map(|d| d.render()).collect::<String>()
            )),
            Err(e) => failures.push(format!("{}: {e}", row.path)),
        }
    }
    println!("corpus plan: {planned} files of the four kinds plan on the local workspace");
    assert!(planned >= 60, "only {planned} files planned");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn basics_jobs_apply_and_complete_locally() {
    let Some(shared) = corpus::shared_dir() else {
        println!("corpus plan: skipped, ../shared/corpus is absent");
        return;
    };
    let stage = corpus::stage(&shared);
    let basics = stage.root.join("cli/jobs/basics");
    let project = support::Project::empty();
    support::copy_dir(&basics.join("src"), &project.path().join("src"));
    for name in RUNNABLE_BASICS {
        std::fs::copy(basics.join(name), project.path().join(name)).expect("copy job");
        declare_references(&basics.join(name), project.path());
    }
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let jobs = project.jobs();
    assert_eq!(jobs.len(), RUNNABLE_BASICS.len(), "{jobs:#?}");
    for job in &jobs {
        assert_eq!(job["status"], "Completed", "{job:#?}\n{}", apply.stderr);
    }
    let again = project.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.both());
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);
}
