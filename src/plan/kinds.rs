//! Planning components, sweep jobs and pipeline jobs.
//!
//! Their bodies come from [`crate::translate`], which asks a [`Resolve`] for every reference
//! it meets. The [`Resolver`] here answers from the declarations and the snapshot, creating
//! on the way the objects a body needs: code snapshots, anonymous environments, and the
//! anonymous components of pipeline nodes, each versioned by the SDK's hash of its
//! specification. Each answer records what the object being built depends on.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use std::path::{Path, PathBuf};

use super::Upload;
use super::build::{
    Builder, Desired, Versioning, anonymous_environment_path, compute_name, folder_uri,
    reference_queries, uuid_from_digest,
};
use super::normalize;
use super::snapshot::Query;
use super::tags;
use super::view::view;
use crate::diag::Located;
use crate::model::walk::{self, LocalPath, LocalUse, Reference, Visitor, snapshot_key};
use crate::model::{
    CodeSource, Component, ComponentUse, DataInput, DataPath, EnvSource, Environment, Job, JobBody,
    Kind, Resource, Spec,
};
use crate::translate::component::{self as component_translate, ANONYMOUS_COMPONENT};
use crate::translate::{self, Resolve, api};

/// What one object being built depends on and uploads.
#[derive(Default)]
struct Frame {
    depends: BTreeSet<String>,
    uploads: Vec<Upload>,
}

/// Answers a translation's questions for the resource at `address`.
pub(super) struct Resolver<'b, 'a> {
    builder: &'b mut Builder<'a>,
    address: String,
    /// The innermost frame belongs to the component being translated.
    frames: Vec<Frame>,
}

impl<'b, 'a> Resolver<'b, 'a> {
    fn new(builder: &'b mut Builder<'a>, address: String) -> Self {
        Self {
            builder,
            address,
            frames: vec![Frame::default()],
        }
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a frame")
    }

    fn finish(mut self) -> Frame {
        self.frames.pop().unwrap_or_default()
    }
}

impl Resolve for Resolver<'_, '_> {
    fn code(&mut self, code: &Located<CodeSource>, includes: &[PathBuf]) -> Option<String> {
        if !includes.is_empty()
            && let CodeSource::Local { path, written } = &code.value
        {
            return self.code_with_includes(path, written, includes);
        }
        let mut depends = BTreeSet::new();
        let id = self
            .builder
            .job_code(&code.value, &code.loc, &self.address.clone(), &mut depends);
        self.frame().depends.extend(depends);
        id
    }

    fn environment(&mut self, environment: &Located<EnvSource>) -> Option<String> {
        let mut depends = BTreeSet::new();
        let id = self.builder.job_environment(
            &environment.value,
            &environment.loc,
            &self.address.clone(),
            &mut depends,
        );
        self.frame().depends.extend(depends);
        id
    }

    fn compute(&mut self, compute: &Located<String>) -> Option<String> {
        let written = compute.value.trim();
        if written.starts_with("${{") {
            return Some(written.to_owned());
        }
        let name = written.strip_prefix("azureml:").unwrap_or(written);
        if name.eq_ignore_ascii_case("serverless") {
            return Some(self.builder.scope().resource_id("computes/serverless"));
        }
        compute_name(written)?;
        let mut depends = BTreeSet::new();
        let id =
            self.builder
                .job_compute(written, &compute.loc, &self.address.clone(), &mut depends);
        self.frame().depends.extend(depends);
        id
    }

    fn data_input(&mut self, input: &DataInput) -> Option<String> {
        let path = input.path.as_ref()?;
        match &path.value {
            DataPath::Local {
                path: local,
                written,
            } => {
                let upload = self.builder.upload(local, written)?;
                let uri = folder_uri(&upload.destination, input.input_type);
                self.frame().uploads.push(upload);
                Some(uri)
            }
            DataPath::Datastore { datastore, path } => {
                Some(format!("azureml://datastores/{datastore}/paths/{path}"))
            }
            DataPath::Uri(uri) => Some(uri.clone()),
            DataPath::Asset(reference) if input.input_type.ends_with("model") => {
                Some(reference.to_string())
            }
            DataPath::Asset(reference) => {
                let resolved = self.builder.resolve_asset(
                    Kind::Data,
                    reference,
                    &path.loc,
                    &self.address.clone(),
                )?;
                self.frame().depends.extend(resolved.depends_on);
                Some(resolved.id)
            }
        }
    }

    fn component(&mut self, usage: &ComponentUse) -> Option<String> {
        match usage {
            ComponentUse::Registered(reference) => {
                let resolved = self.builder.resolve_asset(
                    Kind::Component,
                    &reference.value,
                    &reference.loc,
                    &self.address.clone(),
                )?;
                self.frame().depends.extend(resolved.depends_on);
                Some(resolved.id)
            }
            ComponentUse::Defined(component) => self.anonymous_component(component),
        }
    }

    fn datastore(&mut self, datastore: &Located<String>) -> String {
        let name = datastore.value.trim();
        let name = name.strip_prefix("azureml:").unwrap_or(name);
        self.builder
            .scope()
            .resource_id(&format!("datastores/{name}"))
    }
}

impl Resolver<'_, '_> {
    /// A code snapshot of a folder with `additional_includes` merged in: named, like any code
    /// snapshot, by its content, and uploaded with the includes beside the folder's files.
    fn code_with_includes(
        &mut self,
        path: &Path,
        written: &str,
        includes: &[PathBuf],
    ) -> Option<String> {
        let folder = crate::manifest::normalize(path);
        let key = snapshot_key(&folder, includes);
        let Some(artifact) = self.builder.artifact(&key).cloned() else {
            self.builder
                .errors
                .push(crate::diag::Diagnostic::error(format!(
                    "internal: no digest was computed for {} with its additional includes",
                    folder.display()
                )));
            return None;
        };
        let sdk_hash = artifact.sdk_hash.clone().unwrap_or_default();
        if let Some(Some(existing)) = self.builder.snapshot.code_by_hash.get(&sdk_hash) {
            return Some(self.builder.scope().resource_id(existing));
        }
        let name = uuid_from_digest(&artifact.digest.hex);
        let path_in_scope = format!("codes/{name}/versions/1");
        let address = format!("code.{name}");
        if !self.builder.objects.iter().any(|o| o.path == path_in_scope) {
            let base = folder
                .file_name()
                .map_or_else(|| "code".into(), |n| n.to_string_lossy().into_owned());
            let upload = Upload {
                source: written.to_owned(),
                local_path: folder.clone(),
                destination: format!(
                    "azureml://datastores/workspaceblobstore/paths/LocalUpload/{}/{base}",
                    &artifact.digest.hex[..32]
                ),
                digest: artifact.digest.hex.clone(),
                files: artifact.digest.files,
                bytes: artifact.digest.bytes,
                includes: includes.to_vec(),
            };
            self.builder.objects.push(Desired {
                address: address.clone(),
                kind: Kind::Code,
                name,
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
        self.frame().depends.insert(address);
        Some(self.builder.scope().resource_id(&path_in_scope))
    }

    /// Registers a component defined with a job as the SDK does: named `azureml_anonymous`,
    /// versioned by the hash of its specification.
    fn anonymous_component(&mut self, component: &Component) -> Option<String> {
        self.frames.push(Frame::default());
        let spec = component_translate::component_spec(component, self);
        let frame = self.frames.pop().unwrap_or_default();
        let version = component_translate::anonymous_version(&spec);
        let path = format!("components/{ANONYMOUS_COMPONENT}/versions/{version}");
        let address = format!("component.{ANONYMOUS_COMPONENT}:{}", &version[..8]);
        if !self.builder.objects.iter().any(|o| o.path == path) {
            self.builder.objects.push(Desired {
                address: address.clone(),
                kind: Kind::Component,
                name: ANONYMOUS_COMPONENT.into(),
                version: Some(version),
                path: path.clone(),
                api_version: api::COMPONENT,
                body: component_translate::component_version(component, &spec),
                source: Some(component.loc.clone()),
                derived: true,
                depends_on: frame.depends,
                uploads: frame.uploads,
                versioning: Versioning::Derived,
                sensitive: Vec::new(),
            });
        }
        self.frame().depends.insert(address);
        Some(self.builder.scope().resource_id(&path))
    }
}

/// Collects the questions a nested resource raises.
struct Questions<'q, 'b, 'a> {
    builder: &'q Builder<'a>,
    wanted: &'b mut BTreeSet<Query>,
}

impl<'r> Visitor<'r> for Questions<'_, '_, '_> {
    fn reference(&mut self, reference: Reference<'r>) {
        reference_queries(reference.kind, reference.asset, self.wanted);
    }

    fn local(&mut self, local: LocalPath<'r>) {
        if local.purpose == LocalUse::Snapshot
            && let Some(hash) = self
                .builder
                .artifact(&local.key())
                .and_then(|a| a.sdk_hash.clone())
        {
            self.wanted.insert(Query::CodeByHash(hash));
        }
    }

    fn compute(&mut self, compute: &'r Located<String>) {
        if let Some(name) = compute_name(&compute.value) {
            self.wanted.insert(Query::Get(format!("computes/{name}")));
        }
    }

    fn environment(&mut self, environment: &'r Environment) {
        match &environment.name {
            Some(name) => {
                self.wanted.insert(Query::Versions {
                    kind: Kind::Environment,
                    name: name.value.clone(),
                });
            }
            None => {
                let version = translate::anonymous_environment_version(
                    environment,
                    self.builder.build_hash(environment).as_deref(),
                );
                self.wanted
                    .insert(Query::Get(anonymous_environment_path(&version)));
            }
        }
    }
}

impl<'a> Builder<'a> {
    /// The questions of a component, a sweep job or a pipeline job.
    pub(super) fn nested_queries(&self, resource: &Resource, wanted: &mut BTreeSet<Query>) {
        if let Spec::Component(component) = &resource.spec
            && let Some(name) = &component.name
        {
            wanted.insert(Query::Versions {
                kind: Kind::Component,
                name: name.value.clone(),
            });
        }
        let mut questions = Questions {
            builder: self,
            wanted,
        };
        walk::walk(resource, &mut questions);
    }

    /// The body of a registered component's version.
    pub(super) fn registered_component_body(
        &mut self,
        resource: &Resource,
        component: &Component,
        into: Option<&mut Desired>,
    ) -> Option<Value> {
        let before = self.errors.len();
        let mut resolver = Resolver::new(self, resource.address.to_string());
        let spec = component_translate::component_spec(component, &mut resolver);
        let frame = resolver.finish();
        if self.errors.len() > before {
            return None;
        }
        if let Some(desired) = into {
            desired.depends_on.extend(frame.depends);
            desired.uploads.extend(frame.uploads);
        }
        Some(component_translate::component_version(component, &spec))
    }

    /// A sweep or pipeline job: named from its specification's hash unless the manifest
    /// names it, as command jobs are.
    pub(super) fn build_pipeline_or_sweep(&mut self, resource: &Resource, job: &Job) {
        let address = resource.address.to_string();
        let before = self.errors.len();
        let experiment = self.input.project.to_owned();
        let mut resolver = Resolver::new(self, address.clone());
        let (mut body, api_version) = match &job.body {
            JobBody::Pipeline(_) => (
                translate::pipeline::pipeline_job(job, "", &experiment, &mut resolver),
                api::PIPELINE_JOB,
            ),
            JobBody::Sweep(_) => (
                translate::pipeline::sweep_job(job, "", &experiment, &mut resolver),
                api::SWEEP_JOB,
            ),
            JobBody::Command(_) => return,
        };
        let frame = resolver.finish();
        if self.errors.len() > before {
            return;
        }
        let spec = normalize::spec_hash(Kind::Job, &view(Kind::Job, &body, self.scope()));
        let explicit_name = job.name.is_some();
        let name = self.job_name(resource, job, &spec);
        if job.display_name.is_none()
            && let Some(display) = body.pointer_mut("/properties/displayName")
        {
            *display = json!(name);
        }
        let mut desired = Desired {
            address,
            kind: Kind::Job,
            name: name.clone(),
            version: None,
            path: format!("jobs/{name}"),
            api_version,
            body: std::mem::take(&mut body),
            source: Some(resource.origin.clone()),
            derived: false,
            depends_on: frame.depends,
            uploads: frame.uploads,
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
}
