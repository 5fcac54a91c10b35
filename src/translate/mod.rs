//! Model to ARM request bodies, as `az ml` (azure-ai-ml 1.35.2) sends them.
//!
//! These functions are pure: references are resolved beforehand by the planner and passed
//! in as ARM ids or URIs. The shapes follow the bodies the SDK sends (see the golden files of
//! the conformance corpus), so a workspace managed by amlops looks like one managed by `az ml`.

pub mod automl;
pub mod component;
pub mod compute;
pub mod pipeline;
pub mod python;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::diag::Located;
use crate::model::{
    CodeSource, Common, ComponentUse, Data, DataInput, EnvSource, Environment, JobInput, JobOutput,
};
pub use compute::compute;

/// What the translation needs resolved: references become ARM ids, local content the URIs it
/// is uploaded to, components the ids of their versions. The planner answers, recording the
/// objects each answer depends on; errors are the resolver's to report, and a `None` leaves
/// the field out.
pub trait Resolve {
    /// The ARM id of the code version holding `code`, with `includes` merged in.
    fn code(
        &mut self,
        code: &Located<CodeSource>,
        includes: &[std::path::PathBuf],
    ) -> Option<String>;
    /// The id of the environment (an ARM id, or a registry or curated reference as written).
    fn environment(&mut self, environment: &Located<EnvSource>) -> Option<String>;
    /// The ARM id of a compute, or a binding as written.
    fn compute(&mut self, compute: &Located<String>) -> Option<String>;
    /// Where a data input's data lives.
    fn data_input(&mut self, input: &DataInput) -> Option<String>;
    /// The id of the component version a node or trial runs.
    fn component(&mut self, usage: &ComponentUse) -> Option<String>;
    /// The ARM id of a datastore written as `azureml:<name>`.
    fn datastore(&mut self, datastore: &Located<String>) -> String;
}

/// Removes `null` values and empty mappings, recursively, as the SDK does before sending a
/// component or a node (`convert_ordered_dict_to_dict`).
pub fn prune_empty(mut value: Value) -> Value {
    prune_in_place(&mut value);
    value
}

fn prune_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                prune_in_place(child);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune_in_place(item);
            }
            items.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(Map::is_empty)
}

/// API versions per kind, as the SDK uses them.
pub mod api {
    pub const DATA: &str = "2023-04-01-preview";
    pub const ENVIRONMENT: &str = "2023-04-01-preview";
    pub const CODE: &str = "2023-04-01";
    pub const COMPONENT: &str = "2024-01-01-preview";
    pub const COMPUTE: &str = "2023-08-01-preview";
    pub const COMMAND_JOB: &str = "2025-01-01-preview";
    pub const PIPELINE_JOB: &str = "2024-01-01-preview";
    pub const SWEEP_JOB: &str = "2024-01-01-preview";
    pub const WORKSPACE: &str = "2023-08-01-preview";
    pub const DATASTORE: &str = "2024-10-01-preview";
    /// Azure Resource Manager's Tags API (`Microsoft.Resources/tags`).
    pub const TAGS: &str = "2021-04-01";
    /// Appended to a resource's id, the Tags API's path: a PATCH merges, replaces or deletes
    /// the resource's tags and touches nothing else.
    pub const TAGS_SUFFIX: &str = "/providers/Microsoft.Resources/tags/default";
}

/// The name the SDK gives every anonymous environment.
pub const ANONYMOUS_ENVIRONMENT: &str = "CliV2AnonymousEnvironment";

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Python's `separator.join(iterable_of_chars)`: the SDK joins the characters of a hex digest
/// with the hash built so far, and amlops must reproduce that to name anonymous environments
/// as the SDK does.
fn python_join(separator: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() * (separator.len() + 1));
    for (i, ch) in text.chars().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        out.push(ch);
    }
    out
}

/// The version the SDK gives an anonymous environment built from an image (with an optional
/// conda file and inference configuration), or from a build context whose upload hash is
/// `build_hash`.
pub fn anonymous_environment_version(env: &Environment, build_hash: Option<&str>) -> String {
    let mut hash = String::new();
    if let Some(image) = &env.image {
        hash = python_join(&hash, &sha256_hex(&image.value));
        if let Some(config) = &env.inference_config {
            let dumped = crate::manifest::pydump::dump(&inference_config_yaml(config));
            hash = python_join(&hash, &sha256_hex(&dumped));
        }
        if let Some(conda) = &env.conda_file {
            hash = python_join(&hash, &sha256_hex(&conda.text));
        }
    } else if let Some(build) = &env.build {
        let upload = build_hash.unwrap_or_default();
        hash = python_join(&hash, &sha256_hex(upload));
        if let Some(dockerfile) = &build.dockerfile_path {
            hash = python_join(&hash, &sha256_hex(dockerfile));
        }
    }
    sha256_hex(&hash)
}

/// The inference configuration back in the YAML's snake_case keys, as the SDK hashes it.
fn inference_config_yaml(config: &Value) -> Value {
    let mut out = Map::new();
    for (rest, yaml) in [
        ("livenessRoute", "liveness_route"),
        ("readinessRoute", "readiness_route"),
        ("scoringRoute", "scoring_route"),
    ] {
        if let Some(route) = config.get(rest) {
            out.insert(yaml.into(), route.clone());
        }
    }
    Value::Object(out)
}

fn common_properties(body: &mut Map<String, Value>, common: &Common, with_empty_maps: bool) {
    if let Some(description) = &common.description {
        body.insert("description".into(), json!(description));
    }
    if with_empty_maps || !common.tags.is_empty() {
        body.insert("tags".into(), json!(common.tags));
    }
    if with_empty_maps || !common.properties.is_empty() {
        body.insert("properties".into(), json!(common.properties));
    }
}

/// The PUT body of a data version. `data_uri` is where the data lives (after upload, for
/// local paths).
pub fn data_version(data: &Data, data_uri: &str) -> Value {
    let mut properties = Map::new();
    properties.insert("dataType".into(), json!(data.data_type.as_str()));
    properties.insert("dataUri".into(), json!(data_uri));
    if !data.referenced_uris.is_empty() {
        properties.insert("referencedUris".into(), json!(data.referenced_uris));
    }
    common_properties(&mut properties, &data.common, true);
    properties.insert("isAnonymous".into(), json!(false));
    properties.insert("isArchived".into(), json!(false));
    json!({ "properties": properties })
}

/// The PUT body of an environment version. `context_uri` is where a build context was
/// uploaded.
pub fn environment_version(env: &Environment, context_uri: Option<&str>) -> Value {
    let mut properties = Map::new();
    if let Some(image) = &env.image {
        properties.insert("image".into(), json!(image.value));
    }
    if let Some(conda) = &env.conda_file {
        properties.insert("condaFile".into(), json!(conda.text));
    }
    if let Some(build) = &env.build {
        let mut context = Map::new();
        context.insert("contextUri".into(), json!(context_uri.unwrap_or_default()));
        if let Some(dockerfile) = &build.dockerfile_path {
            context.insert("dockerfilePath".into(), json!(dockerfile));
        }
        properties.insert("build".into(), Value::Object(context));
    }
    if let Some(os) = &env.os_type {
        properties.insert("osType".into(), json!(os));
    }
    if let Some(config) = &env.inference_config {
        properties.insert("inferenceConfig".into(), config.clone());
    }
    common_properties(&mut properties, &env.common, false);
    properties.insert("isAnonymous".into(), json!(env.name.is_none()));
    properties.insert("isArchived".into(), json!(false));
    json!({ "properties": properties })
}

/// The PUT body of a code version holding the snapshot at `code_uri`.
pub fn code_version(code_uri: &str, sdk_hash: &str) -> Value {
    json!({
        "properties": {
            "codeUri": code_uri,
            "isAnonymous": true,
            "isArchived": false,
            "properties": {
                "hash_sha256": sdk_hash,
                "hash_version": crate::content::SDK_HASH_VERSION,
            },
        }
    })
}

/// Seconds as an ISO 8601 duration, as Python's `isodate` writes a `timedelta`.
pub fn iso_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "PT0S".into();
    }
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, secs) = (rest / 60, rest % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 || secs > 0 {
        out.push('T');
        if hours > 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if secs > 0 {
            out.push_str(&format!("{secs}S"));
        }
    }
    out
}

/// Reads an ISO 8601 duration (`PT2M`, `P1DT30S`, `PT1.5H`) as whole seconds.
pub fn parse_iso_duration(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let mut seconds = 0f64;
    let mut number = String::new();
    let mut in_time = false;
    for ch in rest.chars() {
        match ch {
            'T' => in_time = true,
            '0'..='9' | '.' => number.push(ch),
            unit => {
                let value: f64 = number.parse().ok()?;
                number.clear();
                seconds += value
                    * match (unit, in_time) {
                        ('D', false) => 86_400.0,
                        ('W', false) => 604_800.0,
                        ('H', true) => 3600.0,
                        ('M', true) => 60.0,
                        ('S', true) => 1.0,
                        _ => return None,
                    };
            }
        }
    }
    number.is_empty().then_some(seconds.round() as i64)
}

/// Resolved references of a command job, as the job body carries them.
#[derive(Clone, Debug, Default)]
pub struct ResolvedJob {
    pub name: String,
    pub environment_id: String,
    pub code_id: Option<String>,
    pub compute_id: Option<String>,
    /// For each data input, the URI or id it reads.
    pub input_uris: BTreeMap<String, String>,
    pub experiment_name: String,
}

/// The PUT body of a command job.
pub fn command_job(job: &crate::model::Job, resolved: &ResolvedJob) -> Value {
    let crate::model::JobBody::Command(command) = &job.body else {
        return Value::Null;
    };
    let mut properties = Map::new();
    properties.insert("jobType".into(), json!("Command"));
    properties.insert("command".into(), json!(command.command.value));
    if let Some(code) = &resolved.code_id {
        properties.insert("codeId".into(), json!(code));
    }
    if let Some(compute) = &resolved.compute_id {
        properties.insert("computeId".into(), json!(compute));
    }
    properties.insert(
        "displayName".into(),
        json!(
            job.display_name
                .clone()
                .unwrap_or_else(|| resolved.name.clone())
        ),
    );
    properties.insert("environmentId".into(), json!(resolved.environment_id));
    properties.insert(
        "environmentVariables".into(),
        json!(command.environment_variables),
    );
    properties.insert(
        "experimentName".into(),
        json!(
            job.experiment_name
                .clone()
                .unwrap_or_else(|| resolved.experiment_name.clone())
        ),
    );
    common_properties(&mut properties, &job.common, true);
    properties.insert("isArchived".into(), json!(false));
    let inputs: Map<String, Value> = command
        .inputs
        .iter()
        .map(|(name, input)| {
            (
                name.clone(),
                job_input_value(input, resolved.input_uris.get(name)),
            )
        })
        .collect();
    properties.insert("inputs".into(), Value::Object(inputs));
    let outputs: Map<String, Value> = command
        .outputs
        .iter()
        .map(|(name, output)| (name.clone(), job_output_value(output.as_ref())))
        .collect();
    properties.insert("outputs".into(), Value::Object(outputs));
    if let Some(distribution) = &command.distribution {
        properties.insert("distribution".into(), distribution_rest(distribution));
    }
    if let Some(resources) = &command.resources {
        properties.insert("resources".into(), resources_rest(resources));
    }
    if let Some(limits) = &command.limits
        && let Some(timeout) = limits.get("timeout").and_then(Value::as_i64)
    {
        properties.insert(
            "limits".into(),
            json!({"jobLimitsType": "Command", "timeout": iso_duration(timeout)}),
        );
    }
    if let Some(identity) = &command.identity {
        properties.insert("identity".into(), identity_rest(identity));
    }
    if let Some(services) = &command.services {
        properties.insert("services".into(), services_rest(services));
    }
    if let Some(queue) = &command.queue_settings {
        properties.insert("queueSettings".into(), camel_keys(queue));
    }
    json!({ "properties": properties })
}

/// A job input as the REST API's top level writes it.
pub fn job_input_value(input: &JobInput, uri: Option<&String>) -> Value {
    match input {
        JobInput::Literal(value) => {
            json!({"jobInputType": "literal", "value": value.value.python_str()})
        }
        JobInput::Data(data) => {
            let mut body = Map::new();
            body.insert("jobInputType".into(), json!(data.input_type));
            if let Some(uri) = uri {
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

/// A job output as the REST API's top level writes it.
pub fn job_output_value(output: Option<&JobOutput>) -> Value {
    let Some(output) = output else {
        return json!({"jobOutputType": "uri_folder"});
    };
    let mut body = Map::new();
    body.insert("jobOutputType".into(), json!(output.output_type));
    if let Some(path) = &output.path {
        body.insert("uri".into(), json!(path.value));
    }
    if let Some(mode) = output.mode {
        body.insert("mode".into(), json!(mode));
    }
    if let Some(name) = &output.asset_name {
        body.insert("assetName".into(), json!(name));
    }
    if let Some(version) = &output.asset_version {
        body.insert("assetVersion".into(), json!(version));
    }
    if let Some(description) = &output.description {
        body.insert("description".into(), json!(description));
    }
    Value::Object(body)
}

/// Job resources in the REST API's shape, which always carries `properties`.
pub fn resources_rest(resources: &Value) -> Value {
    let mut rest = camel_keys(resources);
    if let Some(map) = rest.as_object_mut() {
        map.entry("properties").or_insert(json!({}));
    }
    rest
}

/// `snake_case` keys to `camelCase`, recursively.
pub fn camel_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (camel(k), camel_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(camel_keys).collect()),
        other => other.clone(),
    }
}

pub fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for ch in key.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

pub fn distribution_rest(distribution: &Value) -> Value {
    let kind = distribution
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rest_kind = match kind {
        "mpi" => "Mpi",
        "pytorch" => "PyTorch",
        "tensorflow" => "TensorFlow",
        "ray" => "Ray",
        other => other,
    };
    let mut body = Map::new();
    body.insert("distributionType".into(), json!(rest_kind));
    if let Some(map) = distribution.as_object() {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "type") {
            body.insert(camel(key), value.clone());
        }
    }
    Value::Object(body)
}

fn identity_rest(identity: &Value) -> Value {
    let kind = identity
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rest_kind = match kind {
        "user_identity" => "UserIdentity",
        "managed" | "managed_identity" => "Managed",
        _ => "AMLToken",
    };
    let mut body = Map::new();
    body.insert("identityType".into(), json!(rest_kind));
    if let Some(map) = identity.as_object() {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "type") {
            let rest_key = match key.as_str() {
                "msi_resource_id" => "resourceId".to_owned(),
                "client_id" => "clientId".to_owned(),
                "object_id" => "objectId".to_owned(),
                other => camel(other),
            };
            body.insert(rest_key, value.clone());
        }
    }
    Value::Object(body)
}

pub fn services_rest(services: &Value) -> Value {
    let Some(map) = services.as_object() else {
        return services.clone();
    };
    let converted = map
        .iter()
        .map(|(name, service)| {
            let mut body = Map::new();
            if let Some(fields) = service.as_object() {
                for (key, value) in fields {
                    match key.as_str() {
                        "type" => {
                            let kind = match value.as_str().unwrap_or_default() {
                                "jupyter_lab" => "JupyterLab",
                                "ssh" => "SSH",
                                "tensor_board" => "TensorBoard",
                                "vs_code" => "VSCode",
                                other => other,
                            };
                            body.insert("jobServiceType".into(), json!(kind));
                        }
                        "log_dir" => {
                            body.insert("properties".into(), json!({"logDir": value}));
                        }
                        "ssh_public_keys" => {
                            body.insert("properties".into(), json!({"sshPublicKeys": value}));
                        }
                        other => {
                            body.insert(camel(other), value.clone());
                        }
                    }
                }
            }
            (name.clone(), Value::Object(body))
        })
        .collect();
    Value::Object(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_isodate() {
        assert_eq!(iso_duration(120), "PT2M");
        assert_eq!(iso_duration(90), "PT1M30S");
        assert_eq!(iso_duration(3600), "PT1H");
        assert_eq!(iso_duration(86_400 + 30), "P1DT30S");
        assert_eq!(iso_duration(0), "PT0S");
        for s in [0, 1, 59, 60, 120, 3599, 3600, 86_400, 90_061] {
            assert_eq!(parse_iso_duration(&iso_duration(s)), Some(s), "{s}");
        }
        assert_eq!(parse_iso_duration("PT1.5H"), Some(5400));
        assert_eq!(parse_iso_duration("2M"), None);
    }

    #[test]
    fn anonymous_environment_of_an_image() {
        let env = Environment {
            name: None,
            version: crate::model::VersionSpec::Unset,
            common: Common::default(),
            image: Some(crate::diag::Located::new(
                "library/python:latest".into(),
                crate::diag::Loc::file_start(&crate::diag::SourceFile::new(
                    std::path::Path::new("x"),
                    String::new(),
                )),
            )),
            conda_file: None,
            build: None,
            os_type: None,
            inference_config: None,
        };
        // The version in the golden request of cli/jobs/basics/hello-world.yml.
        assert_eq!(
            anonymous_environment_version(&env, None),
            "65cb0b33ff5c91a624f57556b658973423dd7a3dd9aa6b4289458d4de41d88e6"
        );
    }

    #[test]
    fn camel_case_keys() {
        assert_eq!(camel("instance_count"), "instanceCount");
        assert_eq!(
            camel_keys(&json!({"shm_size": "2g", "docker_args": ["a"]})),
            json!({"shmSize": "2g", "dockerArgs": ["a"]})
        );
    }
}
