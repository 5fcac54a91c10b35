//! Pipeline and sweep jobs, and pipeline nodes, as the SDK sends them.
//!
//! A pipeline job's body uses the REST API's camelCase at its top level, while each node is
//! the SDK's own node dictionary (snake_case, `job_input_type`, `_source`), passed through by
//! the service as written.

use serde_json::{Map, Value, json};

use super::component::{mini_batch_size, parallel_fields};
use super::{Resolve, iso_duration, job_input_value, job_output_value, prune_empty};
use crate::model::{
    ComponentOrigin, ComponentUse, Graph, Job, JobBody, Node, NodeInput, NodeKind, NodeOutput,
    PipelineJob, SweepJob, SweepSettings,
};

/// The properties every job body shares.
fn job_properties(job: &Job, job_type: &str, name: &str, experiment: &str) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert("jobType".into(), json!(job_type));
    properties.insert(
        "displayName".into(),
        json!(job.display_name.clone().unwrap_or_else(|| name.to_owned())),
    );
    properties.insert(
        "experimentName".into(),
        json!(
            job.experiment_name
                .clone()
                .unwrap_or_else(|| experiment.to_owned())
        ),
    );
    if let Some(description) = &job.common.description {
        properties.insert("description".into(), json!(description));
    }
    properties.insert("tags".into(), json!(job.common.tags));
    properties.insert("properties".into(), json!(job.common.properties));
    properties.insert("isArchived".into(), json!(false));
    properties
}

/// The PUT body of a pipeline job named `name`.
pub fn pipeline_job(job: &Job, name: &str, experiment: &str, resolve: &mut dyn Resolve) -> Value {
    let JobBody::Pipeline(pipeline) = &job.body else {
        return Value::Null;
    };
    let mut properties = job_properties(job, "Pipeline", name, experiment);
    if let Some(compute) = &job.compute
        && let Some(id) = resolve.compute(compute)
    {
        properties.insert("computeId".into(), json!(id));
    }
    properties.insert("inputs".into(), job_inputs(pipeline, resolve));
    let outputs: Map<String, Value> = pipeline
        .outputs
        .iter()
        .map(|(name, output)| (name.clone(), job_output_value(output.as_ref())))
        .collect();
    properties.insert("outputs".into(), Value::Object(outputs));
    properties.insert("settings".into(), settings(pipeline, resolve));
    properties.insert("jobs".into(), nodes(&pipeline.graph, resolve));
    json!({ "properties": properties })
}

fn job_inputs(pipeline: &PipelineJob, resolve: &mut dyn Resolve) -> Value {
    let mut inputs = Map::new();
    for (name, input) in &pipeline.inputs {
        let uri = match input {
            crate::model::JobInput::Data(data) => resolve.data_input(data),
            crate::model::JobInput::Literal(_) => None,
        };
        inputs.insert(name.clone(), job_input_value(input, uri.as_ref()));
    }
    Value::Object(inputs)
}

fn settings(pipeline: &PipelineJob, resolve: &mut dyn Resolve) -> Value {
    let mut settings = Map::new();
    settings.insert("_source".into(), json!(ComponentOrigin::Job.source_tag()));
    if let Some(compute) = &pipeline.settings.default_compute
        && let Some(id) = resolve.compute(compute)
    {
        settings.insert("default_compute".into(), json!(id));
    }
    if let Some(datastore) = &pipeline.settings.default_datastore {
        settings.insert(
            "default_datastore".into(),
            json!(resolve.datastore(datastore)),
        );
    }
    for (key, value) in &pipeline.settings.other {
        settings.insert(key.clone(), value.clone());
    }
    Value::Object(settings)
}

/// The nodes of a pipeline job or component, each as the SDK's node dictionary.
pub fn nodes(graph: &Graph, resolve: &mut dyn Resolve) -> Value {
    Value::Object(
        graph
            .jobs
            .iter()
            .map(|(name, node)| (name.clone(), node_body(node, resolve)))
            .collect(),
    )
}

fn node_body(node: &Node, resolve: &mut dyn Resolve) -> Value {
    if let Some(settings) = &node.automl {
        return super::automl::node(node, settings, resolve);
    }
    let mut body = Map::new();
    body.insert("name".into(), json!(node.name.value));
    body.insert("type".into(), json!(node.kind.as_str()));
    if let Some(usage) = &node.component {
        body.insert("_source".into(), json!(source_tag(usage)));
    }
    let component_id = node
        .component
        .as_ref()
        .and_then(|usage| resolve.component(usage));
    if node.kind == NodeKind::Sweep {
        if let Some(id) = component_id {
            body.insert("trial".into(), json!({ "componentId": id }));
        }
    } else if let Some(id) = component_id {
        body.insert("componentId".into(), json!(id));
    }
    if let Some(compute) = &node.compute
        && let Some(id) = resolve.compute(compute)
    {
        body.insert("computeId".into(), json!(id));
    }
    // The SDK drops the inputs a component file does not declare.
    let declared = match &node.component {
        Some(ComponentUse::Defined(component)) => Some(&component.inputs),
        _ => None,
    };
    let inputs: Map<String, Value> = node
        .inputs
        .iter()
        .filter(|(name, _)| declared.is_none_or(|ports| ports.contains_key(*name)))
        .map(|(name, input)| (name.clone(), node_input(input, resolve)))
        .collect();
    body.insert("inputs".into(), Value::Object(inputs));
    body.insert("outputs".into(), node_outputs(node));
    for (key, value) in &node.overrides {
        body.insert(key.clone(), node_override(key, value));
    }
    if node.kind == NodeKind::Parallel {
        parallel_node_fields(node, &mut body, resolve);
    }
    if node.kind == NodeKind::Spark {
        spark_node_fields(node, &mut body);
    }
    if let Some(sweep) = &node.sweep {
        sweep_node_fields(sweep, &mut body);
    }
    prune_empty(Value::Object(body))
}

/// What the SDK records as a node's `_source`: where its component came from.
fn source_tag(usage: &ComponentUse) -> &'static str {
    match usage {
        ComponentUse::Defined(component) => component.origin.source_tag(),
        ComponentUse::Registered(reference) => match &reference.value {
            crate::model::AssetRef::Registry { .. } => "REMOTE.REGISTRY",
            _ => "REMOTE.WORKSPACE.COMPONENT",
        },
    }
}

/// Node settings in the node vocabulary: distributions name their type as the REST API does.
fn node_override(key: &str, value: &Value) -> Value {
    match key {
        "distribution" => {
            let mut out = value.as_object().cloned().unwrap_or_default();
            if let Some(kind) = out.remove("type") {
                let rest = match kind.as_str().unwrap_or_default() {
                    "mpi" => "Mpi",
                    "pytorch" => "PyTorch",
                    "tensorflow" => "TensorFlow",
                    "ray" => "Ray",
                    other => other,
                }
                .to_owned();
                out.insert("distribution_type".into(), json!(rest));
            }
            Value::Object(out)
        }
        "mini_batch_size" => mini_batch_size(value).map_or(value.clone(), |n| json!(n)),
        "identity" => {
            let kind = match value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "user_identity" => "UserIdentity",
                "managed" | "managed_identity" => "Managed",
                _ => "AMLToken",
            };
            let mut out = Map::new();
            out.insert("identity_type".into(), json!(kind));
            if let Some(map) = value.as_object() {
                for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "type") {
                    let key = if key == "msi_resource_id" {
                        "resource_id"
                    } else {
                        key
                    };
                    out.insert(key.into(), value.clone());
                }
            }
            Value::Object(out)
        }
        "partition_keys" => json!(super::python::json_dumps(value)),
        "limits" => {
            let mut out = Map::new();
            out.insert("job_limits_type".into(), json!("Command"));
            if let Some(timeout) = value.get("timeout") {
                let timeout = timeout
                    .as_i64()
                    .map_or(timeout.clone(), |s| json!(iso_duration(s)));
                out.insert("timeout".into(), timeout);
            }
            Value::Object(out)
        }
        "services" => {
            let rest = super::services_rest(value);
            let Some(map) = rest.as_object() else {
                return rest;
            };
            Value::Object(
                map.iter()
                    .map(|(name, service)| {
                        let mut service = service.as_object().cloned().unwrap_or_default();
                        if let Some(kind) = service.remove("jobServiceType") {
                            service.insert("job_service_type".into(), kind);
                        }
                        (name.clone(), Value::Object(service))
                    })
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

/// A node's outputs as the node dictionary writes them; default outputs are left out.
pub fn node_outputs(node: &Node) -> Value {
    Value::Object(
        node.outputs
            .iter()
            .filter_map(|(name, output)| Some((name.clone(), node_output(output)?)))
            .collect(),
    )
}

/// What a Spark node repeats of its component (`entry`, `args`, `conf`, the files it ships),
/// and the identity it runs as: the one it names, else a managed identity on a compute, else
/// the user's identity on serverless Spark.
fn spark_node_fields(node: &Node, body: &mut Map<String, Value>) {
    let Some(ComponentUse::Defined(component)) = &node.component else {
        return;
    };
    let crate::model::ComponentBody::Spark(spark) = &component.body else {
        return;
    };
    for (key, value) in &spark.settings {
        let value = match key.as_str() {
            "entry" => {
                let mut entry = value.as_object().cloned().unwrap_or_default();
                let kind = if entry.contains_key("class_name") {
                    "SparkJobScalaEntry"
                } else {
                    "SparkJobPythonEntry"
                };
                entry.insert("spark_job_entry_type".into(), json!(kind));
                Value::Object(entry)
            }
            "conf" => spark_node_conf(value),
            _ => value.clone(),
        };
        body.entry(key.clone()).or_insert(value);
    }
    if !node.overrides.contains_key("identity") {
        let identity = if node.compute.is_some() {
            Some("Managed")
        } else if node.overrides.contains_key("resources") {
            Some("UserIdentity")
        } else {
            None
        };
        if let Some(identity) = identity {
            body.insert("identity".into(), json!({ "identity_type": identity }));
        }
    }
}

/// A Spark node's `conf`: its component's, with the executor count a dynamic allocation
/// starts from, as the SDK fills it in.
fn spark_node_conf(conf: &Value) -> Value {
    let mut conf = conf.as_object().cloned().unwrap_or_default();
    let dynamic = conf
        .get("spark.dynamicAllocation.enabled")
        .is_some_and(|v| {
            v.as_bool() == Some(true) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        });
    if dynamic
        && !conf.contains_key("spark.executor.instances")
        && let Some(min) = conf.get("spark.dynamicAllocation.minExecutors").cloned()
    {
        conf.insert("spark.executor.instances".into(), min);
    }
    Value::Object(conf)
}

fn parallel_node_fields(node: &Node, body: &mut Map<String, Value>, resolve: &mut dyn Resolve) {
    let Some(ComponentUse::Defined(component)) = &node.component else {
        return;
    };
    let crate::model::ComponentBody::Parallel(parallel) = &component.body else {
        return;
    };
    if component.origin != ComponentOrigin::Job {
        return;
    }
    let mut fields = Map::new();
    parallel_fields(parallel, &mut fields, resolve);
    for (key, value) in fields {
        let value = if key == "mini_batch_size" {
            mini_batch_size(&value).map_or(value, |n| json!(n))
        } else {
            value
        };
        body.entry(key).or_insert(value);
    }
}

fn sweep_node_fields(sweep: &SweepSettings, body: &mut Map<String, Value>) {
    body.insert(
        "search_space".into(),
        Value::Object(sweep.search_space.clone()),
    );
    body.insert(
        "sampling_algorithm".into(),
        sweep.sampling_algorithm.clone(),
    );
    body.insert("objective".into(), sweep.objective.clone());
    body.insert("limits".into(), sweep.limits.clone());
    if let Some(policy) = &sweep.early_termination {
        body.insert("early_termination".into(), policy.clone());
    }
    if let Some(queue) = &sweep.queue_settings {
        body.insert("queue_settings".into(), queue.clone());
    }
}

fn node_input(input: &NodeInput, resolve: &mut dyn Resolve) -> Value {
    match input {
        NodeInput::Literal(value) => {
            json!({"job_input_type": "literal", "value": value.value.python_str()})
        }
        NodeInput::Binding { expr, declared } => {
            let mut body = Map::new();
            body.insert("job_input_type".into(), json!("literal"));
            body.insert("value".into(), json!(expr.value));
            if let Some(mode) = declared.as_ref().and_then(|d| d.mode) {
                body.insert("mode".into(), json!(mode));
            }
            Value::Object(body)
        }
        NodeInput::Data(data) => {
            let mut body = Map::new();
            body.insert("job_input_type".into(), json!(data.input_type));
            if let Some(uri) = resolve.data_input(data) {
                body.insert("uri".into(), json!(uri));
            }
            if let Some(mode) = data.mode {
                body.insert("mode".into(), json!(mode));
            }
            if let Some(description) = &data.description {
                body.insert("description".into(), json!(description));
            }
            Value::Object(body)
        }
    }
}

fn node_output(output: &NodeOutput) -> Option<Value> {
    match output {
        NodeOutput::Default => None,
        NodeOutput::Binding(expr) => Some(json!({"type": "literal", "value": expr.value})),
        NodeOutput::Data(data) => {
            let mut body = Map::new();
            body.insert("job_output_type".into(), json!(data.output_type));
            if let Some(path) = &data.path {
                body.insert("uri".into(), json!(path.value));
            }
            if let Some(mode) = data.mode {
                body.insert("mode".into(), json!(mode));
            }
            if let Some(name) = &data.asset_name {
                body.insert("name".into(), json!(name));
            }
            if let Some(version) = &data.asset_version {
                body.insert("version".into(), json!(version));
            }
            if let Some(description) = &data.description {
                body.insert("description".into(), json!(description));
            }
            Some(Value::Object(body))
        }
    }
}

/// The PUT body of a sweep job named `name`. The trial's command, code and environment are
/// sent inline, as the SDK sends them.
pub fn sweep_job(job: &Job, name: &str, experiment: &str, resolve: &mut dyn Resolve) -> Value {
    let JobBody::Sweep(sweep) = &job.body else {
        return Value::Null;
    };
    let mut properties = job_properties(job, "Sweep", name, experiment);
    if let Some(compute) = &job.compute
        && let Some(id) = resolve.compute(compute)
    {
        properties.insert("computeId".into(), json!(id));
    }
    let inputs: Map<String, Value> = sweep
        .inputs
        .iter()
        .map(|(name, input)| {
            let uri = match input {
                crate::model::JobInput::Data(data) => resolve.data_input(data),
                crate::model::JobInput::Literal(_) => None,
            };
            (name.clone(), job_input_value(input, uri.as_ref()))
        })
        .collect();
    properties.insert("inputs".into(), Value::Object(inputs));
    let outputs: Map<String, Value> = sweep
        .outputs
        .iter()
        .map(|(name, output)| (name.clone(), job_output_value(output.as_ref())))
        .collect();
    properties.insert("outputs".into(), Value::Object(outputs));
    properties.insert("trial".into(), trial(sweep, resolve));
    sweep_settings(&sweep.settings, &mut properties);
    json!({ "properties": properties })
}

fn trial(sweep: &SweepJob, resolve: &mut dyn Resolve) -> Value {
    let mut trial = Map::new();
    let ComponentUse::Defined(component) = &sweep.trial else {
        if let Some(id) = resolve.component(&sweep.trial) {
            trial.insert("componentId".into(), json!(id));
        }
        return Value::Object(trial);
    };
    let crate::model::ComponentBody::Command(command) = &component.body else {
        return Value::Object(trial);
    };
    trial.insert("command".into(), json!(command.command.value));
    if let Some(code) = &command.code
        && let Some(id) = resolve.code(code, &command.include_paths)
    {
        trial.insert("codeId".into(), json!(id));
    }
    if let Some(id) = resolve.environment(&command.environment) {
        trial.insert("environmentId".into(), json!(id));
    }
    trial.insert(
        "environmentVariables".into(),
        json!(command.environment_variables),
    );
    if let Some(distribution) = &command.distribution {
        trial.insert(
            "distribution".into(),
            super::distribution_rest(distribution),
        );
    }
    if let Some(resources) = &command.resources {
        trial.insert("resources".into(), super::resources_rest(resources));
    }
    Value::Object(trial)
}

/// Search space, sampling, objective, limits and early termination in the REST API's shape.
fn sweep_settings(settings: &SweepSettings, properties: &mut Map<String, Value>) {
    let space: Map<String, Value> = settings
        .search_space
        .iter()
        .map(|(name, distribution)| (name.clone(), search_expression(distribution)))
        .collect();
    properties.insert("searchSpace".into(), Value::Object(space));
    properties.insert(
        "samplingAlgorithm".into(),
        sampling_rest(&settings.sampling_algorithm),
    );
    let mut objective = Map::new();
    if let Some(goal) = settings.objective.get("goal") {
        objective.insert("goal".into(), goal.clone());
    }
    if let Some(metric) = settings.objective.get("primary_metric") {
        objective.insert("primaryMetric".into(), metric.clone());
    }
    properties.insert("objective".into(), Value::Object(objective));
    let mut limits = Map::new();
    limits.insert("jobLimitsType".into(), json!("Sweep"));
    if let Some(map) = settings.limits.as_object() {
        for (key, value) in map {
            let value = match (key.as_str(), value.as_i64()) {
                ("timeout" | "trial_timeout", Some(seconds)) => json!(iso_duration(seconds)),
                _ => value.clone(),
            };
            limits.insert(super::camel(key), value);
        }
    }
    properties.insert("limits".into(), Value::Object(limits));
    if let Some(policy) = &settings.early_termination {
        properties.insert("earlyTermination".into(), early_termination_rest(policy));
    }
    if let Some(queue) = &settings.queue_settings {
        properties.insert("queueSettings".into(), super::camel_keys(queue));
    }
}

/// A distribution as the REST API's search space writes it: `["choice", [[values]]]`,
/// `["uniform", [min, max]]`, ….
fn search_expression(distribution: &Value) -> Value {
    let kind = distribution
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let get = |key: &str| distribution.get(key).cloned().unwrap_or(Value::Null);
    let arguments = match kind {
        "choice" => json!([get("values")]),
        "randint" => json!([get("upper")]),
        "uniform" | "loguniform" => json!([get("min_value"), get("max_value")]),
        "quniform" | "qloguniform" => json!([get("min_value"), get("max_value"), get("q")]),
        "normal" | "lognormal" => json!([get("mu"), get("sigma")]),
        "qnormal" | "qlognormal" => json!([get("mu"), get("sigma"), get("q")]),
        _ => json!([]),
    };
    json!([kind, arguments])
}

fn sampling_rest(sampling: &Value) -> Value {
    let (kind, extra) = match sampling {
        Value::String(kind) => (kind.as_str(), None),
        Value::Object(map) => (
            map.get("type").and_then(Value::as_str).unwrap_or("random"),
            Some(map),
        ),
        _ => ("random", None),
    };
    let rest_kind = match kind {
        "grid" => "Grid",
        "bayesian" => "Bayesian",
        _ => "Random",
    };
    let mut body = Map::new();
    body.insert("samplingAlgorithmType".into(), json!(rest_kind));
    for (key, value) in extra.into_iter().flatten() {
        if key == "type" {
            continue;
        }
        let value = match (key.as_str(), value.as_str()) {
            ("rule", Some("sobol")) => json!("Sobol"),
            ("rule", Some(_)) => json!("Random"),
            _ => value.clone(),
        };
        body.insert(super::camel(key), value);
    }
    Value::Object(body)
}

fn early_termination_rest(policy: &Value) -> Value {
    let kind = policy
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rest_kind = match kind {
        "bandit" => "Bandit",
        "median_stopping" => "MedianStopping",
        _ => "TruncationSelection",
    };
    let mut body = Map::new();
    body.insert("policyType".into(), json!(rest_kind));
    if let Some(map) = policy.as_object() {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "type") {
            body.insert(super::camel(key), value.clone());
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_spaces_and_sampling_in_rest_shape() {
        assert_eq!(
            search_expression(&json!({"type": "choice", "values": ["a", "b"]})),
            json!(["choice", [["a", "b"]]])
        );
        assert_eq!(
            search_expression(
                &json!({"type": "quniform", "min_value": 1, "max_value": 5.0, "q": 1})
            ),
            json!(["quniform", [1, 5.0, 1]])
        );
        assert_eq!(
            sampling_rest(&json!({"type": "random", "seed": 3, "rule": "sobol"})),
            json!({"samplingAlgorithmType": "Random", "seed": 3, "rule": "Sobol"})
        );
        assert_eq!(
            sampling_rest(&json!("grid")),
            json!({"samplingAlgorithmType": "Grid"})
        );
        assert_eq!(
            early_termination_rest(
                &json!({"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2})
            ),
            json!({"policyType": "Bandit", "slackFactor": 0.1, "evaluationInterval": 2})
        );
    }

    #[test]
    fn spark_nodes_start_dynamic_allocation_at_its_minimum() {
        let conf = json!({"spark.dynamicAllocation.enabled": true, "spark.dynamicAllocation.minExecutors": 2});
        assert_eq!(spark_node_conf(&conf)["spark.executor.instances"], json!(2));
        let fixed = json!({"spark.executor.instances": 4});
        assert_eq!(spark_node_conf(&fixed), fixed);
    }

    #[test]
    fn node_settings_in_the_node_vocabulary() {
        assert_eq!(
            node_override(
                "distribution",
                &json!({"type": "pytorch", "process_count_per_instance": 2})
            ),
            json!({"distribution_type": "PyTorch", "process_count_per_instance": 2})
        );
        assert_eq!(
            node_override("limits", &json!({"timeout": 3600})),
            json!({"job_limits_type": "Command", "timeout": "PT1H"})
        );
        assert_eq!(
            node_override("identity", &json!({"type": "managed", "client_id": "c"})),
            json!({"identity_type": "Managed", "client_id": "c"})
        );
        assert_eq!(
            node_override("partition_keys", &json!(["a"])),
            json!("[\"a\"]")
        );
    }
}
