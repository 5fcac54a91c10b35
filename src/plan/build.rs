//! The planner: declared resources and a snapshot of live state in, a plan (or the questions
//! still open) out.
//!
//! 1. Ask for what the declarations need to know: the versions of every asset container they
//!    declare or reference, the computes, code snapshots by content hash, anonymous
//!    environments.
//! 2. Settle asset versions: pinned, `auto` (a hash of the content), or unset (the latest
//!    version when its content matches, else the next integer).
//! 3. Build the body of every object, references resolved to ARM ids, local content to the
//!    upload destinations its digest names; inline environments and code folders become
//!    derived objects named as the SDK names them.
//! 4. Name each job from the hash of its resolved specification unless the manifest names it,
//!    and ask whether a job of that name exists.
//! 5. Compare each object with its live counterpart and choose an action.
//! 6. Order the changes by dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::normalize::{self, Mutability};
use super::snapshot::{Query, Snapshot};
use super::view::view;
use super::{Action, Change, FieldChange, Plan, Request, SENSITIVE, Summary, Target, Upload, tags};
use crate::content::Digest;
use crate::diag::{Diagnostic, Loc};
use crate::model::{
    AssetRef, CodeSource, Compute, Data, DataPath, EnvSource, Environment, Job, JobBody, JobInput,
    Kind, Rerun, Resource, Spec, VersionSel, VersionSpec,
};
use crate::scope::Scope;
use crate::translate::{self, ResolvedJob, api};

/// Digests of a local file or folder that a resource uploads.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub digest: Digest,
    /// The SDK's content hash, computed for code folders and build contexts.
    pub sdk_hash: Option<String>,
    /// The SDK's object hash, computed for build contexts: it names anonymous environments.
    pub object_hash: Option<String>,
}

/// Artifacts by absolute local path.
pub type Artifacts = BTreeMap<PathBuf, Artifact>;

#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Tag what amlops creates with its project, address and specification hash.
    pub ownership_tags: bool,
    /// Remove what this project owns that left the manifests.
    pub prune: super::prune::Prune,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            ownership_tags: true,
            prune: super::prune::Prune::default(),
        }
    }
}

/// How the reason of a `rerun: never` job that changed since its run ends.
const UNSUBMITTED: &str = "and changes since are not submitted";

pub struct PlanInput<'a> {
    pub resources: &'a [Resource],
    pub artifacts: &'a Artifacts,
    pub scope: &'a Scope,
    /// `local`, `workspace` or `registry`.
    pub target_kind: &'a str,
    /// The region computes default to.
    pub location: &'a str,
    /// The manifest set's name: ownership tags and the default experiment.
    pub project: &'a str,
    pub options: PlanOptions,
}

#[allow(clippy::large_enum_variant, reason = "one outcome per planning round")]
pub enum Outcome {
    /// Answer these and call [`plan`] again with the enlarged snapshot.
    Needs(Vec<Query>),
    Ready(Plan),
    /// The declarations cannot be planned (unresolved references, cycles).
    Invalid(Vec<Diagnostic>),
}

/// Plans `input` against what `snapshot` knows; see the module documentation.
pub fn plan(input: &PlanInput<'_>, snapshot: &Snapshot) -> Outcome {
    let mut builder = Builder::new(input, snapshot);
    let wanted = builder.first_queries();
    let missing = snapshot.missing(&wanted);
    if !missing.is_empty() {
        return Outcome::Needs(missing);
    }
    builder.settle_versions();
    builder.build_objects();
    let jobs: BTreeSet<Query> = builder
        .objects
        .iter()
        .filter(|o| o.kind == Kind::Job || (o.kind == Kind::Component && o.derived))
        .flat_map(|o| {
            let mut queries = vec![Query::Get(o.path.clone())];
            if o.kind == Kind::Job {
                queries.push(Query::JobsOf(o.address.clone()));
            }
            queries
        })
        .collect();
    let missing = snapshot.missing(&jobs);
    if !missing.is_empty() && builder.errors.is_empty() {
        return Outcome::Needs(missing);
    }
    if !builder.errors.is_empty() {
        return Outcome::Invalid(builder.errors);
    }
    let mut changes = builder.compare();
    if changes.iter().any(|c| c.action == Action::Replace) {
        if !snapshot.active_jobs_known {
            return Outcome::Needs(vec![Query::ActiveJobs]);
        }
        for change in changes.iter_mut().filter(|c| c.action == Action::Replace) {
            blast_radius(change, input.scope, snapshot);
        }
    }
    // A `rerun: never` job whose manifest changed is a no-op, which a plan does not list:
    // say so, or the edit would vanish without a word.
    let mut notes: Vec<String> = changes
        .iter()
        .filter(|c| c.action == Action::NoOp)
        .filter_map(|c| {
            let reason = c.reason.as_deref()?;
            reason
                .ends_with(UNSUBMITTED)
                .then(|| format!("{}: {reason}", c.address))
        })
        .collect();
    if input.options.prune.any() {
        let desired: Vec<&Value> = builder.objects.iter().map(|o| &o.body).collect();
        let (pruned, prune_notes) = super::prune::prune(
            input.options.prune,
            input.scope,
            snapshot,
            &changes,
            &desired,
        );
        changes.extend(pruned);
        notes.extend(prune_notes);
    }
    match order(changes) {
        Ok(changes) => Outcome::Ready(Plan {
            format_version: super::FORMAT_VERSION.into(),
            target: Target {
                kind: input.target_kind.into(),
                name: target_name(input.scope, input.target_kind),
                id: input.scope.id(),
            },
            summary: Summary::of(&changes),
            changes,
            notes,
            origin: None,
        }),
        Err(cycle) => Outcome::Invalid(vec![cycle]),
    }
}

fn target_name(scope: &Scope, kind: &str) -> String {
    if kind == "local" {
        return "local".into();
    }
    match scope {
        Scope::Workspace {
            subscription,
            resource_group,
            workspace,
        } => format!("{subscription}/{resource_group}/{workspace}"),
        Scope::Registry { registry, .. } => registry.clone(),
    }
}

/// How an object's existing counterpart is judged.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Versioning {
    /// A version the manifest pins: different content is a conflict.
    Pinned,
    /// A version derived from content (`auto`, or anonymous environments and code).
    Derived,
    /// A version amlops chose because the manifest set none.
    Chosen { latest_matched: bool },
    /// Computes: one object, updated in place or replaced.
    Single,
    /// Jobs: submitted once per specification, or as `rerun` says.
    Job {
        spec: String,
        explicit_name: bool,
        rerun: Rerun,
    },
}

/// An object amlops wants to exist.
#[derive(Clone, Debug)]
pub(super) struct Desired {
    pub(super) address: String,
    pub(super) kind: Kind,
    pub(super) name: String,
    pub(super) version: Option<String>,
    /// Relative to the scope: `data/iris/versions/1`.
    pub(super) path: String,
    pub(super) api_version: &'static str,
    pub(super) body: Value,
    pub(super) source: Option<Loc>,
    pub(super) derived: bool,
    pub(super) depends_on: BTreeSet<String>,
    pub(super) uploads: Vec<Upload>,
    pub(super) versioning: Versioning,
    /// JSON pointers of secrets in `body`.
    pub(super) sensitive: Vec<&'static str>,
}

/// A declared asset version, settled before bodies are built so references can name it.
#[derive(Clone, Debug)]
pub(super) struct Settled {
    pub(super) address: String,
    pub(super) version: String,
    pub(super) versioning: Versioning,
}

pub(super) struct Builder<'a> {
    pub(super) input: &'a PlanInput<'a>,
    pub(super) snapshot: &'a Snapshot,
    /// Declared asset versions by (kind, name, version).
    pub(super) settled: BTreeMap<(Kind, String), Vec<Settled>>,
    pub(super) settled_by_address: BTreeMap<String, Settled>,
    pub(super) objects: Vec<Desired>,
    pub(super) errors: Vec<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn new(input: &'a PlanInput<'a>, snapshot: &'a Snapshot) -> Self {
        Self {
            input,
            snapshot,
            settled: BTreeMap::new(),
            settled_by_address: BTreeMap::new(),
            objects: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub(super) fn scope(&self) -> &Scope {
        self.input.scope
    }

    // 1. Questions.

    fn first_queries(&self) -> BTreeSet<Query> {
        let mut wanted = BTreeSet::new();
        let prune = self.input.options.prune;
        for kind in prune.kinds() {
            wanted.insert(Query::Owned {
                kind,
                project: self.input.project.to_owned(),
            });
        }
        if prune.computes {
            wanted.insert(Query::ActiveJobs);
        }
        for resource in self.input.resources {
            match &resource.spec {
                Spec::Data(data) => {
                    wanted.insert(Query::Versions {
                        kind: Kind::Data,
                        name: data.name.value.clone(),
                    });
                    if let DataPath::Asset(reference) = &data.path.value {
                        reference_queries(Kind::Data, reference, &mut wanted);
                    }
                }
                Spec::Environment(env) => {
                    if let Some(name) = &env.name {
                        wanted.insert(Query::Versions {
                            kind: Kind::Environment,
                            name: name.value.clone(),
                        });
                    }
                }
                Spec::Compute(compute) => {
                    wanted.insert(Query::Get(format!("computes/{}", compute.name.value)));
                }
                Spec::Job(job) if matches!(job.body, JobBody::Command(_)) => {
                    self.job_queries(job, &mut wanted)
                }
                Spec::Component(_) | Spec::Job(_) => self.nested_queries(resource, &mut wanted),
            }
            // Naming a `rerun: always` job and skipping a `rerun: never` one both depend on
            // the jobs already submitted for the address.
            if let Spec::Job(job) = &resource.spec
                && job.rerun != Rerun::OnChange
            {
                wanted.insert(Query::JobsOf(resource.address.to_string()));
            }
        }
        wanted
    }

    fn job_queries(&self, job: &Job, wanted: &mut BTreeSet<Query>) {
        let JobBody::Command(command) = &job.body else {
            return;
        };
        match &command.environment.value {
            EnvSource::Ref(reference) => reference_queries(Kind::Environment, reference, wanted),
            EnvSource::Inline(env) => match &env.name {
                Some(name) => {
                    wanted.insert(Query::Versions {
                        kind: Kind::Environment,
                        name: name.value.clone(),
                    });
                }
                None => {
                    let version = translate::anonymous_environment_version(
                        env,
                        self.build_hash(env).as_deref(),
                    );
                    wanted.insert(Query::Get(anonymous_environment_path(&version)));
                }
            },
        }
        if let Some(code) = &job.body_code()
            && let CodeSource::Local { path, .. } = &code.value
            && let Some(hash) = self.artifact(path).and_then(|a| a.sdk_hash.clone())
        {
            wanted.insert(Query::CodeByHash(hash));
        }
        if let Some(CodeSource::Asset(reference)) = job.body_code().map(|c| &c.value) {
            reference_queries(Kind::Code, reference, wanted);
        }
        if let Some(name) = job.compute.as_ref().and_then(|c| compute_name(&c.value)) {
            wanted.insert(Query::Get(format!("computes/{name}")));
        }
        for input in command.inputs.values() {
            if let JobInput::Data(data) = input
                && let Some(path) = &data.path
                && let DataPath::Asset(reference) = &path.value
            {
                let kind = if data.input_type.ends_with("model") {
                    None
                } else {
                    Some(Kind::Data)
                };
                if let Some(kind) = kind {
                    reference_queries(kind, reference, wanted);
                }
            }
        }
    }

    pub(super) fn artifact(&self, path: &Path) -> Option<&Artifact> {
        self.input.artifacts.get(&crate::manifest::normalize(path))
    }

    pub(super) fn build_hash(&self, env: &Environment) -> Option<String> {
        match &env.build.as_ref()?.path.value {
            DataPath::Local { path, .. } => self.artifact(path).and_then(|a| a.object_hash.clone()),
            _ => None,
        }
    }

    // 2. Versions.

    /// Settles pinned versions first, then the versions that depend on content (which may
    /// refer to other declared assets), repeating while any settles.
    fn settle_versions(&mut self) {
        let resources = self.input.resources;
        let mut waiting: Vec<&Resource> = Vec::new();
        for resource in resources {
            let Some((kind, name, version_spec)) = declared_asset(resource) else {
                continue;
            };
            match version_spec {
                VersionSpec::Exact(v) => {
                    self.settle(resource, kind, name, v.value.clone(), Versioning::Pinned)
                }
                _ => waiting.push(resource),
            }
        }
        loop {
            let before = waiting.len();
            waiting.retain(|resource| !self.settle_by_content(resource));
            if waiting.is_empty() || waiting.len() == before {
                break;
            }
        }
    }

    /// Settles an `auto` or unset version from the asset's content; false when the content
    /// cannot be built yet (its problems are reported when the bodies are built).
    fn settle_by_content(&mut self, resource: &Resource) -> bool {
        let Some((kind, name, version_spec)) = declared_asset(resource) else {
            return true;
        };
        let errors = self.errors.len();
        let content = self.asset_body(resource, None);
        self.errors.truncate(errors);
        let Some(content) = content else { return false };
        let (version, versioning) = match version_spec {
            VersionSpec::Auto(_) => (
                content_version(kind, &content, self.scope()),
                Versioning::Derived,
            ),
            _ => match self
                .snapshot
                .latest(kind, name)
                .filter(|live| same_content(kind, &content, live, self.scope()))
                .or_else(|| {
                    // An asset that left the manifests was archived (`--prune`); the same
                    // content coming back restores that version rather than making a new one.
                    self.snapshot
                        .archived_newest_first(kind, name)
                        .find(|archived| same_content(kind, &content, archived, self.scope()))
                }) {
                Some(live) => {
                    let version = super::snapshot::version_of(live)
                        .unwrap_or_default()
                        .to_owned();
                    (
                        version,
                        Versioning::Chosen {
                            latest_matched: true,
                        },
                    )
                }
                _ => (
                    self.snapshot.next_version(kind, name).to_string(),
                    Versioning::Chosen {
                        latest_matched: false,
                    },
                ),
            },
        };
        self.settle(resource, kind, name, version, versioning);
        true
    }

    fn settle(
        &mut self,
        resource: &Resource,
        kind: Kind,
        name: &str,
        version: String,
        versioning: Versioning,
    ) {
        let settled = Settled {
            address: resource.address.to_string(),
            version,
            versioning,
        };
        self.settled_by_address
            .insert(settled.address.clone(), settled.clone());
        self.settled
            .entry((kind, name.to_owned()))
            .or_default()
            .push(settled);
    }

    // 3. Bodies.

    fn build_objects(&mut self) {
        let resources = self.input.resources;
        for resource in resources {
            match &resource.spec {
                Spec::Data(_) | Spec::Environment(_) | Spec::Component(_) => {
                    self.build_asset(resource)
                }
                Spec::Compute(compute) => self.build_compute(resource, compute),
                Spec::Job(job) if matches!(job.body, JobBody::Command(_)) => {
                    self.build_job(resource, job)
                }
                Spec::Job(job) => self.build_pipeline_or_sweep(resource, job),
            }
        }
    }

    /// The body of a declared data asset or environment; `None` after reporting an error.
    fn asset_body(&mut self, resource: &Resource, into: Option<&mut Desired>) -> Option<Value> {
        let address = resource.address.to_string();
        match &resource.spec {
            Spec::Data(data) => {
                let (uri, upload, depends) = self.data_location(data, &address)?;
                if let Some(desired) = into {
                    desired.uploads.extend(upload);
                    desired.depends_on.extend(depends);
                }
                Some(translate::data_version(data, &uri))
            }
            Spec::Environment(env) => {
                let (context, upload) = self.build_context(env, &address)?;
                if let Some(desired) = into {
                    desired.uploads.extend(upload);
                }
                Some(translate::environment_version(env, context.as_deref()))
            }
            Spec::Component(component) => self.registered_component_body(resource, component, into),
            _ => None,
        }
    }

    fn build_asset(&mut self, resource: &Resource) {
        let address = resource.address.to_string();
        let Some(settled) = self.settled_by_address.get(&address).cloned() else {
            return;
        };
        let (kind, name, api_version) = match &resource.spec {
            Spec::Data(data) => (Kind::Data, data.name.value.clone(), api::DATA),
            Spec::Environment(env) => (
                Kind::Environment,
                env.name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_default(),
                api::ENVIRONMENT,
            ),
            Spec::Component(component) => (
                Kind::Component,
                component
                    .name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_default(),
                api::COMPONENT,
            ),
            _ => return,
        };
        let mut desired = Desired {
            address,
            kind,
            path: format!("{}/{name}/versions/{}", kind.collection(), settled.version),
            name,
            version: Some(settled.version.clone()),
            api_version,
            body: Value::Null,
            source: Some(resource.origin.clone()),
            derived: false,
            depends_on: BTreeSet::new(),
            uploads: Vec::new(),
            versioning: settled.versioning,
            sensitive: Vec::new(),
        };
        let Some(body) = self.asset_body(resource, Some(&mut desired)) else {
            return;
        };
        desired.body = body;
        self.tag(&mut desired, "/properties/tags");
        self.objects.push(desired);
    }

    /// Where a data asset's data lives, uploading local paths.
    fn data_location(
        &mut self,
        data: &Data,
        address: &str,
    ) -> Option<(String, Option<Upload>, Option<String>)> {
        match &data.path.value {
            DataPath::Local { path, written } => {
                let upload = self.upload(path, written)?;
                Some((upload.destination.clone(), Some(upload), None))
            }
            DataPath::Datastore { datastore, path } => Some((
                format!("azureml://datastores/{datastore}/paths/{path}"),
                None,
                None,
            )),
            DataPath::Uri(uri) => Some((uri.clone(), None, None)),
            DataPath::Asset(reference) => {
                let resolved =
                    self.resolve_asset(Kind::Data, reference, &data.path.loc, address)?;
                Some((resolved.id, None, resolved.depends_on))
            }
        }
    }

    fn build_context(
        &mut self,
        env: &Environment,
        _address: &str,
    ) -> Option<(Option<String>, Option<Upload>)> {
        let Some(build) = &env.build else {
            return Some((None, None));
        };
        match &build.path.value {
            DataPath::Local { path, written } => {
                let upload = self.upload(path, written)?;
                let uri = format!("{}/", upload.destination);
                Some((Some(uri), Some(upload)))
            }
            DataPath::Datastore { datastore, path } => Some((
                Some(format!("azureml://datastores/{datastore}/paths/{path}")),
                None,
            )),
            DataPath::Uri(uri) => Some((Some(uri.clone()), None)),
            DataPath::Asset(reference) => Some((Some(reference.to_string()), None)),
        }
    }

    /// The upload of a local path to the default datastore, at a destination named by its
    /// digest so unchanged content lands in the same place.
    pub(super) fn upload(&mut self, path: &Path, written: &str) -> Option<Upload> {
        let Some(artifact) = self.artifact(path) else {
            self.errors.push(Diagnostic::error(format!(
                "internal: no digest was computed for {}",
                path.display()
            )));
            return None;
        };
        let base = Path::new(written.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .unwrap_or_else(|| {
                crate::manifest::normalize(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "content".into())
            });
        Some(Upload {
            source: written.to_owned(),
            local_path: crate::manifest::normalize(path),
            destination: format!(
                "azureml://datastores/workspaceblobstore/paths/LocalUpload/{}/{base}",
                &artifact.digest.hex[..32]
            ),
            digest: artifact.digest.hex.clone(),
            files: artifact.digest.files,
            bytes: artifact.digest.bytes,
            includes: Vec::new(),
        })
    }

    fn build_compute(&mut self, resource: &Resource, compute: &Compute) {
        let mut desired = Desired {
            address: resource.address.to_string(),
            kind: Kind::Compute,
            name: compute.name.value.clone(),
            version: None,
            path: format!("computes/{}", compute.name.value),
            api_version: api::COMPUTE,
            body: translate::compute(compute, self.input.location),
            source: Some(resource.origin.clone()),
            derived: false,
            depends_on: BTreeSet::new(),
            uploads: Vec::new(),
            versioning: Versioning::Single,
            sensitive: vec![
                "/properties/properties/userAccountCredentials/adminUserPassword",
                "/properties/properties/administratorAccount/password",
                "/properties/properties/administratorAccount/privateKeyData",
            ],
        };
        self.tag(&mut desired, "/tags");
        self.objects.push(desired);
    }

    fn build_job(&mut self, resource: &Resource, job: &Job) {
        let address = resource.address.to_string();
        let JobBody::Command(command) = &job.body else {
            return;
        };
        let mut depends = BTreeSet::new();
        let mut uploads = Vec::new();
        let before = self.errors.len();

        let environment_id = self.job_environment(
            &command.environment.value,
            &command.environment.loc,
            &address,
            &mut depends,
        );
        let code_id = command
            .code
            .as_ref()
            .and_then(|code| self.job_code(&code.value, &code.loc, &address, &mut depends));
        let compute_id = job
            .compute
            .as_ref()
            .and_then(|c| self.job_compute(&c.value, &c.loc, &address, &mut depends));
        let mut input_uris = BTreeMap::new();
        for (name, input) in &command.inputs {
            let JobInput::Data(data) = input else {
                continue;
            };
            let Some(path) = &data.path else { continue };
            let uri = match &path.value {
                DataPath::Local {
                    path: local,
                    written,
                } => self.upload(local, written).map(|upload| {
                    let uri = folder_uri(&upload.destination, data.input_type);
                    uploads.push(upload);
                    uri
                }),
                DataPath::Datastore { datastore, path } => {
                    Some(format!("azureml://datastores/{datastore}/paths/{path}"))
                }
                DataPath::Uri(uri) => Some(uri.clone()),
                DataPath::Asset(reference) => {
                    let kind = if data.input_type.ends_with("model") {
                        Kind::Component
                    } else {
                        Kind::Data
                    };
                    if kind == Kind::Data {
                        self.resolve_asset(Kind::Data, reference, &path.loc, &address)
                            .map(|r| {
                                depends.extend(r.depends_on);
                                r.id
                            })
                    } else {
                        Some(reference.to_string())
                    }
                }
            };
            if let Some(uri) = uri {
                input_uris.insert(name.clone(), uri);
            }
        }
        if self.errors.len() > before {
            return;
        }
        let mut resolved = ResolvedJob {
            name: String::new(),
            environment_id: environment_id.unwrap_or_default(),
            code_id,
            compute_id,
            input_uris,
            experiment_name: self.input.project.to_owned(),
        };
        // The specification hash covers everything the job runs with, before its name (and
        // the display name defaulting to it) is known.
        let spec = normalize::spec_hash(
            Kind::Job,
            &view(
                Kind::Job,
                &translate::command_job(job, &resolved),
                self.scope(),
            ),
        );
        let explicit_name = job.name.is_some();
        resolved.name = self.job_name(resource, job, &spec);
        let mut desired = Desired {
            address,
            kind: Kind::Job,
            name: resolved.name.clone(),
            version: None,
            path: format!("jobs/{}", resolved.name),
            api_version: api::COMMAND_JOB,
            body: translate::command_job(job, &resolved),
            source: Some(resource.origin.clone()),
            derived: false,
            depends_on: depends,
            uploads,
            versioning: Versioning::Job {
                spec: spec.clone(),
                explicit_name,
                rerun: job.rerun,
            },
            sensitive: Vec::new(),
        };
        self.tag(&mut desired, "/properties/tags");
        if self.input.options.ownership_tags
            && let Some(tags) = desired
                .body
                .pointer_mut("/properties/tags")
                .and_then(Value::as_object_mut)
        {
            tags.insert(tags::SPEC.into(), json!(spec));
        }
        self.objects.push(desired);
    }

    pub(super) fn job_environment(
        &mut self,
        source: &EnvSource,
        at: &Loc,
        address: &str,
        depends: &mut BTreeSet<String>,
    ) -> Option<String> {
        match source {
            EnvSource::Ref(reference) => {
                let resolved = self.resolve_asset(Kind::Environment, reference, at, address)?;
                depends.extend(resolved.depends_on);
                Some(resolved.id)
            }
            EnvSource::Inline(env) => match &env.name {
                None => {
                    let version = translate::anonymous_environment_version(
                        env,
                        self.build_hash(env).as_deref(),
                    );
                    let path = anonymous_environment_path(&version);
                    let derived_address = format!(
                        "environment.{}:{}",
                        translate::ANONYMOUS_ENVIRONMENT,
                        &version[..12]
                    );
                    if !self.objects.iter().any(|o| o.path == path) {
                        let (context, upload) = self.build_context(env, address)?;
                        self.objects.push(Desired {
                            address: derived_address.clone(),
                            kind: Kind::Environment,
                            name: translate::ANONYMOUS_ENVIRONMENT.into(),
                            version: Some(version),
                            path: path.clone(),
                            api_version: api::ENVIRONMENT,
                            body: translate::environment_version(env, context.as_deref()),
                            source: None,
                            derived: true,
                            depends_on: BTreeSet::new(),
                            uploads: upload.into_iter().collect(),
                            versioning: Versioning::Derived,
                            sensitive: Vec::new(),
                        });
                    }
                    depends.insert(derived_address);
                    Some(self.scope().resource_id(&path))
                }
                Some(name) => {
                    // An environment file referenced with `file:`: registered under its name.
                    let version = match &env.version {
                        VersionSpec::Exact(v) => v.value.clone(),
                        _ => {
                            self.errors.push(
                                Diagnostic::error(format!(
                                    "environment `{}` referenced by {address} needs a `version`",
                                    name.value
                                ))
                                .at(&name.loc),
                            );
                            return None;
                        }
                    };
                    let path = format!("environments/{}/versions/{version}", name.value);
                    let derived_address = format!("environment.{}:{version}", name.value);
                    if !self.objects.iter().any(|o| o.path == path) {
                        let (context, upload) = self.build_context(env, address)?;
                        let mut desired = Desired {
                            address: derived_address.clone(),
                            kind: Kind::Environment,
                            name: name.value.clone(),
                            version: Some(version),
                            path: path.clone(),
                            api_version: api::ENVIRONMENT,
                            body: translate::environment_version(env, context.as_deref()),
                            source: Some(name.loc.clone()),
                            derived: true,
                            depends_on: BTreeSet::new(),
                            uploads: upload.into_iter().collect(),
                            versioning: Versioning::Pinned,
                            sensitive: Vec::new(),
                        };
                        self.tag(&mut desired, "/properties/tags");
                        self.objects.push(desired);
                    }
                    depends.insert(derived_address);
                    Some(self.scope().resource_id(&path))
                }
            },
        }
    }

    pub(super) fn job_code(
        &mut self,
        source: &CodeSource,
        at: &Loc,
        address: &str,
        depends: &mut BTreeSet<String>,
    ) -> Option<String> {
        match source {
            CodeSource::Local { path, written } => {
                let artifact = self.artifact(path).cloned();
                let Some(artifact) = artifact else {
                    self.errors.push(
                        Diagnostic::error(format!(
                            "internal: no digest was computed for {}",
                            path.display()
                        ))
                        .at(at),
                    );
                    return None;
                };
                let sdk_hash = artifact.sdk_hash.clone().unwrap_or_default();
                if let Some(Some(existing)) = self.snapshot.code_by_hash.get(&sdk_hash) {
                    return Some(self.scope().resource_id(existing));
                }
                let name = uuid_from_digest(&artifact.digest.hex);
                let path_in_scope = format!("codes/{name}/versions/1");
                let derived_address = format!("code.{name}");
                if !self.objects.iter().any(|o| o.path == path_in_scope) {
                    let upload = self.upload(path, written)?;
                    self.objects.push(Desired {
                        address: derived_address.clone(),
                        kind: Kind::Code,
                        name: name.clone(),
                        version: Some("1".into()),
                        path: path_in_scope.clone(),
                        api_version: api::CODE,
                        body: translate::code_version(&upload.destination, &sdk_hash),
                        source: None,
                        derived: true,
                        depends_on: BTreeSet::new(),
                        uploads: vec![upload],
                        versioning: Versioning::Derived,
                        sensitive: Vec::new(),
                    });
                }
                depends.insert(derived_address);
                Some(self.scope().resource_id(&path_in_scope))
            }
            CodeSource::Asset(reference) => {
                let resolved = self.resolve_asset(Kind::Code, reference, at, address)?;
                depends.extend(resolved.depends_on);
                Some(resolved.id)
            }
            CodeSource::Uri(uri) => Some(uri.clone()),
        }
    }

    pub(super) fn job_compute(
        &mut self,
        written: &str,
        at: &Loc,
        address: &str,
        depends: &mut BTreeSet<String>,
    ) -> Option<String> {
        let name = compute_name(written)?;
        let declared = self
            .input
            .resources
            .iter()
            .find(|r| matches!(&r.spec, Spec::Compute(c) if c.name.value == name));
        if let Some(declared) = declared {
            depends.insert(declared.address.to_string());
        } else if self.snapshot.object(&format!("computes/{name}")).is_none() {
            self.errors.push(
                Diagnostic::error(format!(
                    "{address} runs on compute `{name}`, which is neither declared in the manifests nor present in the {}",
                    self.target_words()
                ))
                .at(at)
                .hint("declare it (a YAML file with `type: amlcompute`), or remove `compute:` to run serverless"),
            );
            return None;
        }
        Some(self.scope().resource_id(&format!("computes/{name}")))
    }

    pub(super) fn target_words(&self) -> String {
        match self.input.target_kind {
            "local" => "local workspace".into(),
            _ => self.input.scope.to_string(),
        }
    }

    /// Resolves an asset reference against the declarations, then live state.
    pub(super) fn resolve_asset(
        &mut self,
        kind: Kind,
        reference: &AssetRef,
        at: &Loc,
        from: &str,
    ) -> Option<Resolved> {
        let (name, selector) = match reference {
            AssetRef::Registry { text, .. } => {
                return Some(Resolved {
                    id: text.clone(),
                    depends_on: None,
                });
            }
            _ if reference.is_curated() => {
                return Some(Resolved {
                    id: reference.to_string(),
                    depends_on: None,
                });
            }
            AssetRef::ArmId { id, .. } if self.scope().relative(id).is_none() => {
                return Some(Resolved {
                    id: id.clone(),
                    depends_on: None,
                });
            }
            AssetRef::Workspace { name, version } | AssetRef::ArmId { name, version, .. } => {
                (name, version)
            }
        };
        let declared = self
            .settled
            .get(&(kind, name.clone()))
            .cloned()
            .unwrap_or_default();
        let live = self.snapshot.versions(kind, name);
        let found = match selector {
            VersionSel::Exact(version) => {
                if let Some(d) = declared.iter().find(|d| &d.version == version) {
                    Some((version.clone(), Some(d.address.clone())))
                } else if live
                    .iter()
                    .any(|v| super::snapshot::version_of(v) == Some(version))
                {
                    Some((version.clone(), None))
                } else {
                    None
                }
            }
            VersionSel::Label(label) if label == "latest" => {
                if let Some(d) = declared
                    .iter()
                    .max_by(|a, b| version_order(&a.version, &b.version))
                {
                    Some((d.version.clone(), Some(d.address.clone())))
                } else {
                    self.snapshot
                        .latest(kind, name)
                        .and_then(super::snapshot::version_of)
                        .map(|v| (v.to_owned(), None))
                }
            }
            VersionSel::Label(label) => {
                self.errors.push(
                    Diagnostic::error(format!("{from} refers to {kind} `{name}@{label}`: only the label `latest` is supported"))
                        .at(at),
                );
                return None;
            }
            VersionSel::Unspecified => {
                self.errors.push(
                    Diagnostic::error(format!(
                        "{from} refers to {kind} `{name}` without a version"
                    ))
                    .at(at)
                    .hint(format!(
                        "write `azureml:{name}:<version>` or `azureml:{name}@latest`"
                    )),
                );
                return None;
            }
        };
        match found {
            Some((version, depends_on)) => Some(Resolved {
                id: self
                    .scope()
                    .resource_id(&format!("{}/{name}/versions/{version}", kind.collection())),
                depends_on,
            }),
            None => {
                let mut diagnostic = Diagnostic::error(format!(
                    "{from} refers to {kind} `{}`, which is neither declared in the manifests nor present in the {}",
                    reference_text(name, selector),
                    self.target_words()
                ))
                .at(at);
                let mut known: Vec<String> = declared.iter().map(|d| d.version.clone()).collect();
                known.extend(
                    live.iter()
                        .filter_map(super::snapshot::version_of)
                        .map(str::to_owned),
                );
                known.sort_by(version_order);
                known.dedup();
                if !known.is_empty() {
                    diagnostic = diagnostic
                        .hint(format!("known versions of `{name}`: {}", known.join(", ")));
                }
                if let Some(declaration) = self
                    .input
                    .resources
                    .iter()
                    .find(|r| r.address.kind == kind && r.address.name == *name)
                {
                    diagnostic = diagnostic.related(
                        format!("{} is declared", declaration.address),
                        &declaration.origin,
                    );
                }
                self.errors.push(diagnostic);
                None
            }
        }
    }

    /// Adds ownership tags at `pointer` (a map of tags) when asked to.
    pub(super) fn tag(&self, desired: &mut Desired, pointer: &str) {
        if !self.input.options.ownership_tags {
            return;
        }
        ensure_map(&mut desired.body, pointer);
        if let Some(tags) = desired
            .body
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
        {
            tags.insert(tags::PROJECT.into(), json!(self.input.project));
            tags.insert(tags::ADDRESS.into(), json!(desired.address));
        }
        if desired.kind != Kind::Job {
            let spec = normalize::spec_hash(
                desired.kind,
                &view(desired.kind, &desired.body, self.input.scope),
            );
            if let Some(tags) = desired
                .body
                .pointer_mut(pointer)
                .and_then(Value::as_object_mut)
            {
                tags.insert(tags::SPEC.into(), json!(spec));
            }
        }
    }

    // 5. Comparison.

    fn compare(&self) -> Vec<Change> {
        self.objects
            .iter()
            .map(|desired| {
                let mut change = self.compare_one(desired);
                // Content is uploaded for what is created from it; a version that exists
                // (restored, retagged, unchanged) already points at its stored copy.
                if !matches!(
                    change.action,
                    Action::Create | Action::NewVersion | Action::Submit | Action::Replace
                ) {
                    change.uploads.clear();
                }
                change
            })
            .collect()
    }

    fn compare_one(&self, desired: &Desired) -> Change {
        let scope = self.scope();
        let live = match desired.kind {
            Kind::Data | Kind::Environment | Kind::Component
                if !desired.derived || desired.name != translate::ANONYMOUS_ENVIRONMENT =>
            {
                self.snapshot
                    .version(
                        desired.kind,
                        &desired.name,
                        desired.version.as_deref().unwrap_or_default(),
                    )
                    .or_else(|| self.snapshot.object(&desired.path))
            }
            _ => self.snapshot.object(&desired.path),
        };
        let mut change = self.change_skeleton(desired);
        change.applied_spec = live
            .and_then(|l| super::snapshot::tag(desired.kind, l, tags::SPEC))
            .map(str::to_owned);
        change.live_fingerprint = Some(match live {
            Some(live) => fingerprint(&view(desired.kind, live, scope)),
            None => "absent".into(),
        });
        let desired_view = view(desired.kind, &desired.body, scope);
        if let Versioning::Job {
            rerun: Rerun::Never,
            ..
        } = &desired.versioning
            && let Some(last) = self.last_job_of(&desired.address)
        {
            return self.kept_job(desired, last, change);
        }
        let Some(live) = live else {
            change.action = match (&desired.versioning, desired.kind) {
                (Versioning::Job { .. }, _) => Action::Submit,
                (_, kind)
                    if kind.is_versioned()
                        && !self.snapshot.versions(kind, &desired.name).is_empty()
                        && !desired.derived =>
                {
                    Action::NewVersion
                }
                _ => Action::Create,
            };
            if change.action == Action::NewVersion
                && let Some(owner) = self
                    .snapshot
                    .newest_version(desired.kind, &desired.name)
                    .and_then(|newest| self.foreign_owner(desired.kind, newest))
            {
                change.action = Action::Conflict;
                change.reason = Some(format!(
                    "{} `{}` belongs to another amlops project, `{owner}`: a new version would be added to its asset",
                    desired.kind, desired.name
                ));
                change.hint = Some(format!(
                    "give this asset another name, or declare it in one project only; if this directory is `{owner}` under a new name, set `project \"{owner}\"` in amlops.kdl"
                ));
                return change;
            }
            change.reason = match change.action {
                Action::NewVersion => Some(match &desired.versioning {
                    Versioning::Chosen { .. } => {
                        "the content differs from the latest version".into()
                    }
                    _ => "this version does not exist yet".into(),
                }),
                _ => None,
            };
            let empty = Value::Object(Map::new());
            change.fields = without_own_tags(normalize::field_changes(
                desired.kind,
                &desired_view,
                &empty,
            ));
            if change.action == Action::Submit {
                self.explain_submission(desired, &desired_view, &mut change);
            }
            self.requests_for_create(desired, &mut change);
            return change;
        };
        if let Versioning::Job {
            spec,
            explicit_name,
            ..
        } = &desired.versioning
        {
            return self.compare_job(desired, live, spec, *explicit_name, change);
        }
        let live_view = view(desired.kind, live, scope);
        let fields = normalize::field_changes(desired.kind, &desired_view, &live_view);
        change.fields = without_own_tags(fields);
        if desired.kind == Kind::Compute && self.only_patched_record(desired, live, &change.fields)
        {
            change.fields.clear();
        }
        if desired.kind == Kind::Compute && provisioning_failed(live) {
            return self.recreate_failed(desired, change);
        }
        if change.fields.is_empty() {
            change.action = Action::NoOp;
            return change;
        }
        if let Some(owner) = self.foreign_owner(desired.kind, live) {
            change.action = Action::Conflict;
            change.reason = Some(format!(
                "it belongs to another amlops project, `{owner}`, which declares it as {}",
                super::snapshot::tag(desired.kind, live, tags::ADDRESS).unwrap_or("(unknown)")
            ));
            change.hint = Some(format!(
                "declare it in one project only; if this directory is `{owner}` under a new name, set `project \"{owner}\"` in amlops.kdl"
            ));
            return change;
        }
        let replace: Vec<&FieldChange> = change
            .fields
            .iter()
            .filter(|f| normalize::mutability(desired.kind, &f.path) == Mutability::Replace)
            .collect();
        if desired.kind.is_versioned() {
            if !replace.is_empty() {
                let names: Vec<&str> = replace.iter().map(|f| f.path.as_str()).collect();
                change.action = Action::Conflict;
                change.reason = Some(format!(
                    "version {} already exists with different {}: asset versions are immutable",
                    desired.version.as_deref().unwrap_or_default(),
                    names.join(", ")
                ));
                let next = self.snapshot.next_version(desired.kind, &desired.name);
                change.hint = Some(format!(
                    "set `version: {next}` (the next free version), or use `version: auto`"
                ));
                return change;
            }
            let restoring = change.fields.iter().any(|f| f.path == "archived");
            change.action = if restoring {
                Action::Restore
            } else {
                Action::Update
            };
            change.reason = Some(if restoring {
                "the version is archived".into()
            } else {
                "only tags or description changed".into()
            });
            let body = merge_foreign_tags(&desired.body, live, "/properties/tags");
            change
                .requests
                .push(self.request("PUT", desired, Some(body)));
            return change;
        }
        // Computes.
        if !replace.is_empty() {
            change.action = Action::Replace;
            let names: Vec<&str> = replace.iter().map(|f| f.path.as_str()).collect();
            change.reason = Some(format!("{} cannot change in place", names.join(", ")));
            let mut delete = self.request("DELETE", desired, None);
            delete.path.push_str("?underlyingResourceAction=Delete");
            change.requests.push(delete);
            // The new compute keeps the tags others set on the old one.
            let body = merge_foreign_tags(&desired.body, live, "/tags");
            change
                .requests
                .push(self.request("PUT", desired, Some(body)));
            return change;
        }
        change.action = Action::Update;
        let scaled = change
            .fields
            .iter()
            .any(|f| normalize::mutability(desired.kind, &f.path) == Mutability::Patch);
        let retagged = change.fields.iter().any(|f| f.path.starts_with("tags."));
        let mut reasons = Vec::new();
        if scaled {
            reasons.push("scale settings change in place");
        }
        if retagged {
            reasons.push("tags change in place");
        }
        if change.fields.iter().any(|f| f.path == "description") {
            // The contract changes a compute's description in place only by a PUT of the
            // whole compute, which Azure takes as an update when nothing else changed.
            reasons.insert(0, "its description changes in place");
            change.reason = Some(reasons.join("; "));
            let body = merge_foreign_tags(&desired.body, live, "/tags");
            change
                .requests
                .push(self.request("PUT", desired, Some(body)));
            return change;
        }
        if scaled {
            let scale = desired
                .body
                .pointer("/properties/properties/scaleSettings")
                .cloned()
                .unwrap_or(Value::Null);
            let patch = json!({"properties": {"properties": {"scaleSettings": scale}}});
            change
                .requests
                .push(self.request("PATCH", desired, Some(patch)));
        }
        // The scale PATCH cannot carry tags, and a PUT would send the whole compute again:
        // ARM's Tags API merges the manifests' tags (amlops' own among them, recording the
        // specification now applied) and keeps the tags others set.
        if let Some(tags) = desired
            .body
            .pointer("/tags")
            .and_then(Value::as_object)
            .filter(|t| !t.is_empty())
        {
            change.requests.push(Request {
                method: "PATCH".into(),
                path: format!(
                    "{}{}",
                    self.scope().resource_id(&desired.path),
                    api::TAGS_SUFFIX
                ),
                api_version: api::TAGS.into(),
                body: Some(json!({"operation": "Merge", "properties": {"tags": tags}})),
                secret_body: None,
            });
        }
        change.reason = Some(reasons.join("; "));
        change
    }

    /// A compute whose creation failed holds no nodes and runs nothing: it is deleted and
    /// created again (a replacement, so apply still asks for `--allow-replace`).
    fn recreate_failed(&self, desired: &Desired, mut change: Change) -> Change {
        change.action = Action::Replace;
        change.reason = Some("its last provisioning failed: delete it and create it again".into());
        let mut delete = self.request("DELETE", desired, None);
        delete.path.push_str("?underlyingResourceAction=Delete");
        change.requests.push(delete);
        change
            .requests
            .push(self.request("PUT", desired, Some(desired.body.clone())));
        change
    }

    /// Whether the only difference is the `amlops.spec` tag of a compute amlops owns: a
    /// scale-settings PATCH cannot carry tags (the contract's PATCH body has only
    /// `scaleSettings`), so after one the recorded specification is older than the compute,
    /// whose fields all match the manifests.
    fn only_patched_record(&self, desired: &Desired, live: &Value, fields: &[FieldChange]) -> bool {
        let owned = |key: &str, wanted: &str| {
            live.pointer(&format!("/tags/{key}"))
                .and_then(Value::as_str)
                == Some(wanted)
        };
        matches!(fields, [only] if only.path == format!("tags.{}", tags::SPEC))
            && owned(tags::PROJECT, self.input.project)
            && owned(tags::ADDRESS, &desired.address)
    }

    /// The other amlops project that owns `live`, when one does: writing to it would take
    /// it over, so the plan refuses instead.
    fn foreign_owner<'v>(&self, kind: Kind, live: &'v Value) -> Option<&'v str> {
        if !self.input.options.ownership_tags {
            return None;
        }
        let owner = super::snapshot::tag(kind, live, tags::PROJECT)?;
        (owner != self.input.project).then_some(owner)
    }

    fn compare_job(
        &self,
        desired: &Desired,
        live: &Value,
        spec: &str,
        explicit_name: bool,
        mut change: Change,
    ) -> Change {
        let live_spec = live
            .pointer(&format!(
                "/properties/tags/{}",
                tags::SPEC.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str);
        change.status = live
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if live_spec == Some(spec) || (!self.input.options.ownership_tags && !explicit_name) {
            change.action = Action::NoOp;
            change.reason = Some("a job with this specification already ran".into());
            return change;
        }
        let live_view = view(Kind::Job, live, self.scope());
        let desired_view = view(Kind::Job, &desired.body, self.scope());
        change.fields = normalize::field_changes(Kind::Job, &desired_view, &live_view)
            .into_iter()
            .filter(|f| !f.path.starts_with(&format!("tags.{}", tags::PREFIX)))
            .collect();
        change.action = Action::Conflict;
        change.reason = Some(format!(
            "job name `{}` is taken by a job with a different specification",
            desired.name
        ));
        change.hint = Some(if explicit_name {
            "rename the job, or remove `name:` so amlops names each specification itself".into()
        } else {
            "another job already uses this derived name; set `name:` explicitly".into()
        });
        change
    }

    /// Says what changed since the last job of the same address, when one ran: the plan
    /// then shows only the fields that differ.
    fn explain_submission(&self, desired: &Desired, desired_view: &Value, change: &mut Change) {
        let always = matches!(
            desired.versioning,
            Versioning::Job {
                rerun: Rerun::Always,
                ..
            }
        );
        let Some(previous) = self.last_job_of(&desired.address) else {
            change.reason = Some(if always {
                "rerun: always; no job has run for it yet".into()
            } else {
                "no job has run with this specification".into()
            });
            return;
        };
        let previous_name = previous
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let previous_view = view(Kind::Job, previous, self.scope());
        let fields: Vec<FieldChange> =
            normalize::field_changes(Kind::Job, desired_view, &previous_view)
                .into_iter()
                .filter(|f| {
                    !f.path.starts_with(&format!("tags.{}", tags::PREFIX))
                        && f.path != "display_name"
                })
                .collect();
        let names: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        change.recurring = always && names.is_empty();
        change.reason = Some(match (always, names.is_empty()) {
            (true, true) => format!("rerun: always; unchanged since {previous_name}"),
            (true, false) => format!(
                "rerun: always; changed since {previous_name}: {}",
                names.join(", ")
            ),
            (false, _) => format!("changed since {previous_name}: {}", names.join(", ")),
        });
        change.fields = fields;
    }

    /// The jobs this project submitted for `address` (another project may use the same
    /// address in the same workspace).
    fn jobs_of(&self, address: &str) -> impl Iterator<Item = &'a Value> {
        let project = self.input.project;
        self.snapshot
            .jobs_of(address)
            .iter()
            .filter(move |j| super::snapshot::tag(Kind::Job, j, tags::PROJECT) == Some(project))
    }

    /// The newest job this project submitted for `address`, by creation time.
    fn last_job_of(&self, address: &str) -> Option<&'a Value> {
        self.jobs_of(address).max_by_key(|j| {
            j.pointer("/systemData/createdAt")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// A `rerun: never` job that already ran: nothing is submitted, whatever changed.
    fn kept_job(&self, desired: &Desired, last: &Value, mut change: Change) -> Change {
        let last_name = last.get("name").and_then(Value::as_str).unwrap_or_default();
        let last_spec = super::snapshot::tag(Kind::Job, last, tags::SPEC);
        change.action = Action::NoOp;
        change.status = last
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let changed = match (&desired.versioning, last_spec) {
            (Versioning::Job { spec, .. }, Some(ran)) => spec != ran,
            _ => last_name != desired.name,
        };
        change.reason = Some(if changed {
            format!("rerun: never; {last_name} ran, {UNSUBMITTED}")
        } else {
            format!("rerun: never; {last_name} ran")
        });
        change
    }

    /// The name a job is submitted under: the manifest's, or one derived from the address
    /// and the specification's hash, with a run number for `rerun: always`.
    pub(super) fn job_name(&self, resource: &Resource, job: &Job, spec: &str) -> String {
        if let Some(name) = &job.name {
            return name.value.clone();
        }
        let base = format!("{}-{}", job_slug(&resource.address.name), &spec[..10]);
        if job.rerun != Rerun::Always {
            return base;
        }
        let address = resource.address.to_string();
        let runs = self.jobs_of(&address).count();
        let taken: BTreeSet<&str> = self
            .snapshot
            .jobs_of(&address)
            .iter()
            .filter_map(|j| j.get("name").and_then(Value::as_str))
            .collect();
        (runs + 1..)
            .map(|run| format!("{base}-{run}"))
            .find(|name| !taken.contains(name.as_str()))
            .unwrap_or(base)
    }

    fn change_skeleton(&self, desired: &Desired) -> Change {
        Change {
            address: desired.address.clone(),
            kind: desired.kind,
            name: desired.name.clone(),
            version: desired.version.clone(),
            action: Action::NoOp,
            reason: None,
            source: desired
                .source
                .as_ref()
                .map(|l| format!("{}:{}", l.file.display, l.line)),
            derived: desired.derived,
            depends_on: desired.depends_on.iter().cloned().collect(),
            fields: Vec::new(),
            requests: Vec::new(),
            uploads: desired.uploads.clone(),
            hint: None,
            status: None,
            desired_spec: super::snapshot::tag(desired.kind, &desired.body, tags::SPEC)
                .map(str::to_owned),
            applied_spec: None,
            recurring: false,
            live_fingerprint: None,
        }
    }

    fn requests_for_create(&self, desired: &Desired, change: &mut Change) {
        change
            .requests
            .push(self.request("PUT", desired, Some(desired.body.clone())));
        for field in &mut change.fields {
            if desired
                .sensitive
                .iter()
                .any(|p| pointer_matches_view(p, &field.path))
            {
                field.after = Some(json!(SENSITIVE));
            }
        }
    }

    fn request(&self, method: &str, desired: &Desired, body: Option<Value>) -> Request {
        let shown = body.as_ref().map(|b| redact(b, &desired.sensitive));
        let secret = body.filter(|b| Some(b) != shown.as_ref());
        Request {
            method: method.into(),
            path: self.scope().resource_id(&desired.path),
            api_version: desired.api_version.into(),
            body: shown,
            secret_body: secret,
        }
    }
}

impl Job {
    fn body_code(&self) -> Option<&crate::diag::Located<CodeSource>> {
        match &self.body {
            JobBody::Command(command) => command.code.as_ref(),
            _ => None,
        }
    }
}

/// The kind, name and version of a declared (named) asset.
fn declared_asset(resource: &Resource) -> Option<(Kind, &str, &VersionSpec)> {
    match &resource.spec {
        Spec::Data(data) => Some((Kind::Data, &data.name.value, &data.version)),
        Spec::Environment(env) => env
            .name
            .as_ref()
            .map(|name| (Kind::Environment, name.value.as_str(), &env.version)),
        Spec::Component(component) => component
            .name
            .as_ref()
            .map(|name| (Kind::Component, name.value.as_str(), &component.version)),
        _ => None,
    }
}

pub(super) struct Resolved {
    pub(super) id: String,
    /// The address of the declared resource it resolves to, if declared.
    pub(super) depends_on: Option<String>,
}

pub(super) fn reference_queries(kind: Kind, reference: &AssetRef, wanted: &mut BTreeSet<Query>) {
    match reference {
        AssetRef::Workspace { name, .. } if !reference.is_curated() => {
            wanted.insert(Query::Versions {
                kind,
                name: name.clone(),
            });
        }
        AssetRef::ArmId { name, .. } => {
            wanted.insert(Query::Versions {
                kind,
                name: name.clone(),
            });
        }
        _ => {}
    }
}

fn reference_text(name: &str, selector: &VersionSel) -> String {
    match selector {
        VersionSel::Exact(v) => format!("{name}:{v}"),
        VersionSel::Label(l) => format!("{name}@{l}"),
        VersionSel::Unspecified => name.to_owned(),
    }
}

/// Orders versions numerically when both are numbers, else as text.
fn version_order(a: &String, b: &String) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// `azureml:cpu` and `cpu` name a compute; `serverless` (or nothing) means serverless.
pub(super) fn compute_name(written: &str) -> Option<&str> {
    let name = written.strip_prefix("azureml:").unwrap_or(written).trim();
    if name.is_empty() || name.eq_ignore_ascii_case("serverless") || name.starts_with("${{") {
        None
    } else {
        Some(name)
    }
}

pub(super) fn anonymous_environment_path(version: &str) -> String {
    format!(
        "environments/{}/versions/{version}",
        translate::ANONYMOUS_ENVIRONMENT
    )
}

/// A lowercase name part for derived job names.
pub(super) fn job_slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        "job".into()
    } else {
        slug.chars().take(40).collect()
    }
}

/// A UUID-shaped name from a digest, for code snapshots (the SDK names them with UUIDs).
pub(super) fn uuid_from_digest(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The version `version: auto` gives: a short hash of the content (without the fields that
/// may change in place, so a new tag never makes a new version).
fn content_version(kind: Kind, body: &Value, scope: &Scope) -> String {
    let content = content_view(kind, body, scope);
    let text = serde_json::to_string(&content).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_owned()
}

fn content_view(kind: Kind, body: &Value, scope: &Scope) -> Value {
    let mut v = view(kind, body, scope);
    if let Some(map) = v.as_object_mut() {
        map.remove("description");
        map.remove("tags");
        map.remove("archived");
    }
    v
}

/// Whether a live version holds the desired content, with the noise rules of
/// [`normalize`] (a live version carries server-added properties and relocated uploads).
fn same_content(kind: Kind, desired: &Value, live: &Value, scope: &Scope) -> bool {
    normalize::same_view(
        kind,
        &content_view(kind, desired, scope),
        &content_view(kind, live, scope),
    )
}

pub(super) fn ensure_map(body: &mut Value, pointer: &str) {
    let mut current = body;
    for key in pointer.trim_start_matches('/').split('/') {
        let Some(map) = current.as_object_mut() else {
            return;
        };
        current = map
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
    }
}

/// The desired body with the live object's tags that the manifest does not declare, so an
/// update never removes tags others set.
fn merge_foreign_tags(desired: &Value, live: &Value, pointer: &str) -> Value {
    let mut body = desired.clone();
    let Some(live_tags) = live.pointer(pointer).and_then(Value::as_object) else {
        return body;
    };
    ensure_map(&mut body, pointer);
    if let Some(tags) = body.pointer_mut(pointer).and_then(Value::as_object_mut) {
        for (key, value) in live_tags {
            tags.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    body
}

fn redact(body: &Value, sensitive: &[&str]) -> Value {
    let mut shown = body.clone();
    for pointer in sensitive {
        if let Some(value) = shown.pointer_mut(pointer) {
            *value = json!(SENSITIVE);
        }
    }
    shown
}

/// Whether a view path shows the secret at a body pointer.
fn pointer_matches_view(pointer: &str, view_path: &str) -> bool {
    (pointer.ends_with("adminUserPassword") || pointer.ends_with("/password"))
        && view_path.ends_with("admin_password")
}

/// A job input's upload destination as the SDK writes it: a folder (`uri_folder`) ends with
/// `/`, anything else names the file or folder itself.
pub(super) fn folder_uri(destination: &str, input_type: &str) -> String {
    if input_type == "uri_folder" && !destination.ends_with('/') {
        format!("{destination}/")
    } else {
        destination.to_owned()
    }
}

/// Names the jobs running on a compute that a replacement would delete under them.
fn blast_radius(change: &mut Change, scope: &Scope, snapshot: &Snapshot) {
    let id = scope.resource_id(&format!("computes/{}", change.name));
    let running: Vec<&str> = snapshot
        .active_jobs
        .iter()
        .filter(|j| {
            j.pointer("/properties/computeId")
                .and_then(Value::as_str)
                .is_some_and(|c| c.eq_ignore_ascii_case(&id))
        })
        .filter_map(|j| j.get("name").and_then(Value::as_str))
        .collect();
    let warning = if running.is_empty() {
        "replacing deletes the compute and creates it again: pass --allow-replace to apply"
            .to_owned()
    } else {
        format!(
            "replacing deletes the compute under {} running job{} ({}): pass --allow-replace to apply",
            running.len(),
            if running.len() == 1 { "" } else { "s" },
            running.join(", ")
        )
    };
    change.hint = Some(warning);
}

/// Whether a compute's provisioning ended `Failed`.
fn provisioning_failed(live: &Value) -> bool {
    live.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .is_some_and(|state| state.eq_ignore_ascii_case("Failed"))
}

/// A short hash of a view, to notice later that an object changed.
pub(crate) fn fingerprint(view: &Value) -> String {
    let text = serde_json::to_string(view).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_owned()
}

/// Field changes without amlops' own tags, which only matter when nothing else differs (a
/// resource that amlops adopts).
fn without_own_tags(fields: Vec<FieldChange>) -> Vec<FieldChange> {
    let own = |f: &FieldChange| f.path.starts_with(&format!("tags.{}", tags::PREFIX));
    if fields.iter().all(own) {
        return fields;
    }
    fields.into_iter().filter(|f| !own(f)).collect()
}

/// Orders changes so every change comes after what it depends on; ties keep a stable order
/// (computes, code, data, environments, components, jobs; then by address).
fn order(changes: Vec<Change>) -> Result<Vec<Change>, Diagnostic> {
    let index: BTreeMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.as_str(), i))
        .collect();
    let mut pending: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, change) in changes.iter().enumerate() {
        let deps = change
            .depends_on
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        pending.insert(i, deps);
    }
    let key = |i: usize| (changes[i].kind, changes[i].address.clone());
    let mut sorted = Vec::with_capacity(changes.len());
    let mut done = BTreeSet::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| done.contains(d)))
            .map(|(i, _)| *i)
            .min_by_key(|i| key(*i));
        let Some(next) = ready else {
            let stuck: Vec<&str> = pending
                .keys()
                .map(|i| changes[*i].address.as_str())
                .collect();
            let first = changes[*pending.keys().next().expect("non-empty")].clone();
            let ends = first
                .depends_on
                .iter()
                .find(|d| stuck.contains(&d.as_str()))
                .cloned()
                .unwrap_or_default();
            return Err(Diagnostic::error(format!(
                "dependency cycle between {} and {ends}: {}",
                first.address,
                stuck.join(" → ")
            )));
        };
        pending.remove(&next);
        done.insert(next);
        sorted.push(next);
    }
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    Ok(sorted.into_iter().filter_map(|i| slots[i].take()).collect())
}

#[cfg(test)]
mod tests;
