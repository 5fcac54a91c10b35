//! The steps around the pure planner that touch the outside world: hashing the local content
//! resources upload, and answering the planner's questions from a backend.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendError};
use crate::content;
use crate::diag::{Diagnostic, Loc};
use crate::manifest::{Manifest, normalize};
use crate::model::walk::snapshot_key;
use crate::model::{LocalUse, Resource};
use crate::plan::{self, Artifact, Artifacts, Outcome, Plan, PlanOptions, Snapshot};

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the manifests cannot be planned")]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What a local path is used for, which decides the hashes it needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Data,
    /// Code folders and build contexts: the SDK hash is needed too.
    Snapshot,
}

/// Lists and hashes every local path the resources upload.
pub fn artifacts(resources: &[Resource]) -> Result<Artifacts, Vec<Diagnostic>> {
    let mut wanted: Vec<Wanted> = Vec::new();
    for resource in resources {
        collect_paths(resource, &mut wanted);
    }
    let mut seen = BTreeSet::new();
    let mut artifacts = Artifacts::new();
    let mut errors = Vec::new();
    for Wanted {
        path,
        purpose,
        loc,
        includes,
    } in wanted
    {
        let path = normalize(&path);
        let key = snapshot_key(&path, &includes);
        if !seen.insert((key.clone(), purpose == Use::Snapshot)) {
            continue;
        }
        match hash_path(&path, purpose, &includes) {
            Ok(artifact) => {
                let entry = artifacts.entry(key).or_insert(artifact.clone());
                if entry.sdk_hash.is_none() {
                    entry.sdk_hash = artifact.sdk_hash;
                    entry.object_hash = artifact.object_hash;
                }
            }
            Err(e) => errors.push(Diagnostic::error(e.to_string()).at(&loc)),
        }
    }
    if errors.is_empty() {
        Ok(artifacts)
    } else {
        Err(errors)
    }
}

fn hash_path(
    path: &Path,
    purpose: Use,
    includes: &[PathBuf],
) -> Result<Artifact, content::ContentError> {
    let set = if includes.is_empty() {
        content::list(path)?
    } else {
        content::list_merged(path, includes)?
    };
    let digest = content::tree_digest(&set)?;
    let (sdk_hash, object_hash) = if purpose == Use::Snapshot {
        (
            Some(content::sdk_hash(&set)?),
            Some(content::object_hash(&set)?),
        )
    } else {
        (None, None)
    };
    Ok(Artifact {
        digest,
        sdk_hash,
        object_hash,
    })
}

/// A local path to hash, and why.
struct Wanted {
    path: PathBuf,
    purpose: Use,
    loc: Loc,
    includes: Vec<PathBuf>,
}

fn collect_paths(resource: &Resource, wanted: &mut Vec<Wanted>) {
    for local in resource.local_paths() {
        let purpose = match local.purpose {
            LocalUse::Data => Use::Data,
            LocalUse::Snapshot => Use::Snapshot,
        };
        wanted.push(Wanted {
            path: local.path.to_path_buf(),
            purpose,
            loc: local.loc.clone(),
            includes: local.includes.to_vec(),
        });
    }
}

/// Settings of one planning run.
pub struct PlanRequest<'a> {
    pub manifest: &'a Manifest,
    pub artifacts: &'a Artifacts,
    pub project: &'a str,
    pub options: PlanOptions,
}

/// Plans against a backend: the planner asks, the backend answers, until the plan is ready.
pub async fn make_plan(backend: &dyn Backend, request: PlanRequest<'_>) -> Result<Plan, PlanError> {
    let target = backend.target();
    let input = plan::PlanInput {
        resources: &request.manifest.resources,
        artifacts: request.artifacts,
        scope: &target.scope,
        target_kind: target.kind,
        location: &target.location,
        project: request.project,
        options: request.options,
    };
    let mut snapshot = Snapshot::default();
    // Each round answers questions the previous one could not know to ask (job names depend
    // on resolved versions); three rounds settle any manifest.
    for _ in 0..4 {
        match plan::plan(&input, &snapshot) {
            Outcome::Ready(plan) => return Ok(plan),
            Outcome::Invalid(diagnostics) => return Err(PlanError::Invalid(diagnostics)),
            Outcome::Needs(queries) => backend.answer(&queries, &mut snapshot).await?,
        }
    }
    Err(PlanError::Invalid(vec![Diagnostic::error(
        "internal: planning did not settle after four rounds of questions",
    )]))
}

/// The project name: the manifest directory's name.
pub fn project_name(root: &Path) -> String {
    normalize(root)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "amlops".into())
}
