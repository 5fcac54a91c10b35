//! The manifest reader's fuzzing harness, shared by the `cargo fuzz` target and the
//! randomized test of the test suite (`tests/fuzz_regressions.rs`).

use std::path::Path;

use amlops::manifest;
use amlops::plan::{self, Artifacts, Outcome, PlanInput, PlanOptions, Query, Snapshot};
use amlops::scope::Scope;

/// Where the input pretends to live: a folder that does not exist, so that every path it names
/// relative to itself is missing.
pub const FILE: &str = "/nonexistent-amlops-fuzz/manifests/input.yml";

/// Reads `data` as a manifest, renders every diagnostic, and plans what it declares against an
/// empty workspace.
pub fn exercise(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let manifest = manifest::read_text(Path::new(FILE), text);
    for diagnostic in &manifest.diagnostics.items {
        let _ = diagnostic.render();
        let _ = diagnostic.to_json();
    }
    if manifest.has_errors() {
        return;
    }
    let artifacts = Artifacts::new();
    let scope = Scope::local();
    let input = PlanInput {
        resources: &manifest.resources,
        artifacts: &artifacts,
        scope: &scope,
        target_kind: "local",
        location: "local",
        project: "fuzz",
        options: PlanOptions::default(),
    };
    let mut snapshot = Snapshot::default();
    for _ in 0..6 {
        match plan::plan(&input, &snapshot) {
            Outcome::Needs(queries) => answer_nothing(&queries, &mut snapshot),
            Outcome::Ready(plan) => {
                let _ = format!("{plan:?}");
                return;
            }
            Outcome::Invalid(diagnostics) => {
                for diagnostic in diagnostics {
                    let _ = diagnostic.render();
                }
                return;
            }
        }
    }
}

/// Answers every question as an empty workspace would.
fn answer_nothing(queries: &[Query], snapshot: &mut Snapshot) {
    for query in queries {
        match query {
            Query::Versions { kind, name } => {
                snapshot.versions.insert((*kind, name.clone()), Vec::new());
            }
            Query::Get(path) => {
                snapshot.objects.insert(path.clone(), None);
            }
            Query::CodeByHash(hash) => {
                snapshot.code_by_hash.insert(hash.clone(), None);
            }
            Query::JobsOf(address) => {
                snapshot.jobs_of.insert(address.clone(), Vec::new());
            }
            Query::Owned { kind, .. } => {
                snapshot.owned.insert(*kind, Vec::new());
            }
            Query::ActiveJobs => snapshot.active_jobs_known = true,
        }
    }
}
