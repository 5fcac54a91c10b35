//! The steps around the pure planner that touch the outside world: hashing the local content
//! resources upload, and answering the planner's questions from a backend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendError};
use crate::content;
use crate::diag::{Diagnostic, Loc};
use crate::manifest::{Manifest, normalize};
use crate::model::walk::snapshot_key;
use crate::model::{LocalUse, Resource, Spec, ValueOrigin};
use crate::plan::{self, Artifact, Artifacts, Outcome, Plan, PlanOptions, SENSITIVE, Snapshot};

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
    let snapshot = purpose == Use::Snapshot;
    let (digest, sdk_hash, object_hash) = content::hashes(&set, snapshot, snapshot)?;
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
    if target.kind == "registry" {
        let misfits = registry_misfits(&request.manifest.resources);
        if !misfits.is_empty() {
            return Err(PlanError::Invalid(misfits));
        }
    }
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
            Outcome::Ready(mut plan) => {
                annotate_origins(&mut plan, request.manifest);
                redact(
                    &mut plan,
                    &request.manifest.secrets,
                    &request.manifest.sensitive_variables,
                );
                return Ok(plan);
            }
            Outcome::Invalid(diagnostics) => return Err(PlanError::Invalid(diagnostics)),
            Outcome::Needs(queries) => backend.answer(&queries, &mut snapshot).await?,
        }
    }
    Err(PlanError::Invalid(vec![Diagnostic::error(
        "internal: planning did not settle after four rounds of questions",
    )]))
}

/// Resources a registry cannot hold: it keeps shared assets, not computes or jobs.
pub fn registry_misfits(resources: &[Resource]) -> Vec<Diagnostic> {
    resources
        .iter()
        .filter(|r| matches!(r.spec, Spec::Compute(_) | Spec::Job(_)))
        .map(|r| {
            Diagnostic::error(format!(
                "{} cannot be applied to a registry: registries hold data, environments, code and components",
                r.address
            ))
            .at(&r.origin)
            .hint("apply computes and jobs to a workspace (--workspace)")
        })
        .collect()
}

/// Notes on each field change where its declared value came from, when a variable or a
/// target's overlay set it. The plan's fields are in the manifest's vocabulary, so a field
/// set at `inputs.lr` explains the change of `inputs.lr`, and one set at `tags` explains the
/// change of `tags.team` (and the other way round).
pub fn annotate_origins(plan: &mut Plan, manifest: &Manifest) {
    let by_address: BTreeMap<String, &Vec<(String, ValueOrigin)>> = manifest
        .origins
        .iter()
        .map(|(address, origins)| (address.to_string(), origins))
        .collect();
    for change in &mut plan.changes {
        let Some(origins) = by_address.get(&change.address) else {
            continue;
        };
        for field in &mut change.fields {
            field.from = origins
                .iter()
                .rev()
                .find(|(set, _)| explains(set, &field.path))
                .map(|(_, origin)| origin.clone());
        }
    }
}

/// Hides secrets wherever the plan shows them, while request bodies as sent stay in memory
/// only ([`Request::secret_body`](crate::plan::Request::secret_body)):
/// - a field value holding a sensitive variable's value becomes `(sensitive)`, and so do both
///   sides of a field a sensitive variable set (the live value may be the secret's previous
///   value, which nothing else would recognise);
/// - the signature of a shared access signature (a data asset's `path` may be a blob URL
///   with a SAS) is hidden wherever it stands;
/// - request bodies are shown with both masked.
pub fn redact(plan: &mut Plan, secrets: &[String], sensitive: &std::collections::BTreeSet<String>) {
    for change in &mut plan.changes {
        for field in &mut change.fields {
            let set_by_secret = field
                .from
                .as_ref()
                .and_then(|o| o.variable.as_ref())
                .is_some_and(|v| sensitive.contains(v));
            for value in [&mut field.before, &mut field.after].into_iter().flatten() {
                if set_by_secret || holds_secret(value, secrets) {
                    *value = serde_json::Value::String(SENSITIVE.into());
                } else {
                    crate::redact::mask_json(value, &[]);
                }
            }
        }
        for request in &mut change.requests {
            let Some(body) = &request.body else { continue };
            let mut shown = body.clone();
            if crate::redact::mask_json(&mut shown, secrets) {
                if request.secret_body.is_none() {
                    request.secret_body = Some(body.clone());
                }
                request.body = Some(shown);
            }
        }
    }
}

pub use crate::redact::without_signature;

fn holds_secret(value: &serde_json::Value, secrets: &[String]) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => secrets.iter().any(|s| text.contains(s.as_str())),
        Value::Array(items) => items.iter().any(|v| holds_secret(v, secrets)),
        Value::Object(map) => map.values().any(|v| holds_secret(v, secrets)),
        _ => false,
    }
}

/// Whether a value set at manifest path `set` (list items as `[i]`) explains plan field `shown`.
fn explains(set: &str, shown: &str) -> bool {
    let set = set.split('[').next().unwrap_or(set);
    let below = |inner: &str, outer: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'.'
    };
    set == shown || below(shown, set) || below(set, shown)
}

/// The project name: the manifest directory's name.
pub fn project_name(root: &Path) -> String {
    normalize(root)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "amlops".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_access_signatures_are_hidden() {
        assert_eq!(
            without_signature("https://a.blob.core.windows.net/c/f.csv?sv=2023&sig=AB%2Fc%3D&se=x")
                .as_deref(),
            Some("https://a.blob.core.windows.net/c/f.csv?sv=2023&sig=(sensitive)&se=x")
        );
        assert_eq!(
            without_signature("see https://h/x?SIG=abc and https://h/y?a=1&sig=def").as_deref(),
            Some("see https://h/x?SIG=(sensitive) and https://h/y?a=1&sig=(sensitive)")
        );
        assert_eq!(without_signature("https://h/design?x=1"), None);
        assert_eq!(without_signature("https://h/a?xsig=1"), None);
        assert_eq!(without_signature("sig=plain text"), None);
    }

    #[test]
    fn secrets_are_redacted_where_shown_and_kept_for_the_wire() {
        use crate::plan::{Action, Change, FieldChange, Request, Summary, Target};
        use serde_json::json;
        let body = json!({"properties": {"tags": {"token": "pre-s3cret-post"}}});
        let change = Change {
            address: "data.d".into(),
            kind: crate::model::Kind::Data,
            name: "d".into(),
            version: None,
            action: Action::Create,
            reason: None,
            source: None,
            derived: false,
            depends_on: vec![],
            fields: vec![FieldChange {
                path: "tags.token".into(),
                before: None,
                after: Some(json!("pre-s3cret-post")),
                forces_replacement: false,
                from: None,
            }],
            requests: vec![Request {
                method: "PUT".into(),
                path: "/x".into(),
                api_version: "1".into(),
                body: Some(body.clone()),
                secret_body: None,
            }],
            uploads: vec![],
            hint: None,
            status: None,
            desired_spec: None,
            applied_spec: None,
            recurring: false,
            live_fingerprint: None,
        };
        let mut plan = Plan {
            format_version: "1".into(),
            target: Target {
                kind: "local".into(),
                name: "local".into(),
                id: "/x".into(),
            },
            summary: Summary::default(),
            changes: vec![change],
            notes: vec![],
            origin: None,
        };
        redact(&mut plan, &["s3cret".into()], &Default::default());
        let change = &plan.changes[0];
        assert_eq!(change.fields[0].after, Some(json!("(sensitive)")));
        assert_eq!(
            change.requests[0].body,
            Some(json!({"properties": {"tags": {"token": "pre-(sensitive)-post"}}}))
        );
        assert_eq!(change.requests[0].wire_body(), Some(&body));
        assert!(!serde_json::to_string(&plan).unwrap().contains("s3cret"));
    }

    #[test]
    fn origins_explain_fields_above_and_below() {
        assert!(explains("max_instances", "max_instances"));
        assert!(explains("tags", "tags.team"));
        assert!(explains("resources.instance_count", "resources"));
        assert!(explains(
            "resources.docker_args[0]",
            "resources.docker_args"
        ));
        assert!(!explains("tags.t", "tags.team"));
        assert!(!explains("max", "max_instances"));
    }
}
