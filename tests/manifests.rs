//! `manifests/`: one canonical, commented manifest per resource kind. They must read without
//! a diagnostic, cover every kind, and apply, run and converge on the local workspace.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use amlops::model::{JobBody, Spec};
use support::{Project, copy_dir};

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

#[test]
fn every_kind_has_a_commented_canonical_manifest() {
    let manifest = amlops::manifest::load(&[manifests()]);
    assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics.items);
    let mut kinds = BTreeSet::new();
    let mut files_by_kind = BTreeSet::new();
    for resource in &manifest.resources {
        let kind = match &resource.spec {
            Spec::Data(_) => "data",
            Spec::Environment(_) => "environment",
            Spec::Compute(_) => "compute",
            Spec::Component(_) => "component",
            Spec::Job(job) => match job.body {
                JobBody::Command(_) => "command job",
                JobBody::Sweep(_) => "sweep job",
                JobBody::Pipeline(_) => "pipeline job",
            },
        };
        kinds.insert(kind);
        files_by_kind.insert((kind, resource.origin.file.display.clone()));
    }
    assert_eq!(
        kinds,
        BTreeSet::from([
            "command job",
            "component",
            "compute",
            "data",
            "environment",
            "pipeline job",
            "sweep job",
        ])
    );
    // One file per kind, and only referenced files beside them.
    let files: BTreeSet<&str> = files_by_kind.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(files.len(), kinds.len(), "{files_by_kind:?}");
    for entry in std::fs::read_dir(manifests()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with('#'),
                "{} opens without a comment saying what it is",
                path.display()
            );
        }
    }
}

#[test]
fn the_canonical_manifests_apply_run_and_converge() {
    let project = Project::empty();
    copy_dir(&manifests(), project.path());
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let jobs = project.jobs();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in &jobs {
        assert_eq!(job["status"], "Completed", "{job}");
    }
    let before = project.database_bytes();
    let again = project.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.both());
    assert!(again.stdout.contains("No changes."), "{}", again.both());
    assert_eq!(project.database_bytes(), before, "the second apply wrote");
}
