//! Sweep and pipeline jobs, and the node graph that pipelines and pipeline components share.

use std::collections::BTreeMap;

use serde_json::Value;

use super::component::ComponentUse;
use super::{DataInput, JobInput, JobOutput};
use crate::diag::{Loc, Located};
use crate::manifest::node::Scalar;

/// A hyperparameter sweep (`type: sweep`): trials of one command over a search space.
#[derive(Clone, Debug)]
pub struct SweepJob {
    /// The command each trial runs: written inline, in a component file, or registered.
    pub trial: ComponentUse,
    pub inputs: BTreeMap<String, JobInput>,
    pub outputs: BTreeMap<String, Option<JobOutput>>,
    pub settings: SweepSettings,
}

/// A sweep's search settings, in the YAML's vocabulary, validated.
#[derive(Clone, Debug, Default)]
pub struct SweepSettings {
    /// Each parameter's distribution: `{type: choice, values: [...]}`, `{type: uniform, …}`.
    pub search_space: serde_json::Map<String, Value>,
    /// `random`, `grid`, `bayesian`, or a mapping with `type`, `seed`, `rule`, ….
    pub sampling_algorithm: Value,
    pub objective: Value,
    pub limits: Value,
    pub early_termination: Option<Value>,
    pub queue_settings: Option<Value>,
    pub resources: Option<Value>,
}

impl SweepSettings {
    /// `limits.max_total_trials`.
    pub fn max_total_trials(&self) -> Option<i64> {
        self.limits.get("max_total_trials").and_then(Value::as_i64)
    }
}

/// A pipeline job (`type: pipeline`).
#[derive(Clone, Debug)]
pub struct PipelineJob {
    pub settings: PipelineSettings,
    pub inputs: BTreeMap<String, JobInput>,
    pub outputs: BTreeMap<String, Option<JobOutput>>,
    pub graph: Graph,
}

/// `settings:` of a pipeline job.
#[derive(Clone, Debug, Default)]
pub struct PipelineSettings {
    pub default_compute: Option<Located<String>>,
    pub default_datastore: Option<Located<String>>,
    /// The other keys as written. The SDK loads `settings` leniently and sends unknown keys on,
    /// so amlops does the same (a warning names them).
    pub other: serde_json::Map<String, Value>,
}

/// The nodes of a pipeline job or pipeline component, by name.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub jobs: BTreeMap<String, Node>,
}

/// The kinds of pipeline node amlops reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Command,
    Pipeline,
    Parallel,
    Sweep,
    Spark,
    /// AutoML runs only on Azure; amlops sends its settings as written.
    Automl,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Command => "command",
            NodeKind::Pipeline => "pipeline",
            NodeKind::Parallel => "parallel",
            NodeKind::Sweep => "sweep",
            NodeKind::Spark => "spark",
            NodeKind::Automl => "automl",
        }
    }
}

/// One step of a pipeline.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: Located<String>,
    pub kind: NodeKind,
    /// What the node runs (a sweep node's trial); AutoML nodes name none.
    pub component: Option<ComponentUse>,
    pub inputs: BTreeMap<String, NodeInput>,
    pub outputs: BTreeMap<String, NodeOutput>,
    /// `azureml:<name>`, a bare name, or a `${{parent.inputs.x}}` binding.
    pub compute: Option<Located<String>>,
    /// Settings that override the component's, in the SDK's node vocabulary, validated:
    /// `resources`, `distribution`, `limits`, `environment_variables`, `display_name`, ….
    pub overrides: serde_json::Map<String, Value>,
    /// A sweep node's search settings.
    pub sweep: Option<SweepSettings>,
    /// An AutoML node's settings (`task`, `training_data`, `limits`, …) as written.
    pub automl: Option<serde_json::Map<String, Value>>,
    pub loc: Loc,
}

/// The value of a node's input.
#[derive(Clone, Debug)]
pub enum NodeInput {
    Literal(Located<Scalar>),
    /// A `${{parent.…}}` expression: an edge of the graph, or a pipeline input. Written as
    /// the `path` of a mapping, it comes with the mapping's type and mode (`declared`, whose
    /// own `path` is then empty).
    Binding {
        expr: Located<String>,
        declared: Option<DataInput>,
    },
    Data(DataInput),
}

/// A node's output setting.
#[derive(Clone, Debug)]
pub enum NodeOutput {
    /// `name:` without a value: the component's default.
    Default,
    /// `${{parent.outputs.x}}`: the pipeline's output.
    Binding(Located<String>),
    Data(JobOutput),
}
