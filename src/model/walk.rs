//! Walks over everything a resource refers to: registered assets, computes and local paths,
//! however deeply they are nested (pipeline nodes, their components, their environments).
//!
//! The planner asks about each reference, the content hasher reads each local path, and the
//! tests build fake workspaces from them; one walk keeps the three in agreement.

use std::path::{Path, PathBuf};

use super::component::{CommandSpec, Component, ComponentBody, ComponentUse};
use super::jobs::{Graph, NodeInput};
use super::{
    AssetRef, CodeSource, DataInput, DataPath, EnvSource, Environment, JobBody, JobInput, Kind,
    Resource, Spec,
};
use crate::diag::{Loc, Located};

/// A reference to a registered asset.
#[derive(Clone, Copy, Debug)]
pub struct Reference<'a> {
    pub kind: Kind,
    pub asset: &'a AssetRef,
    pub loc: &'a Loc,
}

/// What a local path is uploaded as, which decides the hashes it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalUse {
    /// Data (a data asset, an input).
    Data,
    /// A code snapshot or a build context: the SDK's content hash is needed too.
    Snapshot,
}

/// A local file or folder a resource uploads.
#[derive(Clone, Copy, Debug)]
pub struct LocalPath<'a> {
    pub path: &'a Path,
    pub purpose: LocalUse,
    pub loc: &'a Loc,
    /// Folders and files merged into a code snapshot (`additional_includes`).
    pub includes: &'a [PathBuf],
}

impl LocalPath<'_> {
    /// The key its digests are kept under: the path, or for a snapshot with includes, a
    /// name that also says which (it names nothing on disk).
    pub fn key(&self) -> PathBuf {
        snapshot_key(self.path, self.includes)
    }
}

/// The key of a code snapshot's digests: `path`, or with `includes`, `path` followed by a
/// component naming them, so that the same folder with and without includes hashes apart.
pub fn snapshot_key(path: &Path, includes: &[PathBuf]) -> PathBuf {
    if includes.is_empty() {
        return path.to_path_buf();
    }
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    for include in includes {
        hasher.update(include.as_os_str().as_encoded_bytes());
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    path.join(format!("+additional-includes-{}", &digest[..16]))
}

/// Receives what [`walk`] finds. Every method does nothing unless overridden.
pub trait Visitor<'a> {
    fn reference(&mut self, _reference: Reference<'a>) {}
    fn local(&mut self, _local: LocalPath<'a>) {}
    /// A compute named by a job, a node or a pipeline's settings, as written.
    fn compute(&mut self, _compute: &'a Located<String>) {}
    /// An environment written inline (or in a `file:`), which becomes an asset of its own.
    fn environment(&mut self, _environment: &'a Environment) {}
    /// A component defined inline or in a file, which the SDK registers anonymously.
    fn component(&mut self, _component: &'a Component) {}
}

impl Resource {
    /// Every registered asset this resource refers to.
    pub fn references(&self) -> Vec<Reference<'_>> {
        #[derive(Default)]
        struct Collect<'a>(Vec<Reference<'a>>);
        impl<'a> Visitor<'a> for Collect<'a> {
            fn reference(&mut self, reference: Reference<'a>) {
                self.0.push(reference);
            }
        }
        let mut collect = Collect::default();
        walk(self, &mut collect);
        collect.0
    }

    /// Every local file or folder this resource uploads.
    pub fn local_paths(&self) -> Vec<LocalPath<'_>> {
        #[derive(Default)]
        struct Collect<'a>(Vec<LocalPath<'a>>);
        impl<'a> Visitor<'a> for Collect<'a> {
            fn local(&mut self, local: LocalPath<'a>) {
                self.0.push(local);
            }
        }
        let mut collect = Collect::default();
        walk(self, &mut collect);
        collect.0
    }
}

/// Visits everything `resource` refers to.
pub fn walk<'a>(resource: &'a Resource, visitor: &mut impl Visitor<'a>) {
    match &resource.spec {
        Spec::Data(data) => data_path(&data.path, Kind::Data, visitor),
        Spec::Environment(env) => build_context(env, visitor),
        Spec::Compute(_) => {}
        Spec::Component(component) => component_body(component, visitor),
        Spec::Job(job) => {
            if let Some(compute) = &job.compute {
                visitor.compute(compute);
            }
            match &job.body {
                JobBody::Command(command) => {
                    code(command.code.as_ref(), visitor);
                    environment(&command.environment, visitor);
                    job_inputs(command.inputs.values(), visitor);
                }
                JobBody::Sweep(sweep) => {
                    component_use(&sweep.trial, visitor);
                    job_inputs(sweep.inputs.values(), visitor);
                }
                JobBody::Pipeline(pipeline) => {
                    if let Some(compute) = &pipeline.settings.default_compute {
                        visitor.compute(compute);
                    }
                    job_inputs(pipeline.inputs.values(), visitor);
                    graph(&pipeline.graph, visitor);
                }
            }
        }
    }
}

fn graph<'a>(graph: &'a Graph, visitor: &mut impl Visitor<'a>) {
    for node in graph.jobs.values() {
        if let Some(compute) = &node.compute {
            visitor.compute(compute);
        }
        if let Some(usage) = &node.component {
            component_use(usage, visitor);
        }
        for input in node.inputs.values() {
            if let NodeInput::Data(data) = input {
                data_input(data, visitor);
            }
        }
    }
}

fn component_use<'a>(usage: &'a ComponentUse, visitor: &mut impl Visitor<'a>) {
    match usage {
        ComponentUse::Defined(component) => {
            visitor.component(component);
            component_body(component, visitor);
        }
        ComponentUse::Registered(reference) => visitor.reference(Reference {
            kind: Kind::Component,
            asset: &reference.value,
            loc: &reference.loc,
        }),
    }
}

fn component_body<'a>(component: &'a Component, visitor: &mut impl Visitor<'a>) {
    match &component.body {
        ComponentBody::Command(spec) => command_spec(spec, visitor),
        ComponentBody::Pipeline(nodes) => graph(nodes, visitor),
        ComponentBody::Parallel(parallel) => {
            code(parallel.task.code.as_ref(), visitor);
            environment(&parallel.task.environment, visitor);
        }
        ComponentBody::Spark(spark) => {
            code(spark.code.as_ref(), visitor);
            if let Some(env) = &spark.environment {
                environment(env, visitor);
            }
        }
    }
}

fn command_spec<'a>(spec: &'a CommandSpec, visitor: &mut impl Visitor<'a>) {
    match spec.code.as_ref() {
        Some(code) if !spec.include_paths.is_empty() => {
            if let CodeSource::Local { path, .. } = &code.value {
                visitor.local(LocalPath {
                    path,
                    purpose: LocalUse::Snapshot,
                    loc: &code.loc,
                    includes: &spec.include_paths,
                });
            }
        }
        other => self::code(other, visitor),
    }
    environment(&spec.environment, visitor);
}

fn code<'a>(code: Option<&'a Located<CodeSource>>, visitor: &mut impl Visitor<'a>) {
    let Some(code) = code else { return };
    match &code.value {
        CodeSource::Local { path, .. } => visitor.local(LocalPath {
            path,
            purpose: LocalUse::Snapshot,
            loc: &code.loc,
            includes: &[],
        }),
        CodeSource::Asset(asset) => visitor.reference(Reference {
            kind: Kind::Code,
            asset,
            loc: &code.loc,
        }),
        CodeSource::Uri(_) => {}
    }
}

fn environment<'a>(source: &'a Located<EnvSource>, visitor: &mut impl Visitor<'a>) {
    match &source.value {
        EnvSource::Ref(asset) => visitor.reference(Reference {
            kind: Kind::Environment,
            asset,
            loc: &source.loc,
        }),
        EnvSource::Inline(env) => {
            visitor.environment(env);
            build_context(env, visitor);
        }
    }
}

fn build_context<'a>(env: &'a Environment, visitor: &mut impl Visitor<'a>) {
    if let Some(build) = &env.build
        && let DataPath::Local { path, .. } = &build.path.value
    {
        visitor.local(LocalPath {
            path,
            purpose: LocalUse::Snapshot,
            loc: &build.path.loc,
            includes: &[],
        });
    }
}

fn job_inputs<'a>(inputs: impl Iterator<Item = &'a JobInput>, visitor: &mut impl Visitor<'a>) {
    for input in inputs {
        if let JobInput::Data(data) = input {
            data_input(data, visitor);
        }
    }
}

fn data_input<'a>(data: &'a DataInput, visitor: &mut impl Visitor<'a>) {
    if let Some(path) = &data.path {
        // Model inputs name models, which amlops passes to Azure as written.
        if !data.input_type.ends_with("model") || path.value.is_local() {
            data_path(path, Kind::Data, visitor);
        }
    }
}

fn data_path<'a>(path: &'a Located<DataPath>, kind: Kind, visitor: &mut impl Visitor<'a>) {
    match &path.value {
        DataPath::Local { path: local, .. } => visitor.local(LocalPath {
            path: local,
            purpose: LocalUse::Data,
            loc: &path.loc,
            includes: &[],
        }),
        DataPath::Asset(asset) => visitor.reference(Reference {
            kind,
            asset,
            loc: &path.loc,
        }),
        DataPath::Datastore { .. } | DataPath::Uri(_) => {}
    }
}
