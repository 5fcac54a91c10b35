//! Components: reusable, versioned job definitions (`az ml component create`), and the
//! anonymous components that pipeline nodes define inline or load from a file.

use std::collections::BTreeMap;

use serde_json::Value;

use super::jobs::Graph;
use super::{AssetRef, CodeSource, EnvSource, VersionSpec};
use crate::diag::{Loc, Located};

/// A component: a registered asset (`name` set) or an anonymous one inside a job.
#[derive(Clone, Debug)]
pub struct Component {
    /// `None` for a component written inline in a pipeline node; the SDK then registers it as
    /// `azureml_anonymous` with a version hashed from its specification.
    pub name: Option<Located<String>>,
    pub version: VersionSpec,
    /// `$schema` as written: the SDK sends it inside the specification.
    pub schema: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub is_deterministic: Option<bool>,
    pub inputs: BTreeMap<String, Port>,
    pub outputs: BTreeMap<String, Port>,
    pub body: ComponentBody,
    pub origin: ComponentOrigin,
    /// Where the component's definition starts.
    pub loc: Loc,
}

impl Component {
    pub fn type_name(&self) -> &'static str {
        match &self.body {
            ComponentBody::Command(_) => "command",
            ComponentBody::Pipeline(_) => "pipeline",
            ComponentBody::Parallel(_) => "parallel",
            ComponentBody::Spark(_) => "spark",
        }
    }
}

/// Where a component's definition was read, which the SDK records as `_source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentOrigin {
    /// A component file (`az ml component create`, or `component: ./x.yml` in a node).
    ComponentFile,
    /// Written inline in a job.
    Job,
}

impl ComponentOrigin {
    pub fn source_tag(self) -> &'static str {
        match self {
            ComponentOrigin::ComponentFile => "YAML.COMPONENT",
            ComponentOrigin::Job => "YAML.JOB",
        }
    }
}

/// A declared input or output of a component.
#[derive(Clone, Debug)]
pub struct Port {
    /// `uri_folder`, `string`, `integer`, … (lower case).
    pub port_type: String,
    pub optional: bool,
    /// The declaration as the SDK sends it: `type`, `default` as text, `optional`, `mode`, ….
    pub spec: Value,
    pub loc: Loc,
}

impl Port {
    /// Data ports carry files; the others (`string`, `number`, …) carry values.
    pub fn is_data(&self) -> bool {
        !matches!(
            self.port_type.as_str(),
            "string" | "integer" | "number" | "boolean"
        )
    }
}

#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a manifest holds few components, each built once"
)]
pub enum ComponentBody {
    Command(CommandSpec),
    Pipeline(Graph),
    Parallel(ParallelSpec),
    /// Spark components run only on Azure (Synapse or serverless Spark); amlops reads them
    /// where pipelines use them.
    Spark(SparkSpec),
}

/// What a Spark component runs.
#[derive(Clone, Debug)]
pub struct SparkSpec {
    pub code: Option<Located<CodeSource>>,
    pub environment: Option<Located<EnvSource>>,
    /// `entry`, `args`, `conf`, `files`, `py_files`, `jars`, `archives` in the SDK's
    /// component vocabulary, validated; `conf` includes the `driver_*`/`executor_*` settings.
    pub settings: serde_json::Map<String, Value>,
}

/// What a command component runs.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    pub command: Located<String>,
    pub code: Option<Located<CodeSource>>,
    pub environment: Located<EnvSource>,
    pub environment_variables: BTreeMap<String, String>,
    /// Folders merged into the code snapshot, as written.
    pub additional_includes: Vec<Located<String>>,
    /// The same, as absolute paths.
    pub include_paths: Vec<std::path::PathBuf>,
    /// The following are kept in the SDK's component vocabulary, already validated.
    pub distribution: Option<Value>,
    pub resources: Option<Value>,
    pub queue_settings: Option<Value>,
    pub properties: BTreeMap<String, String>,
}

/// A parallel component: a script run over mini-batches of its input.
#[derive(Clone, Debug)]
pub struct ParallelSpec {
    pub task: ParallelTask,
    /// `mini_batch_size`, `input_data`, `retry_settings`, `resources`, … in the SDK's
    /// vocabulary, already validated.
    pub settings: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct ParallelTask {
    /// `run_function`, `model` or `function`.
    pub task_type: String,
    pub code: Option<Located<CodeSource>>,
    pub environment: Located<EnvSource>,
    /// `entry_script`, `program_arguments`, `append_row_to`, `model`.
    pub settings: serde_json::Map<String, Value>,
}

/// How a pipeline node (or a sweep's trial) names its component.
#[derive(Clone, Debug)]
pub enum ComponentUse {
    /// Written inline or loaded from a file: registered anonymously with the job.
    Defined(Box<Component>),
    /// A registered component, in the workspace or a registry.
    Registered(Located<AssetRef>),
}
