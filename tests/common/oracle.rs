//! Planning one corpus file as the oracle's fake workspace would answer, and comparing the
//! requests with the golden ones.
//!
//! The oracle ran the official SDK against a fake Azure Resource Manager. Its answers, which
//! this module gives the planner in the same way, are: every workspace asset a file refers to
//! exists (at the versions it names, and at a latest version `__LATEST__`); every compute a file
//! names exists; nothing the file itself declares exists yet; and no code snapshot exists.

#![allow(dead_code, reason = "each test binary uses a part of these helpers")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::corpus::{Sent, substitute};
use amlops::diag::Diagnostic;
use amlops::manifest::{self, Manifest};
use amlops::model::{AssetRef, Kind, VersionSel};
use amlops::plan::{self, Artifacts, Outcome, Plan, PlanOptions, Query, Snapshot};
use amlops::scope::Scope;

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
pub const RESOURCE_GROUP: &str = "oracle-rg";
pub const WORKSPACE: &str = "oracle-ws";
pub const LOCATION: &str = "eastus";
pub const LATEST: &str = "__LATEST__";

pub fn scope() -> Scope {
    Scope::workspace(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)
}

/// What amlops made of one file.
pub struct Translation {
    pub manifest: Manifest,
    pub artifacts: Artifacts,
    pub plan: Option<Plan>,
    /// Errors of reading, hashing or planning.
    pub errors: Vec<Diagnostic>,
}

/// Reads and plans `file` with `project` as the manifest set's name, without ownership tags.
pub fn translate(file: &Path, project: &str) -> Translation {
    let manifest = manifest::load(&[file.to_path_buf()]);
    let mut errors: Vec<Diagnostic> = manifest.diagnostics.errors().cloned().collect();
    let mut translation = Translation {
        artifacts: Artifacts::new(),
        plan: None,
        errors: Vec::new(),
        manifest,
    };
    if !errors.is_empty() {
        translation.errors = errors;
        return translation;
    }
    match amlops::workflow::artifacts(&translation.manifest.resources) {
        Ok(artifacts) => translation.artifacts = artifacts,
        Err(e) => {
            translation.errors = e;
            return translation;
        }
    }
    let scope = scope();
    let input = plan::PlanInput {
        resources: &translation.manifest.resources,
        artifacts: &translation.artifacts,
        scope: &scope,
        target_kind: "workspace",
        location: LOCATION,
        project,
        options: PlanOptions {
            ownership_tags: false,
            ..PlanOptions::default()
        },
    };
    let world = World::of(&translation.manifest);
    let mut snapshot = Snapshot::default();
    for _ in 0..6 {
        match plan::plan(&input, &snapshot) {
            Outcome::Ready(plan) => {
                translation.plan = Some(plan);
                break;
            }
            Outcome::Invalid(diagnostics) => {
                errors.extend(diagnostics);
                break;
            }
            Outcome::Needs(queries) => world.answer(&queries, &mut snapshot),
        }
    }
    if translation.plan.is_none() && errors.is_empty() {
        errors.push(Diagnostic::error("planning did not settle"));
    }
    translation.errors = errors;
    translation
}

/// The oracle's fake workspace, as far as one file's plan needs it.
struct World {
    declared: BTreeSet<(Kind, String)>,
    /// Exact versions the file refers to, by asset.
    referenced: BTreeMap<(Kind, String), BTreeSet<String>>,
}

impl World {
    fn of(manifest: &Manifest) -> Self {
        let declared = manifest
            .resources
            .iter()
            .map(|r| (r.address.kind, r.address.name.clone()))
            .collect();
        let mut referenced: BTreeMap<(Kind, String), BTreeSet<String>> = BTreeMap::new();
        for resource in &manifest.resources {
            for reference in resource.references() {
                let entry = referenced
                    .entry((reference.kind, reference.asset.name().to_owned()))
                    .or_default();
                if let AssetRef::Workspace {
                    version: VersionSel::Exact(v),
                    ..
                }
                | AssetRef::ArmId {
                    version: VersionSel::Exact(v),
                    ..
                } = reference.asset
                {
                    entry.insert(v.clone());
                }
            }
        }
        Self {
            declared,
            referenced,
        }
    }

    fn answer(&self, queries: &[Query], snapshot: &mut Snapshot) {
        for query in queries {
            match query {
                Query::Versions { kind, name } => {
                    let key = (*kind, name.clone());
                    let versions = if self.declared.contains(&key) {
                        Vec::new()
                    } else {
                        let mut versions: Vec<Value> = self
                            .referenced
                            .get(&key)
                            .into_iter()
                            .flatten()
                            .map(|v| version_object(v, "2020-01-01T00:00:00Z"))
                            .collect();
                        versions.push(version_object(LATEST, "2030-01-01T00:00:00Z"));
                        versions
                    };
                    snapshot.versions.insert(key, versions);
                }
                Query::Get(path) => {
                    let declared = path.strip_prefix("computes/").is_some_and(|name| {
                        self.declared.contains(&(Kind::Compute, name.to_owned()))
                    });
                    let object = (path.starts_with("computes/") && !declared).then(|| {
                        json!({"name": path.trim_start_matches("computes/"), "properties": {"computeType": "AmlCompute"}})
                    });
                    snapshot.objects.insert(path.clone(), object);
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
}

fn version_object(version: &str, created: &str) -> Value {
    json!({"name": version, "systemData": {"createdAt": created}, "properties": {"isArchived": false}})
}

/// Every request of a plan, as sent (secrets included), in order.
pub fn plan_requests(plan: &Plan) -> Vec<Sent> {
    plan.changes
        .iter()
        .flat_map(|c| &c.requests)
        .map(|r| Sent {
            method: r.method.clone(),
            path: r.path.clone(),
            api_version: r.api_version.clone(),
            body: r.wire_body().cloned(),
        })
        .collect()
}

/// The golden placeholders, each with what amlops puts in its place for this file.
pub fn placeholders(
    golden: &Value,
    yaml: &Path,
    translation: &Translation,
    project: &str,
) -> Result<BTreeMap<String, String>, String> {
    let plan = translation.plan.as_ref().ok_or("no plan")?;
    let mut map = BTreeMap::new();
    map.insert("__CWD_BASENAME__".to_owned(), project.to_owned());
    if let Some(job) = plan.changes.iter().find(|c| c.kind == Kind::Job) {
        map.insert("__GENERATED_JOB_NAME__".to_owned(), job.name.clone());
    }
    let locals = golden
        .get("local_paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let dir = yaml.parent().unwrap_or(Path::new("."));
    for (placeholder, local) in locals {
        let written = local["path"].as_str().unwrap_or_default();
        let kind = local["kind"].as_str().unwrap_or_default();
        // The SDK snapshots code with `additional_includes` in a temporary folder; amlops
        // uploads the code folder with the includes beside it.
        if written.starts_with("<temp-snapshot>/") {
            let merged = plan
                .changes
                .iter()
                .find(|c| c.kind == Kind::Code && c.uploads.iter().any(|u| !u.includes.is_empty()))
                .ok_or("no code with additional includes")?;
            map.insert(placeholder, merged.name.clone());
            continue;
        }
        let path = manifest::normalize(&dir.join(written));
        let token = local_token(plan, &translation.artifacts, &path, kind)
            .ok_or_else(|| format!("amlops uploads nothing from {written} ({placeholder})"))?;
        map.insert(placeholder, token);
    }
    Ok(map)
}

/// What amlops names the upload of `path`: the code asset's name for code, the upload's
/// folder (`LocalUpload/<this>/…`) otherwise. Identical content shares one upload, so the
/// upload is found by the content's digest.
fn local_token(plan: &Plan, artifacts: &Artifacts, path: &Path, kind: &str) -> Option<String> {
    let digest = &artifacts.get(path)?.digest.hex;
    for change in &plan.changes {
        for upload in &change.uploads {
            if &upload.digest != digest {
                continue;
            }
            if kind == "code" && change.kind == Kind::Code {
                return Some(change.name.clone());
            }
            if kind != "code" {
                let rest = upload.destination.split("/LocalUpload/").nth(1)?;
                return rest.split('/').next().map(str::to_owned);
            }
        }
    }
    None
}

/// The golden PUTs with placeholders replaced. Where a replacement changes the specification
/// of an anonymous component, its version (a hash of the specification, as the SDK computes it)
/// is derived again, and every id naming the old version is updated.
pub fn expected_puts(golden_puts: &[Sent], map: &BTreeMap<String, String>) -> Vec<Sent> {
    let mut map = map.clone();
    let mut out = Vec::new();
    for put in golden_puts {
        let mut sent = Sent {
            method: put.method.clone(),
            path: substitute(&Value::String(put.path.clone()), &map)
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            api_version: put.api_version.clone(),
            body: put.body.as_ref().map(|b| substitute(b, &map)),
        };
        if sent.body != put.body
            && let Some(spec) = sent
                .body
                .as_ref()
                .and_then(|b| b.pointer("/properties/componentSpec"))
                .cloned()
        {
            if let Some((_, old)) = put
                .path
                .rsplit_once("/components/azureml_anonymous/versions/")
            {
                let new = anonymous_hash(&spec, &["name", "version", "_source", "id"]);
                map.insert(old.to_owned(), new.clone());
                sent.path = sent.path.replace(old, &new);
            }
            if let Some(hash) = sent
                .body
                .as_mut()
                .and_then(|b| b.pointer_mut("/properties/properties/client_component_hash"))
            {
                *hash = Value::String(anonymous_hash(&spec, &["version", "_source"]));
            }
        }
        out.push(sent);
    }
    out
}

/// The SDK's `hash_dict` of a component's specification: SHA-256 of Python's
/// `json.dumps(spec, sort_keys=True)` without the keys in `omit`, as a UUID. Anonymous
/// versions omit `name`, `version`, `_source` and `id`; `client_component_hash` omits `version`
/// and `_source`. The conformance test checks this reproduces every golden hash it does not
/// re-derive.
pub fn anonymous_hash(spec: &Value, omit: &[&str]) -> String {
    let mut spec = spec.clone();
    if let Some(map) = spec.as_object_mut() {
        for key in omit {
            map.remove(*key);
        }
        // The SDK hashes a parallel component's partition keys as a list, and sends them as
        // the list's JSON text.
        if let Some(keys) = map.get("partition_keys").and_then(Value::as_str)
            && let Ok(list) = serde_json::from_str::<Value>(keys)
        {
            map.insert("partition_keys".into(), list);
        }
    }
    let text = amlops::translate::python::json_dumps(&spec);
    let hex = hex::encode(Sha256::digest(text.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
