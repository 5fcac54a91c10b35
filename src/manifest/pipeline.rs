//! Pipeline jobs and pipeline components: settings, and the nodes whose `${{parent.…}}`
//! bindings form the graph.
//!
//! A node either names a component (a file, a registered one) and overrides some of its
//! settings, or is written inline. Like the SDK, amlops turns an inline node into an anonymous
//! component, inferring the types of its ports from what its inputs and outputs are bound to.
//! Nodes that name a component are loaded leniently, as the SDK loads them (`unknown=INCLUDE`):
//! unknown keys there are warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::component::{
    self, COMPONENT_RESOURCES, Context, check_command_bindings, read_command_spec, warn_unknown,
};
use super::job::{self, read_code, read_env_source, read_input_mapping, read_outputs};
use super::node::{Entry, Node, NodeValue, Scalar, ScalarKind};
use super::read::{Fields, Problems, expect_str, join, type_error};
use super::shape::{self, Shape, Ty};
use super::sweep;
use crate::diag::{Diagnostic, Located, SourceFile, did_you_mean};
use crate::model::binding::{self, Target};
use crate::model::component::ParallelTask;
use crate::model::refs::parse_asset_ref;
use crate::model::{
    CommandSpec, Component, ComponentBody, ComponentOrigin, ComponentUse, DataInput, Graph,
    JobInput, JobOutput, Node as PipelineNode, NodeInput, NodeKind, NodeOutput, ParallelSpec,
    PipelineJob, PipelineSettings, Port, VersionSpec,
};

/// What `${{parent.inputs.x}}` and `${{parent.outputs.x}}` of a node may name: the ports of
/// the pipeline around it, each with the type and mode an inline node's port inherits.
#[derive(Default)]
struct Parent {
    inputs: BTreeMap<String, PortInfo>,
    outputs: BTreeMap<String, PortInfo>,
}

#[derive(Clone, Debug, PartialEq)]
struct PortInfo {
    port_type: String,
    /// The YAML spelling of the mode, when declared.
    mode: Option<String>,
}

impl PortInfo {
    fn of(port_type: &str, mode: Option<&str>) -> Self {
        Self {
            port_type: port_type.to_owned(),
            mode: mode.map(str::to_owned),
        }
    }
}

static LIMITS: Shape = Shape {
    what: "node limits",
    keys: &[("timeout", Ty::Any)],
    required: &[],
};

/// Reads the keys of a pipeline job (after `type`, names and tags, which the job reader
/// reads).
pub fn read_pipeline_job(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<PipelineJob> {
    let settings = fields
        .take_some("settings")
        .map(|n| read_settings(n, problems))
        .unwrap_or_default();
    let inputs = job::read_inputs(fields.map("inputs", problems), "inputs", file, problems);
    let outputs = read_outputs(fields.map("outputs", problems), "outputs", problems);
    let parent = Parent {
        inputs: inputs
            .iter()
            .map(|(name, input)| (name.clone(), job_input_info(input)))
            .collect(),
        outputs: outputs
            .iter()
            .map(|(name, output)| (name.clone(), job_output_info(output.as_ref())))
            .collect(),
    };
    let jobs = fields.require("jobs", problems);
    let graph = read_graph(jobs?, "jobs", file, &parent, problems)?;
    Some(PipelineJob {
        settings,
        inputs,
        outputs,
        graph,
    })
}

/// Reads `jobs:` of a pipeline component declaring `inputs` and `outputs`.
pub fn read_component_graph(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    inputs: &BTreeMap<String, Port>,
    outputs: &BTreeMap<String, Port>,
    problems: &mut Problems,
) -> Option<Graph> {
    let info = |port: &Port| {
        PortInfo::of(
            &port.port_type,
            port.spec.get("mode").and_then(Value::as_str),
        )
    };
    let parent = Parent {
        inputs: inputs.iter().map(|(n, p)| (n.clone(), info(p))).collect(),
        outputs: outputs.iter().map(|(n, p)| (n.clone(), info(p))).collect(),
    };
    let jobs = fields.require("jobs", problems)?;
    read_graph(jobs, "jobs", file, &parent, problems)
}

fn job_input_info(input: &JobInput) -> PortInfo {
    match input {
        JobInput::Literal(value) => PortInfo::of(literal_type(&value.value), None),
        JobInput::Data(data) => PortInfo::of(data.input_type, data.mode.map(yaml_mode)),
    }
}

fn job_output_info(output: Option<&JobOutput>) -> PortInfo {
    match output {
        None => PortInfo::of("uri_folder", None),
        Some(output) => PortInfo::of(output.output_type, output.mode.map(yaml_output_mode)),
    }
}

/// The port type the SDK infers from a literal's Python type.
fn literal_type(scalar: &Scalar) -> &'static str {
    match scalar.kind {
        ScalarKind::Str => "string",
        ScalarKind::Int(_) => "integer",
        ScalarKind::Float(_) => "number",
        ScalarKind::Bool(_) => "boolean",
        ScalarKind::Null | ScalarKind::Timestamp => "uri_folder",
    }
}

/// The YAML spelling of an input mode given in the REST spelling.
pub fn yaml_mode(rest: &str) -> &'static str {
    crate::model::INPUT_MODES
        .iter()
        .find(|(_, r)| *r == rest)
        .map_or("ro_mount", |(yaml, _)| yaml)
}

fn yaml_output_mode(rest: &str) -> &'static str {
    crate::model::OUTPUT_MODES
        .iter()
        .find(|(_, r)| *r == rest)
        .map_or("rw_mount", |(yaml, _)| yaml)
}

fn read_settings(node: &Node, problems: &mut Problems) -> PipelineSettings {
    let mut settings = PipelineSettings::default();
    let Some(mut fields) = Fields::new(node, "settings", "pipeline settings", problems) else {
        return settings;
    };
    settings.default_compute = fields.str("default_compute", problems);
    settings.default_datastore = fields.str("default_datastore", problems);
    for key in ["continue_on_step_failure", "force_rerun"] {
        if let Some(value) = fields.bool(key, problems) {
            settings.other.insert(key.into(), json!(value.value));
        }
    }
    // The SDK loads settings with `unknown=INCLUDE` and sends unknown keys on.
    let known = [
        "default_compute",
        "default_datastore",
        "continue_on_step_failure",
        "force_rerun",
    ];
    for entry in node.entries().unwrap_or_default() {
        if known.contains(&entry.key.value.as_str()) {
            continue;
        }
        let mut diagnostic = Diagnostic::warning(format!(
            "unknown key `{}` in pipeline settings (sent as written, as `az ml` does)",
            entry.key.value
        ))
        .at(&entry.key.loc)
        .field(join("settings", &entry.key.value));
        if let Some(suggestion) = did_you_mean(&entry.key.value, known) {
            diagnostic = diagnostic.hint(format!("did you mean `{suggestion}`?"));
        }
        problems.push(diagnostic);
        settings
            .other
            .insert(entry.key.value.clone(), entry.value.to_json());
    }
    fields.finish_lenient();
    settings
}

/// A node read in a first pass: inline nodes wait for the graph to infer their ports.
struct Pending {
    node: PipelineNode,
    inline: Option<Inline>,
}

/// An inline node's own definition, before it becomes an anonymous component.
enum Inline {
    Command(CommandSpec),
    Parallel(ParallelSpec),
    Spark(crate::model::SparkSpec),
}

fn read_graph(
    jobs: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    parent: &Parent,
    problems: &mut Problems,
) -> Option<Graph> {
    let Some(entries) = jobs.entries() else {
        type_error(jobs, path, "a mapping of node names to nodes", problems);
        return None;
    };
    let mut pending = BTreeMap::new();
    for entry in entries {
        if !node_name_ok(&entry.key.value) {
            problems.error(
                &entry.key.loc,
                &join(path, &entry.key.value),
                format!(
                    "`{}` is not a valid node name: lower-case letters, digits and `_`, not starting with a digit",
                    entry.key.value
                ),
            );
            continue;
        }
        if let Some(node) = read_node(entry, &join(path, &entry.key.value), file, problems) {
            pending.insert(entry.key.value.clone(), node);
        }
    }
    let types = output_types(&pending, parent);
    let mut graph = Graph::default();
    let names: BTreeSet<String> = pending.keys().cloned().collect();
    for (name, mut node) in pending {
        check_node_bindings(&node.node, &names, parent, path, problems);
        if let Some(inline) = node.inline.take() {
            let component = inline_component(&node.node, inline, parent, &types);
            check_inline_command(&component, problems);
            node.node.component = Some(ComponentUse::Defined(Box::new(component)));
        }
        graph.jobs.insert(name, node.node);
    }
    check_edges(&graph, path, problems);
    check_cycles(&graph, path, problems);
    Some(graph)
}

/// The nodes whose outputs `node` reads.
fn upstream(node: &PipelineNode) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for input in node.inputs.values() {
        if let NodeInput::Binding { expr, .. } = input {
            for b in binding::bindings(&expr.value) {
                if let Target::Node { node, .. } = b.target() {
                    found.insert(node.to_owned());
                }
            }
        }
    }
    found
}

/// A pipeline is a graph without cycles: a node cannot wait for its own outputs, however
/// indirectly.
fn check_cycles(graph: &Graph, path: &str, problems: &mut Problems) {
    let edges: BTreeMap<&String, BTreeSet<String>> = graph
        .jobs
        .iter()
        .map(|(name, node)| (name, upstream(node)))
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let ready: Vec<String> = edges
            .iter()
            .filter(|(name, deps)| {
                !done.contains(name.as_str())
                    && deps
                        .iter()
                        .all(|d| done.contains(d) || !graph.jobs.contains_key(d))
            })
            .map(|(name, _)| (*name).clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        done.extend(ready);
    }
    let stuck: Vec<&String> = edges
        .keys()
        .filter(|n| !done.contains(n.as_str()))
        .copied()
        .collect();
    let Some(first) = stuck.first() else {
        return;
    };
    let node = &graph.jobs[*first];
    let other = edges[first]
        .iter()
        .find(|d| stuck.iter().any(|s| s == d))
        .cloned()
        .unwrap_or_default();
    problems.push(
        Diagnostic::error(format!(
            "nodes {} wait for each other's outputs: node `{}` reads node `{other}`, which depends on it",
            stuck
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            first
        ))
        .at(&node.loc)
        .field(join(path, first)),
    );
}

fn node_name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The node kinds amlops does not read, with the words for them.
fn unsupported_node(kind: &str) -> Option<&'static str> {
    match kind {
        "import" | "data_transfer" => Some("data transfer node"),
        "flow" => Some("prompt flow node"),
        _ => None,
    }
}

fn read_node(
    entry: &Entry,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<Pending> {
    let node = &entry.value;
    let written_type = node_type(node, path, problems)?;
    if let Some(words) = unsupported_node(&written_type) {
        let at = node.get("type").map_or(&node.loc, |t| &t.loc);
        problems.push(
            Diagnostic::error(format!("unsupported kind: {words}"))
                .at(at)
                .field(join(path, "type"))
                .hint("amlops runs command, pipeline, parallel and sweep nodes"),
        );
        return None;
    }
    let kind = match written_type.as_str() {
        "command" => NodeKind::Command,
        "pipeline" => NodeKind::Pipeline,
        "parallel" => NodeKind::Parallel,
        "sweep" => NodeKind::Sweep,
        "spark" => NodeKind::Spark,
        "automl" => return read_automl_node(entry, path, problems),
        other => {
            let at = node.get("type").map_or(&node.loc, |t| &t.loc);
            let mut diagnostic = Diagnostic::error(format!(
                "`{}` must be one of `command`, `pipeline`, `parallel`, `sweep`, `spark`, `automl`, found `{other}`",
                join(path, "type")
            ))
            .at(at)
            .field(join(path, "type"));
            let kinds = [
                "command", "pipeline", "parallel", "sweep", "spark", "automl",
            ];
            if let Some(s) = did_you_mean(other, kinds) {
                diagnostic = diagnostic.hint(format!("did you mean `{s}`?"));
            }
            problems.push(diagnostic);
            return None;
        }
    };
    let names_component = node.get("component").is_some() || kind == NodeKind::Sweep;
    let what = format!("a {} node", kind.as_str());
    let mut fields = Fields::new(node, path, &what, problems)?;
    fields.take("type");
    fields.allow(&["$schema", "comment", "name"]);
    let mut overrides = Map::new();
    let compute = fields.str("compute", problems);
    let inputs = read_node_inputs(
        fields.map("inputs", problems),
        &join(path, "inputs"),
        file,
        problems,
    );
    let outputs = read_node_outputs(
        fields.map("outputs", problems),
        &join(path, "outputs"),
        problems,
    );
    read_common_overrides(&mut fields, kind, &mut overrides, problems);
    let mut sweep_settings = None;
    let (component, inline) = match kind {
        NodeKind::Sweep => {
            let trial = fields.require("trial", problems);
            sweep_settings = Some(sweep::read_settings(&mut fields, problems));
            let trial = trial.and_then(|t| component_use(t, &join(path, "trial"), file, problems));
            (Some(trial?), None)
        }
        _ if names_component => {
            let usage = fields
                .take("component")
                .and_then(|c| component_use(c, &join(path, "component"), file, problems));
            if kind == NodeKind::Parallel {
                read_parallel_overrides(&mut fields, &mut overrides, file, problems);
            }
            (Some(usage?), None)
        }
        NodeKind::Command => {
            // The node keeps its environment variables (read above); its component has none.
            let spec = read_command_spec(&mut fields, file, false, problems).map(|mut spec| {
                spec.environment_variables.clear();
                spec
            });
            fields.allow(&[
                "experiment_name",
                "description",
                "properties",
                "parent_job_name",
            ]);
            (None, Some(Inline::Command(spec?)))
        }
        NodeKind::Parallel => {
            let task = fields
                .require("task", problems)
                .and_then(|n| read_parallel_task(n, &join(path, "task"), file, problems));
            let mut settings = Map::new();
            read_parallel_settings(&mut fields, &mut settings, problems);
            (
                None,
                Some(Inline::Parallel(ParallelSpec {
                    task: task?,
                    settings,
                })),
            )
        }
        NodeKind::Spark => {
            let spec = component::read_spark_spec(&mut fields, file, problems);
            (None, Some(Inline::Spark(spec?)))
        }
        NodeKind::Automl => return None,
        NodeKind::Pipeline => {
            problems.error(
                fields.loc(),
                path,
                format!(
                    "missing required key `{}` in a pipeline node",
                    join(path, "component")
                ),
            );
            return None;
        }
    };
    if names_component {
        warn_unknown(fields, problems);
    } else {
        fields.finish(problems);
    }
    Some(Pending {
        node: PipelineNode {
            name: entry.key.clone(),
            kind,
            component,
            inputs,
            outputs,
            compute,
            overrides,
            sweep: sweep_settings,
            automl: None,
            loc: node.loc.clone(),
        },
        inline,
    })
}

/// An AutoML node: its settings are sent as written (amlops checks the bindings among them,
/// not the AutoML settings themselves); its outputs are read like any node's.
fn read_automl_node(entry: &Entry, path: &str, problems: &mut Problems) -> Option<Pending> {
    let node = &entry.value;
    let mut fields = Fields::new(node, path, "an AutoML node", problems)?;
    fields.take("type");
    fields.allow(&["name"]);
    let compute = fields.str("compute", problems);
    let outputs = read_node_outputs(
        fields.map("outputs", problems),
        &join(path, "outputs"),
        problems,
    );
    fields.req_str("task", problems)?;
    let mut settings = Map::new();
    for entry in node.entries().unwrap_or_default() {
        let key = entry.key.value.as_str();
        if !matches!(key, "type" | "name" | "compute" | "outputs") {
            settings.insert(key.to_owned(), entry.value.to_json());
        }
    }
    fields.finish_lenient();
    let mut inputs = BTreeMap::new();
    for entry in node.entries().unwrap_or_default() {
        if let Some(text) = entry.value.scalar().filter(|s| s.kind == ScalarKind::Str)
            && is_binding(&text.text)
        {
            inputs.insert(
                entry.key.value.clone(),
                NodeInput::Binding {
                    expr: Located::new(text.text.clone(), entry.value.loc.clone()),
                    declared: None,
                },
            );
        }
    }
    Some(Pending {
        node: PipelineNode {
            name: entry.key.clone(),
            kind: NodeKind::Automl,
            component: None,
            inputs,
            outputs,
            compute,
            overrides: Map::new(),
            sweep: None,
            automl: Some(settings),
            loc: node.loc.clone(),
        },
        inline: None,
    })
}

/// A node's `type`; without one, a node is a command node, as the SDK decides.
fn node_type(node: &Node, path: &str, problems: &mut Problems) -> Option<String> {
    if node.entries().is_none() {
        type_error(node, path, "a mapping", problems);
        return None;
    }
    match node.get("type") {
        None => Some("command".into()),
        Some(t) => {
            expect_str(t, &join(path, "type"), problems).map(|t| t.value.to_ascii_lowercase())
        }
    }
}

/// A reference to a registered component. The legacy `azureml:<name>:latest` names a version
/// called `latest` here: the SDK sends it as written rather than resolving the label.
pub fn parse_component_ref(
    text: &str,
) -> Result<crate::model::AssetRef, crate::model::refs::RefError> {
    let reference = parse_asset_ref(text, "components")?;
    Ok(match reference {
        crate::model::AssetRef::Workspace { name, version }
            if text.ends_with(":latest") && !text.contains('@') =>
        {
            let _ = version;
            crate::model::AssetRef::Workspace {
                name,
                version: crate::model::VersionSel::Exact("latest".into()),
            }
        }
        other => other,
    })
}

/// `component:` (or a sweep's `trial:`): a file, a registered component, or inline.
fn component_use(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<ComponentUse> {
    if node.entries().is_some() {
        let mut component = component::read_component(node, file, Context::Loaded, problems)?;
        component.origin = ComponentOrigin::Job;
        return Some(ComponentUse::Defined(Box::new(component)));
    }
    let written = expect_str(node, path, problems)?;
    let text = written.value.trim();
    if text.starts_with("azureml:") {
        return match parse_component_ref(text) {
            Ok(reference) => Some(ComponentUse::Registered(Located::new(
                reference,
                written.loc,
            ))),
            Err(e) => {
                problems.error(&written.loc, path, e.to_string());
                None
            }
        };
    }
    let mut component = component::load_file(&written, path, file, problems)?;
    // The SDK loads a `file:` reference as a component of the job, a bare path as a file of its
    // own, and records the difference in `_source`.
    if text.starts_with("file:") {
        component.origin = ComponentOrigin::Job;
    }
    Some(ComponentUse::Defined(Box::new(component)))
}

static SPARK_RESOURCES: Shape = Shape {
    what: "Spark resources",
    keys: &[("instance_type", Ty::Str), ("runtime_version", Ty::Str)],
    required: &[],
};

static IDENTITY: Shape = Shape {
    what: "a node identity",
    keys: &[
        (
            "type",
            Ty::Choice(&["user_identity", "managed", "managed_identity", "aml_token"]),
        ),
        ("client_id", Ty::Str),
        ("object_id", Ty::Str),
        ("msi_resource_id", Ty::Str),
    ],
    required: &["type"],
};

/// Settings every node may override, kept in the SDK's node vocabulary.
fn read_common_overrides(
    fields: &mut Fields<'_>,
    kind: NodeKind,
    overrides: &mut Map<String, Value>,
    problems: &mut Problems,
) {
    if let Some(name) = fields.text("display_name", problems) {
        overrides.insert("display_name".into(), json!(name.value));
    }
    let tags = fields.str_map("tags", problems);
    if !tags.is_empty() {
        overrides.insert("tags".into(), json!(tags));
    }
    if let Some(properties) = fields.take_some("properties") {
        overrides.insert("properties".into(), properties.to_json());
    }
    if kind == NodeKind::Pipeline {
        return;
    }
    let path = fields.path().to_owned();
    if kind == NodeKind::Spark {
        let names_component = fields.has("component");
        if let Some(mut resources) = fields
            .take_some("resources")
            .and_then(|n| shape::read(n, &join(&path, "resources"), &SPARK_RESOURCES, problems))
        {
            // The SDK lower-cases the instance type of a node that names a component.
            if names_component
                && let Some(Value::String(instance)) = resources.get_mut("instance_type")
            {
                *instance = instance.to_ascii_lowercase();
            }
            overrides.insert("resources".into(), resources);
        }
        if let Some(identity) = fields
            .take_some("identity")
            .and_then(|n| shape::read(n, &join(&path, "identity"), &IDENTITY, problems))
        {
            overrides.insert("identity".into(), identity);
        }
        return;
    }
    let env_vars = fields.str_map("environment_variables", problems);
    if !env_vars.is_empty() {
        overrides.insert("environment_variables".into(), json!(env_vars));
    }
    if let Some(resources) = fields
        .take_some("resources")
        .and_then(|n| shape::read(n, &join(&path, "resources"), &COMPONENT_RESOURCES, problems))
    {
        overrides.insert("resources".into(), resources);
    }
    if kind == NodeKind::Sweep {
        return;
    }
    if let Some(distribution) = fields
        .take_some("distribution")
        .and_then(|n| job::read_distribution(n, problems))
    {
        overrides.insert("distribution".into(), distribution);
    }
    if let Some(limits) = fields
        .take_some("limits")
        .and_then(|n| shape::read(n, &join(&path, "limits"), &LIMITS, problems))
    {
        overrides.insert("limits".into(), limits);
    }
    if let Some(identity) = fields
        .take_some("identity")
        .and_then(|n| shape::read(n, &join(&path, "identity"), &IDENTITY, problems))
    {
        overrides.insert("identity".into(), identity);
    }
    if let Some(queue) = fields.take_some("queue_settings").and_then(|n| {
        shape::read(
            n,
            &join(&path, "queue_settings"),
            &job::QUEUE_SETTINGS,
            problems,
        )
    }) {
        overrides.insert("queue_settings".into(), queue);
    }
    if let Some(services) = fields.take_some("services") {
        overrides.insert("services".into(), services.to_json());
    }
}

/// The run settings of a parallel node or component.
pub fn read_parallel_settings(
    fields: &mut Fields<'_>,
    settings: &mut Map<String, Value>,
    problems: &mut Problems,
) {
    for key in [
        "max_concurrency_per_instance",
        "error_threshold",
        "mini_batch_error_threshold",
    ] {
        if let Some(value) = fields.int(key, problems) {
            settings.insert(key.into(), json!(value.value));
        }
    }
    if let Some(level) = fields.choice("logging_level", &["DEBUG", "INFO", "WARNING"], problems) {
        settings.insert("logging_level".into(), json!(level.value));
    }
    if let Some(size) = fields.text("mini_batch_size", problems) {
        settings.insert("mini_batch_size".into(), json!(size.value));
    }
    if let Some(input_data) = fields.str("input_data", problems) {
        settings.insert("input_data".into(), json!(input_data.value));
    }
    let keys = fields.str_list("partition_keys", problems);
    if !keys.is_empty() {
        settings.insert(
            "partition_keys".into(),
            json!(keys.iter().map(|k| k.value.clone()).collect::<Vec<_>>()),
        );
    }
    let path = fields.path().to_owned();
    if let Some(retry) = fields
        .take_some("retry_settings")
        .and_then(|n| component::retry_settings(n, &join(&path, "retry_settings"), problems))
    {
        settings.insert("retry_settings".into(), retry);
    }
}

/// The run settings a parallel node that names a component may override.
fn read_parallel_overrides(
    fields: &mut Fields<'_>,
    overrides: &mut Map<String, Value>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) {
    read_parallel_settings(fields, overrides, problems);
    let path = fields.path().to_owned();
    // TODO(#3): a `task` written on a node that names a parallel component is checked but not
    // sent; the node runs its component's task.
    if let Some(node) = fields.take_some("task") {
        read_parallel_task(node, &join(&path, "task"), file, problems);
    }
}

/// `task:` of a parallel node or component.
pub fn read_parallel_task(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<ParallelTask> {
    let mut fields = Fields::new(node, path, "a parallel task", problems)?;
    let task_type = fields
        .choice("type", &["run_function", "model", "function"], problems)
        .map_or_else(|| "run_function".to_owned(), |t| t.value.to_owned());
    let code = fields
        .take_some("code")
        .and_then(|n| read_code(n, &join(path, "code"), file, problems));
    let environment = fields
        .require("environment", problems)
        .and_then(|n| read_env_source(n, &join(path, "environment"), file, problems));
    let mut settings = Map::new();
    for key in [
        "entry_script",
        "program_arguments",
        "append_row_to",
        "model",
    ] {
        if let Some(value) = fields.str(key, problems) {
            settings.insert(key.into(), json!(value.value));
        }
    }
    fields.finish(problems);
    Some(ParallelTask {
        task_type,
        code,
        environment: environment?,
        settings,
    })
}

fn is_binding(text: &str) -> bool {
    let trimmed = text.trim();
    trimmed.starts_with("${{") && trimmed.ends_with("}}")
}

fn read_node_inputs(
    entries: Vec<&Entry>,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> BTreeMap<String, NodeInput> {
    let mut inputs = BTreeMap::new();
    for entry in entries {
        let name = &entry.key.value;
        let input_path = join(path, name);
        if !job::io_name_ok(name) {
            problems.error(
                &entry.key.loc,
                &input_path,
                format!("`{name}` is not a valid input name: letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        let node = &entry.value;
        let input = match &node.value {
            NodeValue::Scalar(s) if s.kind == ScalarKind::Str && is_binding(&s.text) => {
                Some(NodeInput::Binding {
                    expr: Located::new(s.text.clone(), node.loc.clone()),
                    declared: None,
                })
            }
            NodeValue::Map(_)
                if node
                    .get("path")
                    .and_then(Node::scalar)
                    .is_some_and(|s| is_binding(&s.text)) =>
            {
                let expr = node.get("path").and_then(Node::scalar).map(|s| {
                    Located::new(
                        s.text.clone(),
                        node.get("path").map_or(node.loc.clone(), |p| p.loc.clone()),
                    )
                });
                read_input_mapping(node, &input_path, file, true, problems).map(|declared| {
                    NodeInput::Binding {
                        expr: expr.expect("checked above"),
                        declared: Some(declared),
                    }
                })
            }
            _ => job::read_input(node, &input_path, file, problems).map(|input| match input {
                JobInput::Literal(value) => NodeInput::Literal(value),
                JobInput::Data(data) => NodeInput::Data(data),
            }),
        };
        if let Some(input) = input {
            inputs.insert(name.clone(), input);
        }
    }
    inputs
}

fn read_node_outputs(
    entries: Vec<&Entry>,
    path: &str,
    problems: &mut Problems,
) -> BTreeMap<String, NodeOutput> {
    let mut outputs = BTreeMap::new();
    let mut plain = Vec::new();
    for entry in entries {
        let bound_path = entry
            .value
            .get("path")
            .and_then(Node::scalar)
            .filter(|s| s.kind == ScalarKind::Str && is_binding(&s.text));
        match (entry.value.scalar(), bound_path) {
            (Some(s), _) if s.kind == ScalarKind::Str && is_binding(&s.text) => {
                outputs.insert(
                    entry.key.value.clone(),
                    NodeOutput::Binding(Located::new(s.text.clone(), entry.value.loc.clone())),
                );
            }
            // `{type, path: ${{parent.outputs.x}}}`: the SDK keeps the binding only.
            (_, Some(s)) => {
                let at = entry.value.get("path").map_or(&entry.value.loc, |p| &p.loc);
                outputs.insert(
                    entry.key.value.clone(),
                    NodeOutput::Binding(Located::new(s.text.clone(), at.clone())),
                );
            }
            _ => plain.push(entry),
        }
    }
    for (name, output) in read_outputs(plain, path, problems) {
        outputs.insert(
            name,
            match output {
                None => NodeOutput::Default,
                Some(output) => NodeOutput::Data(output),
            },
        );
    }
    outputs
}

/// The type of every node output another node may bind to, for inferring inline ports.
fn output_types(
    pending: &BTreeMap<String, Pending>,
    parent: &Parent,
) -> BTreeMap<(String, String), PortInfo> {
    let mut types = BTreeMap::new();
    for (name, node) in pending {
        if let Some(ComponentUse::Defined(component)) = &node.node.component {
            for (port, declared) in &component.outputs {
                types.insert(
                    (name.clone(), port.clone()),
                    PortInfo::of(&declared.port_type, None),
                );
            }
        }
        for (port, output) in &node.node.outputs {
            let info = match output {
                NodeOutput::Default => PortInfo::of("uri_folder", None),
                NodeOutput::Data(data) => PortInfo::of(data.output_type, None),
                NodeOutput::Binding(expr) => parent_output(&expr.value, parent)
                    .unwrap_or_else(|| PortInfo::of("uri_folder", None)),
            };
            types.entry((name.clone(), port.clone())).or_insert(info);
        }
    }
    types
}

fn parent_output(expr: &str, parent: &Parent) -> Option<PortInfo> {
    let found = binding::bindings(expr).into_iter().next()?;
    match found.target() {
        Target::ParentOutput(name) => parent.outputs.get(name).cloned(),
        _ => None,
    }
}

/// Builds the anonymous component of an inline node, as the SDK's `_to_component` does.
fn inline_component(
    node: &PipelineNode,
    inline: Inline,
    parent: &Parent,
    types: &BTreeMap<(String, String), PortInfo>,
) -> Component {
    let inputs = node
        .inputs
        .iter()
        .map(|(name, input)| (name.clone(), inferred_input(input, parent, types)))
        .collect();
    let outputs = node
        .outputs
        .iter()
        .map(|(name, output)| (name.clone(), inferred_output(output, parent, &node.loc)))
        .collect();
    // The SDK's inline node hands its resources and distribution to its component too.
    let resources = node.overrides.get("resources").cloned();
    let body = match inline {
        Inline::Command(mut spec) => {
            spec.resources = spec.resources.or(resources);
            spec.distribution = spec
                .distribution
                .or_else(|| node.overrides.get("distribution").cloned());
            ComponentBody::Command(spec)
        }
        Inline::Parallel(mut spec) => {
            if let Some(resources) = resources {
                spec.settings.entry("resources").or_insert(resources);
            }
            ComponentBody::Parallel(spec)
        }
        // A Spark node's resources are the node's: its component has none.
        Inline::Spark(spec) => ComponentBody::Spark(spec),
    };
    Component {
        name: None,
        version: VersionSpec::Unset,
        schema: None,
        display_name: None,
        description: None,
        tags: BTreeMap::new(),
        is_deterministic: None,
        inputs,
        outputs,
        body,
        origin: ComponentOrigin::Job,
        loc: node.loc.clone(),
    }
}

fn port(info: PortInfo, extra: &[(&str, Value)], loc: &crate::diag::Loc) -> Port {
    let mut spec = Map::new();
    spec.insert("type".into(), json!(info.port_type));
    if let Some(mode) = &info.mode {
        spec.insert("mode".into(), json!(mode));
    }
    for (key, value) in extra {
        spec.insert((*key).into(), value.clone());
    }
    Port {
        port_type: info.port_type,
        optional: false,
        spec: Value::Object(spec),
        loc: loc.clone(),
    }
}

fn inferred_input(
    input: &NodeInput,
    parent: &Parent,
    types: &BTreeMap<(String, String), PortInfo>,
) -> Port {
    match input {
        NodeInput::Literal(value) => {
            let port_type = literal_type(&value.value);
            let default = crate::translate::python::coerce(&value.value, port_type)
                .unwrap_or_else(|| value.value.python_str());
            port(
                PortInfo::of(port_type, None),
                &[("default", json!(default))],
                &value.loc,
            )
        }
        NodeInput::Data(data) => port(
            PortInfo::of(data.input_type, data.mode.map(yaml_mode)),
            &description(data),
            &data.loc,
        ),
        NodeInput::Binding {
            declared: Some(data),
            ..
        } => port(
            PortInfo::of(data.input_type, data.mode.map(yaml_mode)),
            &description(data),
            &data.loc,
        ),
        NodeInput::Binding {
            expr,
            declared: None,
        } => port(binding_info(&expr.value, parent, types), &[], &expr.loc),
    }
}

fn description(data: &DataInput) -> Vec<(&'static str, Value)> {
    data.description
        .iter()
        .map(|d| ("description", json!(d)))
        .collect()
}

/// The type (and mode) an input bound to `expr` inherits.
fn binding_info(
    expr: &str,
    parent: &Parent,
    types: &BTreeMap<(String, String), PortInfo>,
) -> PortInfo {
    let Some(found) = binding::bindings(expr).into_iter().next() else {
        return PortInfo::of("uri_folder", None);
    };
    let info = match found.target() {
        Target::ParentInput(name) => parent.inputs.get(name).cloned(),
        Target::ParentOutput(name) => parent.outputs.get(name).cloned(),
        Target::Node {
            node,
            port,
            output: true,
        } => types.get(&(node.to_owned(), port.to_owned())).cloned(),
        _ => None,
    };
    info.unwrap_or_else(|| PortInfo::of("uri_folder", None))
}

fn inferred_output(output: &NodeOutput, parent: &Parent, loc: &crate::diag::Loc) -> Port {
    match output {
        NodeOutput::Default => port(PortInfo::of("uri_folder", None), &[], loc),
        NodeOutput::Data(data) => {
            let extra: Vec<(&str, Value)> = data
                .description
                .iter()
                .map(|d| ("description", json!(d)))
                .collect();
            port(
                PortInfo::of(data.output_type, data.mode.map(yaml_output_mode)),
                &extra,
                &data.loc,
            )
        }
        NodeOutput::Binding(expr) => port(
            parent_output(&expr.value, parent).unwrap_or_else(|| PortInfo::of("uri_folder", None)),
            &[],
            &expr.loc,
        ),
    }
}

/// Checks the `${{parent.…}}` bindings of a node's inputs, outputs and compute.
fn check_node_bindings(
    node: &PipelineNode,
    names: &BTreeSet<String>,
    parent: &Parent,
    path: &str,
    problems: &mut Problems,
) {
    let node_path = join(path, &node.name.value);
    let mut check = |expr: &Located<String>, field: String| {
        for found in binding::bindings(&expr.value) {
            let problem = match found.target() {
                Target::ParentInput(name) if !parent.inputs.contains_key(name) => Some((
                    format!("the pipeline declares no input `{name}`"),
                    did_you_mean(name, parent.inputs.keys().map(String::as_str))
                        .map(|s| format!("did you mean `${{{{parent.inputs.{s}}}}}`?")),
                )),
                Target::ParentOutput(name) if !parent.outputs.contains_key(name) => Some((
                    format!("the pipeline declares no output `{name}`"),
                    did_you_mean(name, parent.outputs.keys().map(String::as_str))
                        .map(|s| format!("did you mean `${{{{parent.outputs.{s}}}}}`?")),
                )),
                Target::Node { node: other, .. } if !names.contains(other) => Some((
                    format!("the pipeline has no node `{other}`"),
                    did_you_mean(other, names.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`?")),
                )),
                Target::Node { node: other, .. } if other == node.name.value => Some((
                    format!("node `{other}` cannot consume its own outputs"),
                    None,
                )),
                _ => None,
            };
            if let Some((message, hint)) = problem {
                let mut diagnostic = Diagnostic::error(format!(
                    "`{}` uses `${{{{{}}}}}`, but {message}",
                    field, found.expr
                ))
                .at(&expr.loc)
                .field(field.clone());
                if let Some(hint) = hint {
                    diagnostic = diagnostic.hint(hint);
                }
                problems.push(diagnostic);
            }
        }
    };
    for (name, input) in &node.inputs {
        if let NodeInput::Binding { expr, .. } = input {
            check(expr, join(&node_path, &format!("inputs.{name}")));
        }
    }
    for (name, output) in &node.outputs {
        if let NodeOutput::Binding(expr) = output {
            check(expr, join(&node_path, &format!("outputs.{name}")));
        }
    }
    if let Some(compute) = &node.compute {
        check(compute, join(&node_path, "compute"));
    }
}

/// Checks that every `${{parent.jobs.n.outputs.o}}` names an output node `n`'s component
/// declares, and that node inputs and outputs are ports of their component.
fn check_edges(graph: &Graph, path: &str, problems: &mut Problems) {
    for node in graph.jobs.values() {
        let node_path = join(path, &node.name.value);
        if let Some(ComponentUse::Defined(component)) = &node.component
            && component.origin == ComponentOrigin::ComponentFile
        {
            check_ports(node, component, &node_path, problems);
        }
        for (name, input) in &node.inputs {
            let NodeInput::Binding { expr, .. } = input else {
                continue;
            };
            for found in binding::bindings(&expr.value) {
                let Target::Node {
                    node: source,
                    port,
                    output,
                } = found.target()
                else {
                    continue;
                };
                let Some(source_node) = graph.jobs.get(source) else {
                    continue;
                };
                let Some(ComponentUse::Defined(component)) = &source_node.component else {
                    continue;
                };
                let ports = if output {
                    &component.outputs
                } else {
                    &component.inputs
                };
                if ports.contains_key(port) {
                    continue;
                }
                let section = if output { "outputs" } else { "inputs" };
                let mut diagnostic = Diagnostic::error(format!(
                    "`{}` uses `${{{{{}}}}}`, but node `{source}` has no {} `{port}`",
                    join(&node_path, &format!("inputs.{name}")),
                    found.expr,
                    section.trim_end_matches('s')
                ))
                .at(&expr.loc)
                .field(join(&node_path, &format!("inputs.{name}")));
                if let Some(s) = did_you_mean(port, ports.keys().map(String::as_str)) {
                    diagnostic = diagnostic.hint(format!(
                        "did you mean `${{{{parent.jobs.{source}.{section}.{s}}}}}`?"
                    ));
                }
                problems.push(diagnostic);
            }
        }
    }
}

/// A node naming a component file may only set that component's ports.
fn check_ports(node: &PipelineNode, component: &Component, path: &str, problems: &mut Problems) {
    let report =
        |name: &str, section: &str, ports: &BTreeMap<String, Port>, problems: &mut Problems| {
            // `az ml` accepts (and sends) ports a component does not declare; Azure ignores them.
            let mut diagnostic = Diagnostic::warning(format!(
                "node `{}` sets {} `{name}`, which its component does not declare",
                node.name.value,
                section.trim_end_matches('s')
            ))
            .at(&node.loc)
            .field(join(path, &format!("{section}.{name}")));
            if let Some(s) = did_you_mean(name, ports.keys().map(String::as_str)) {
                diagnostic = diagnostic.hint(format!("did you mean `{s}`?"));
            }
            problems.push(diagnostic);
        };
    for name in node.inputs.keys() {
        if !component.inputs.contains_key(name) {
            report(name, "inputs", &component.inputs, problems);
        }
    }
    for name in node.outputs.keys() {
        if !component.outputs.contains_key(name) {
            report(name, "outputs", &component.outputs, problems);
        }
    }
}

/// Checks the command of an inline node against its inferred ports.
pub fn check_inline_command(component: &Component, problems: &mut Problems) {
    if let ComponentBody::Command(spec) = &component.body {
        check_command_bindings(
            &spec.command,
            &component.inputs,
            &component.outputs,
            problems,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Manifest, read_text};
    use crate::model::{JobBody, Spec};

    fn read(text: &str) -> Manifest {
        read_text(std::path::Path::new("/nonexistent/p/pipeline.yml"), text)
    }

    fn pipeline(manifest: &Manifest) -> &PipelineJob {
        match &manifest.resources[0].spec {
            Spec::Job(job) => match &job.body {
                JobBody::Pipeline(pipeline) => pipeline,
                _ => panic!("not a pipeline"),
            },
            _ => panic!("not a job"),
        }
    }

    fn inline_port(pipeline: &PipelineJob, node: &str, input: bool, port: &str) -> Value {
        let Some(ComponentUse::Defined(component)) = &pipeline.graph.jobs[node].component else {
            panic!("inline")
        };
        let ports = if input {
            &component.inputs
        } else {
            &component.outputs
        };
        ports[port].spec.clone()
    }

    const ENV: &str = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest";

    #[test]
    fn inline_nodes_infer_their_ports_from_bindings() {
        let manifest = read(&format!(
            "type: pipeline\ninputs:\n  n: 3\n  lr: 0.5\n  data:\n    type: mltable\n    path: azureml:d:1\n    mode: direct\noutputs:\n  model:\n    type: mlflow_model\n    mode: upload\njobs:\n  a:\n    command: echo ${{{{inputs.n}}}} ${{{{inputs.data}}}} ${{{{inputs.flag}}}} > ${{{{outputs.o}}}}\n    environment: {ENV}\n    inputs:\n      n: ${{{{parent.inputs.n}}}}\n      data: ${{{{parent.inputs.data}}}}\n      flag: true\n    outputs:\n      o:\n  b:\n    command: cat ${{{{inputs.x}}}} > ${{{{outputs.m}}}}\n    environment: {ENV}\n    inputs:\n      x: ${{{{parent.jobs.a.outputs.o}}}}\n    outputs:\n      m: ${{{{parent.outputs.model}}}}\n"
        ));
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
        let pipeline = pipeline(&manifest);
        assert_eq!(
            inline_port(pipeline, "a", true, "n"),
            json!({"type": "integer"})
        );
        assert_eq!(
            inline_port(pipeline, "a", true, "data"),
            json!({"type": "mltable", "mode": "direct"})
        );
        assert_eq!(
            inline_port(pipeline, "a", true, "flag"),
            json!({"type": "boolean", "default": "True"})
        );
        assert_eq!(
            inline_port(pipeline, "a", false, "o"),
            json!({"type": "uri_folder"})
        );
        assert_eq!(
            inline_port(pipeline, "b", true, "x"),
            json!({"type": "uri_folder"})
        );
        assert_eq!(
            inline_port(pipeline, "b", false, "m"),
            json!({"type": "mlflow_model", "mode": "upload"})
        );
    }

    #[test]
    fn bindings_name_declared_nodes_and_ports() {
        let manifest = read(&format!(
            "type: pipeline\ninputs:\n  rows: 1\njobs:\n  make:\n    command: echo ${{{{inputs.r}}}}\n    environment: {ENV}\n    inputs:\n      r: ${{{{parent.inputs.row}}}}\n  Read:\n    command: echo\n    environment: {ENV}\n  read:\n    command: cat ${{{{inputs.t}}}}\n    environment: {ENV}\n    inputs:\n      t: ${{{{parent.jobs.mak.outputs.out}}}}\n"
        ));
        let messages: Vec<String> = manifest
            .diagnostics
            .errors()
            .map(|d| format!("{} {:?}", d.message, d.hints))
            .collect();
        let expected = [
            "the pipeline declares no input `row`",
            "did you mean `${{parent.inputs.rows}}`?",
            "`Read` is not a valid node name",
            "the pipeline has no node `mak`",
            "did you mean `make`?",
        ];
        for text in expected {
            assert!(
                messages.iter().any(|m| m.contains(text)),
                "{text:?} not in {messages:#?}"
            );
        }
    }

    #[test]
    fn cycles_name_both_ends() {
        let manifest = read(&format!(
            "type: pipeline\njobs:\n  a:\n    command: echo ${{{{inputs.x}}}}\n    environment: {ENV}\n    inputs:\n      x: ${{{{parent.jobs.b.outputs.o}}}}\n    outputs:\n      o:\n  b:\n    command: echo ${{{{inputs.x}}}}\n    environment: {ENV}\n    inputs:\n      x: ${{{{parent.jobs.a.outputs.o}}}}\n    outputs:\n      o:\n"
        ));
        let error = manifest.diagnostics.errors().next().expect("an error");
        assert_eq!(
            error.message,
            "nodes `a`, `b` wait for each other's outputs: node `a` reads node `b`, which depends on it"
        );
    }

    #[test]
    fn settings_keep_unknown_keys_with_a_warning() {
        let manifest = read(&format!(
            "type: pipeline\nsettings:\n  default_compute: azureml:cpu\n  default_datestore: azureml:ws\njobs:\n  a:\n    command: echo\n    environment: {ENV}\n"
        ));
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
        let warning = manifest.diagnostics.warnings().next().expect("a warning");
        assert!(
            warning.message.contains("default_datestore"),
            "{}",
            warning.message
        );
        assert_eq!(
            warning.hints,
            vec!["did you mean `default_datastore`?".to_owned()]
        );
        let settings = &pipeline(&manifest).settings;
        assert_eq!(settings.other["default_datestore"], json!("azureml:ws"));
        assert_eq!(
            settings.default_compute.as_ref().unwrap().value,
            "azureml:cpu"
        );
    }

    #[test]
    fn component_files_load_leniently_and_set_the_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.yml"),
            format!("name: r-iris\nversion: 01\ntype: command\nbogus: 1\ninputs:\n  x:\n    type: uri_folder\ncommand: ls ${{{{inputs.x}}}}\nenvironment: {ENV}\n"),
        )
        .unwrap();
        let text = "type: pipeline\njobs:\n  a:\n    component: ./c.yml\n    inputs:\n      x:\n        type: uri_folder\n        path: azureml://datastores/ws/paths/x/\n  b:\n    component: file:./c.yml\n";
        let manifest = read_text(&dir.path().join("p.yml"), text);
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
        assert!(
            manifest
                .diagnostics
                .warnings()
                .any(|w| w.message.contains("bogus"))
        );
        let pipeline = pipeline(&manifest);
        let origin = |node: &str| match &pipeline.graph.jobs[node].component {
            Some(ComponentUse::Defined(c)) => (c.origin, c.name.is_none()),
            _ => panic!("defined"),
        };
        assert_eq!(origin("a"), (ComponentOrigin::ComponentFile, true));
        assert_eq!(origin("b"), (ComponentOrigin::Job, true));
    }

    #[test]
    fn other_node_kinds_are_unsupported() {
        let manifest =
            read("type: pipeline\njobs:\n  s:\n    type: data_transfer\n    component: ./s.yml\n");
        let error = manifest.diagnostics.errors().next().expect("an error");
        assert_eq!(error.message, "unsupported kind: data transfer node");
        assert_eq!(error.loc.as_ref().unwrap().line, 4);
    }
}
