//! Components as the SDK sends them: the `componentSpec` (the component file as the SDK's
//! schema dumps it, references resolved) inside a component version.

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::{Resolve, prune_empty};
use crate::model::{
    CommandSpec, Component, ComponentBody, ComponentOrigin, ParallelSpec, Port, VersionSpec,
};

/// The name the SDK gives every anonymous component.
pub const ANONYMOUS_COMPONENT: &str = "azureml_anonymous";

/// The specification of `component`, references resolved through `resolve`.
pub fn component_spec(component: &Component, resolve: &mut dyn Resolve) -> Value {
    let mut spec = Map::new();
    if let Some(schema) = &component.schema {
        spec.insert("$schema".into(), json!(schema));
    }
    spec.insert("_source".into(), json!(component.origin.source_tag()));
    let (name, version) = match &component.name {
        Some(name) => (name.value.clone(), registered_version(component)),
        None => (ANONYMOUS_COMPONENT.to_owned(), Some("1".to_owned())),
    };
    spec.insert("name".into(), json!(name));
    if let Some(version) = version {
        spec.insert("version".into(), json!(version));
    }
    spec.insert("type".into(), json!(component.type_name()));
    if let Some(display_name) = &component.display_name {
        spec.insert("display_name".into(), json!(display_name));
    }
    if let Some(description) = &component.description {
        spec.insert("description".into(), json!(description));
    }
    spec.insert("tags".into(), json!(component.tags));
    spec.insert("inputs".into(), ports(&component.inputs));
    spec.insert("outputs".into(), ports(&component.outputs));
    match &component.body {
        ComponentBody::Command(command) => {
            spec.insert(
                "is_deterministic".into(),
                json!(component.is_deterministic.unwrap_or(true)),
            );
            command_fields(command, &mut spec, resolve);
        }
        ComponentBody::Parallel(parallel) => {
            spec.insert(
                "is_deterministic".into(),
                json!(component.is_deterministic.unwrap_or(true)),
            );
            parallel_fields(parallel, &mut spec, resolve);
        }
        ComponentBody::Spark(spark) => {
            spec.insert(
                "is_deterministic".into(),
                json!(component.is_deterministic.unwrap_or(true)),
            );
            if let Some(code) = &spark.code
                && let Some(id) = resolve.code(code, &[])
            {
                spec.insert("code".into(), json!(asset_reference(&id)));
            }
            if let Some(environment) = &spark.environment
                && let Some(id) = resolve.environment(environment)
            {
                spec.insert("environment".into(), json!(asset_reference(&id)));
            }
            for (key, value) in &spark.settings {
                spec.insert(key.clone(), value.clone());
            }
        }
        ComponentBody::Pipeline(graph) => {
            spec.insert("jobs".into(), super::pipeline::nodes(graph, resolve));
            // The SDK's pipeline component always carries this field, empty.
            spec.insert("sourceJobId".into(), Value::Null);
        }
    }
    let keep_null = matches!(component.body, ComponentBody::Pipeline(_));
    let mut pruned = prune_empty(Value::Object(spec));
    if keep_null && let Some(map) = pruned.as_object_mut() {
        map.insert("sourceJobId".into(), Value::Null);
    }
    pruned
}

/// The version a registered component's specification names: the manifest's (`auto` and
/// unset versions are settled by the planner and passed as `resolve`d paths instead).
fn registered_version(component: &Component) -> Option<String> {
    match &component.version {
        VersionSpec::Exact(v) => Some(v.value.clone()),
        _ => None,
    }
}

fn ports(ports: &std::collections::BTreeMap<String, Port>) -> Value {
    Value::Object(
        ports
            .iter()
            .map(|(name, port)| (name.clone(), port.spec.clone()))
            .collect(),
    )
}

fn command_fields(command: &CommandSpec, spec: &mut Map<String, Value>, resolve: &mut dyn Resolve) {
    spec.insert("command".into(), json!(command.command.value));
    if let Some(code) = &command.code
        && let Some(id) = resolve.code(code, &command.include_paths)
    {
        spec.insert("code".into(), json!(asset_reference(&id)));
    }
    if let Some(id) = resolve.environment(&command.environment) {
        spec.insert("environment".into(), json!(asset_reference(&id)));
    }
    if let Some(distribution) = &command.distribution {
        spec.insert("distribution".into(), distribution.clone());
    }
    if let Some(resources) = &command.resources {
        spec.insert("resources".into(), resources.clone());
    }
    if let Some(queue) = &command.queue_settings {
        spec.insert("queue_settings".into(), queue.clone());
    }
    if !command.environment_variables.is_empty() {
        spec.insert(
            "environment_variables".into(),
            json!(command.environment_variables),
        );
    }
    if !command.properties.is_empty() {
        spec.insert("properties".into(), json!(command.properties));
    }
    if !command.additional_includes.is_empty() {
        spec.insert(
            "additional_includes".into(),
            json!(
                command
                    .additional_includes
                    .iter()
                    .map(|i| i.value.clone())
                    .collect::<Vec<_>>()
            ),
        );
    }
}

/// The `task` and run settings of a parallel component or node.
pub fn parallel_fields(
    parallel: &ParallelSpec,
    spec: &mut Map<String, Value>,
    resolve: &mut dyn Resolve,
) {
    let mut task = parallel.task.settings.clone();
    task.insert("type".into(), json!(parallel.task.task_type));
    if let Some(code) = &parallel.task.code
        && let Some(id) = resolve.code(code, &[])
    {
        task.insert("code".into(), json!(asset_reference(&id)));
    }
    if let Some(id) = resolve.environment(&parallel.task.environment) {
        task.insert("environment".into(), json!(asset_reference(&id)));
    }
    spec.insert("task".into(), Value::Object(task));
    // The SDK's parallel component always has a mini-batch size, 0 unless given.
    spec.insert("mini_batch_size".into(), json!("0"));
    for (key, value) in &parallel.settings {
        let value = match key.as_str() {
            "mini_batch_size" => {
                mini_batch_size(value).map_or_else(|| value.clone(), |n| json!(n.to_string()))
            }
            // Sent as the JSON text of the list.
            "partition_keys" => json!(super::python::json_dumps(value)),
            _ => value.clone(),
        };
        spec.insert(key.clone(), value);
    }
}

/// `mini_batch_size` in bytes or items: `10kb` is 10240, `5` is 5.
pub fn mini_batch_size(value: &Value) -> Option<u64> {
    let text = match value {
        Value::String(s) => s.trim().to_ascii_lowercase(),
        Value::Number(n) => return n.as_u64(),
        _ => return None,
    };
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = digits.parse().ok()?;
    let factor = match unit.trim() {
        "" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => return None,
    };
    Some(number * factor)
}

/// An ARM id as components name code and environments (`azureml:/subscriptions/…`); registry
/// and curated references stay as written.
pub fn asset_reference(id: &str) -> String {
    if id.starts_with('/') {
        format!("azureml:{id}")
    } else {
        id.to_owned()
    }
}

/// The PUT body of a component version holding `spec`.
pub fn component_version(component: &Component, spec: &Value) -> Value {
    let mut properties = Map::new();
    properties.insert("componentSpec".into(), spec.clone());
    if let Some(description) = &component.description {
        properties.insert("description".into(), json!(description));
    }
    let anonymous = component.name.is_none();
    let pipeline = matches!(component.body, ComponentBody::Pipeline(_));
    properties.insert("isAnonymous".into(), json!(anonymous));
    // The SDK's pipeline components carry neither the archived flag nor the client hash.
    if !pipeline {
        properties.insert("isArchived".into(), json!(false));
    }
    let mut own = Map::new();
    if !anonymous && !pipeline {
        own.insert(
            "client_component_hash".into(),
            json!(component_hash(spec, &["version", "_source"])),
        );
    }
    properties.insert("properties".into(), Value::Object(own));
    properties.insert("tags".into(), json!(component.tags));
    json!({ "properties": properties })
}

/// The version the SDK gives an anonymous component: a hash of its specification.
pub fn anonymous_version(spec: &Value) -> String {
    component_hash(spec, &["name", "version", "_source", "id"])
}

/// The SDK's `hash_dict`: SHA-256 of Python's `json.dumps(spec, sort_keys=True)` without
/// `omit`, written as a UUID.
fn component_hash(spec: &Value, omit: &[&str]) -> String {
    let empty = Map::new();
    let map = spec.as_object().unwrap_or(&empty);
    // The SDK hashes a parallel component's partition keys as the list they are, and sends
    // them as the list's JSON text.
    let keys = map
        .get("partition_keys")
        .and_then(Value::as_str)
        .and_then(|keys| serde_json::from_str::<Value>(keys).ok());
    let mut hashed: Map<String, Value> = Map::new();
    let mut shown: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(k, _)| !omit.contains(&k.as_str()))
        .collect();
    if let Some(keys) = &keys {
        hashed.insert("partition_keys".into(), keys.clone());
        shown.retain(|(k, _)| k.as_str() != "partition_keys");
        shown.extend(hashed.iter());
    }
    let text = super::python::json_dumps_entries(shown);
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

/// Whether a component was defined with the job rather than registered on its own.
pub fn is_anonymous(component: &Component) -> bool {
    component.name.is_none() || component.origin == ComponentOrigin::Job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_versions_hash_the_specification_as_the_sdk_does() {
        // A component of `cli/jobs/basics/hello-pipeline-io.yml`, with the version the SDK gave it.
        let spec = json!({
            "_source": "YAML.JOB",
            "command": "echo \"hello\" && echo \"world\" > ${{outputs.world_output}}/world.txt",
            "environment": "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
            "is_deterministic": true,
            "name": "azureml_anonymous",
            "outputs": {"world_output": {"type": "uri_folder"}},
            "type": "command",
            "version": "1",
        });
        assert_eq!(
            anonymous_version(&spec),
            "4cc06ea3-1d89-1537-e535-32597689d184"
        );
    }

    #[test]
    fn partition_keys_hash_as_a_list() {
        let sent = json!({"type": "parallel", "partition_keys": "[\"a\", \"b\"]"});
        let listed = json!({"type": "parallel", "partition_keys": ["a", "b"]});
        assert_eq!(anonymous_version(&sent), component_hash(&listed, &[]));
    }

    #[test]
    fn mini_batch_sizes() {
        assert_eq!(mini_batch_size(&json!("10kb")), Some(10240));
        assert_eq!(mini_batch_size(&json!("5")), Some(5));
        assert_eq!(mini_batch_size(&json!("2MB")), Some(2 << 20));
        assert_eq!(mini_batch_size(&json!("x")), None);
    }
}
