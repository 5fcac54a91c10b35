//! ARM bodies seen in the manifest's vocabulary.
//!
//! Plans compare what amlops would send with what the workspace holds, and show the
//! difference with the keys users wrote (`max_instances`, not `scaleSettings.maxNodeCount`).
//! Both sides go through the same view, so a field can only differ if its value differs.
//! Read-only and server-filled fields have no place in a view, so they can never show up as
//! changes.

use serde_json::{Map, Value, json};

use crate::model::Kind;
use crate::scope::Scope;
use crate::translate::parse_iso_duration;

/// The view of a `kind` body. ARM ids inside `scope` are shown as `azureml:` references.
pub fn view(kind: Kind, body: &Value, scope: &Scope) -> Value {
    let properties = body.get("properties").unwrap_or(&Value::Null);
    let mut out = Map::new();
    match kind {
        Kind::Data => data(properties, scope, &mut out),
        Kind::Environment => environment(properties, scope, &mut out),
        Kind::Code => code(properties, scope, &mut out),
        Kind::Compute => compute(body, properties, &mut out),
        Kind::Job => job(properties, scope, &mut out),
        Kind::Component => {
            copy(properties, "componentSpec", &mut out, "spec");
        }
    }
    if kind.is_versioned() || kind == Kind::Job {
        copy(properties, "description", &mut out, "description");
        copy_map(properties, "tags", &mut out, "tags");
        copy_map(properties, "properties", &mut out, "properties");
        if properties.get("isArchived").and_then(Value::as_bool) == Some(true) {
            out.insert("archived".into(), json!(true));
        }
    }
    Value::Object(out)
}

fn copy(from: &Value, key: &str, out: &mut Map<String, Value>, as_key: &str) {
    if let Some(value) = from.get(key).filter(|v| !v.is_null()) {
        out.insert(as_key.into(), value.clone());
    }
}

/// Copies a map, leaving it out when empty: an empty map and no map mean the same.
fn copy_map(from: &Value, key: &str, out: &mut Map<String, Value>, as_key: &str) {
    if let Some(map) = from.get(key).and_then(Value::as_object)
        && !map.is_empty()
    {
        out.insert(as_key.into(), Value::Object(map.clone()));
    }
}

fn data(properties: &Value, scope: &Scope, out: &mut Map<String, Value>) {
    copy(properties, "dataType", out, "type");
    let folder = properties
        .get("dataType")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.eq_ignore_ascii_case("uri_file") && !t.eq_ignore_ascii_case("urifile"));
    if let Some(uri) = properties.get("dataUri").and_then(Value::as_str) {
        let uri = short_datastore_uri(uri, scope);
        let uri = if folder {
            uri.trim_end_matches('/').to_owned()
        } else {
            uri
        };
        out.insert("path".into(), json!(uri));
    }
}

/// A datastore URI in the long form the service returns
/// (`azureml://subscriptions/S/resourcegroups/R/workspaces/W/datastores/D/paths/P`) in the
/// short form manifests write (`azureml://datastores/D/paths/P`), when it names `scope`.
pub fn short_datastore_uri(uri: &str, scope: &Scope) -> String {
    let Some(rest) = uri.strip_prefix("azureml://subscriptions/") else {
        return uri.to_owned();
    };
    let Scope::Workspace {
        subscription,
        resource_group,
        workspace,
    } = scope
    else {
        return uri.to_owned();
    };
    let parts: Vec<&str> = rest.splitn(6, '/').collect();
    match parts.as_slice() {
        [s, rg_key, rg, ws_key, ws, tail]
            if s.eq_ignore_ascii_case(subscription)
                && rg_key.eq_ignore_ascii_case("resourcegroups")
                && rg.eq_ignore_ascii_case(resource_group)
                && ws_key.eq_ignore_ascii_case("workspaces")
                && ws.eq_ignore_ascii_case(workspace)
                && tail.starts_with("datastores/") =>
        {
            format!("azureml://{tail}")
        }
        _ => uri.to_owned(),
    }
}

fn environment(properties: &Value, scope: &Scope, out: &mut Map<String, Value>) {
    copy(properties, "image", out, "image");
    copy(properties, "condaFile", out, "conda_file");
    if let Some(build) = properties.get("build").filter(|b| !b.is_null()) {
        let mut view = Map::new();
        if let Some(uri) = build.get("contextUri").and_then(Value::as_str) {
            view.insert("path".into(), json!(short_datastore_uri(uri, scope)));
        }
        let dockerfile = build
            .get("dockerfilePath")
            .and_then(Value::as_str)
            .unwrap_or("Dockerfile");
        view.insert("dockerfile_path".into(), json!(dockerfile));
        out.insert("build".into(), Value::Object(view));
    }
    let os = properties
        .get("osType")
        .and_then(Value::as_str)
        .unwrap_or("Linux");
    out.insert("os_type".into(), json!(os.to_ascii_lowercase()));
    if let Some(config) = properties.get("inferenceConfig").filter(|c| !c.is_null()) {
        out.insert("inference_config".into(), snake_keys(config));
    }
}

fn code(properties: &Value, scope: &Scope, out: &mut Map<String, Value>) {
    if let Some(uri) = properties.get("codeUri").and_then(Value::as_str) {
        out.insert("path".into(), json!(short_datastore_uri(uri, scope)));
    }
}

fn compute(body: &Value, properties: &Value, out: &mut Map<String, Value>) {
    let compute_type = properties
        .get("computeType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    out.insert("type".into(), json!(compute_type.to_ascii_lowercase()));
    copy(body, "location", out, "location");
    copy(properties, "description", out, "description");
    copy_map(body, "tags", out, "tags");
    // `{"type": "None"}` is how the service says there is no identity.
    if let Some(identity) = body.get("identity").filter(|i| {
        !i.is_null()
            && !i
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("none"))
    }) {
        out.insert("identity".into(), identity_view(identity));
    }
    match compute_type {
        "AmlCompute" | "" => {}
        "ComputeInstance" => return instance(properties, out),
        _ => return attached(properties, out),
    }
    let Some(aml) = properties.get("properties") else {
        return;
    };
    copy(aml, "vmSize", out, "size");
    let tier = match aml.get("vmPriority").and_then(Value::as_str) {
        Some("LowPriority") => "low_priority",
        _ => "dedicated",
    };
    out.insert("tier".into(), json!(tier));
    if let Some(scale) = aml.get("scaleSettings") {
        copy(scale, "minNodeCount", out, "min_instances");
        copy(scale, "maxNodeCount", out, "max_instances");
        if let Some(idle) = scale
            .get("nodeIdleTimeBeforeScaleDown")
            .and_then(Value::as_str)
        {
            let seconds = parse_iso_duration(idle)
                .map(Value::from)
                .unwrap_or_else(|| json!(idle));
            out.insert("idle_time_before_scale_down".into(), seconds);
        }
    }
    match aml
        .get("remoteLoginPortPublicAccess")
        .and_then(Value::as_str)
    {
        Some("Enabled") => {
            out.insert("ssh_public_access_enabled".into(), json!(true));
        }
        Some("Disabled") => {
            out.insert("ssh_public_access_enabled".into(), json!(false));
        }
        _ => {}
    }
    let public_ip = aml
        .get("enableNodePublicIp")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    out.insert("enable_node_public_ip".into(), json!(public_ip));
    if let Some(user) = aml.pointer("/userAccountCredentials/adminUserName") {
        out.insert("ssh_settings".into(), json!({ "admin_username": user }));
    }
    if let Some(subnet) = aml.pointer("/subnet/id") {
        out.insert("network_settings".into(), json!({ "subnet": subnet }));
    }
}

/// A compute instance in its YAML's words; schedules and setup scripts as the REST API holds
/// them (in snake case).
fn instance(properties: &Value, out: &mut Map<String, Value>) {
    let Some(ci) = properties.get("properties") else {
        return;
    };
    copy(ci, "vmSize", out, "size");
    for (rest, yaml) in [
        ("enableNodePublicIp", "enable_node_public_ip"),
        ("enableSSO", "enable_sso"),
        ("enableRootAccess", "enable_root_access"),
        ("enableOSPatching", "enable_os_patching"),
        ("releaseQuotaOnStop", "release_quota_on_stop"),
        ("idleTimeBeforeShutdown", "idle_time_before_shutdown"),
    ] {
        copy(ci, rest, out, yaml);
    }
    if let Some(access) = ci
        .pointer("/sshSettings/sshPublicAccess")
        .and_then(Value::as_str)
    {
        out.insert(
            "ssh_public_access_enabled".into(),
            json!(access == "Enabled"),
        );
    }
    if let Some(subnet) = ci.pointer("/subnet/id") {
        out.insert("network_settings".into(), json!({ "subnet": subnet }));
    }
    for (rest, yaml) in [
        ("schedules", "schedules"),
        ("setupScripts", "setup_scripts"),
    ] {
        if let Some(value) = ci.get(rest).filter(|v| !v.is_null()) {
            out.insert(yaml.into(), snake_keys(value));
        }
    }
}

/// An attached compute: what it attaches, and how amlops logs in to a virtual machine
/// (secrets left out: the service never returns them).
fn attached(properties: &Value, out: &mut Map<String, Value>) {
    copy(properties, "resourceId", out, "resource_id");
    let Some(inner) = properties.get("properties") else {
        return;
    };
    if let Some(user) = inner.pointer("/administratorAccount/username") {
        out.insert("ssh_settings".into(), json!({ "admin_username": user }));
    }
    if let Some(port) = inner.get("sshPort") {
        out.insert("ssh_port".into(), port.clone());
    }
    copy(inner, "namespace", out, "namespace");
}

fn identity_view(identity: &Value) -> Value {
    let kind = identity
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("None");
    let mut view = json!({ "type": camel_to_snake(kind) });
    if let Some(assigned) = identity
        .get("userAssignedIdentities")
        .and_then(Value::as_object)
    {
        let ids: Vec<Value> = assigned
            .keys()
            .map(|id| json!({ "resource_id": id }))
            .collect();
        view["user_assigned_identities"] = Value::Array(ids);
    }
    view
}

fn job(properties: &Value, scope: &Scope, out: &mut Map<String, Value>) {
    let job_type = properties
        .get("jobType")
        .and_then(Value::as_str)
        .unwrap_or("Command");
    out.insert("type".into(), json!(job_type.to_ascii_lowercase()));
    copy(properties, "displayName", out, "display_name");
    copy(properties, "experimentName", out, "experiment_name");
    copy(properties, "command", out, "command");
    for (rest, yaml) in [
        ("codeId", "code"),
        ("environmentId", "environment"),
        ("computeId", "compute"),
    ] {
        if let Some(id) = properties.get(rest).and_then(Value::as_str) {
            out.insert(yaml.into(), json!(short_reference(id, scope)));
        }
    }
    if let Some(inputs) = properties
        .get("inputs")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        let view: Map<String, Value> = inputs
            .iter()
            .map(|(name, input)| (name.clone(), input_view(input, scope)))
            .collect();
        out.insert("inputs".into(), Value::Object(view));
    }
    if let Some(outputs) = properties
        .get("outputs")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        let view: Map<String, Value> = outputs
            .iter()
            .map(|(name, output)| {
                let mut fields = Map::new();
                for (rest, yaml) in [
                    ("jobOutputType", "type"),
                    ("uri", "path"),
                    ("mode", "mode"),
                    ("assetName", "name"),
                    ("assetVersion", "version"),
                ] {
                    copy(output, rest, &mut fields, yaml);
                }
                (name.clone(), Value::Object(fields))
            })
            .collect();
        out.insert("outputs".into(), Value::Object(view));
    }
    copy_map(
        properties,
        "environmentVariables",
        out,
        "environment_variables",
    );
    pipeline_and_sweep(properties, scope, out);
    for (rest, yaml) in [
        ("resources", "resources"),
        ("distribution", "distribution"),
        ("limits", "limits"),
        ("identity", "identity"),
        ("services", "services"),
        ("queueSettings", "queue_settings"),
    ] {
        if let Some(value) = properties.get(rest).filter(|v| !v.is_null()) {
            out.insert(yaml.into(), snake_keys(value));
        }
    }
}

/// The fields of pipeline and sweep jobs: nodes and settings as the SDK writes them (already
/// in the YAML's vocabulary), the sweep's trial and search settings.
fn pipeline_and_sweep(properties: &Value, scope: &Scope, out: &mut Map<String, Value>) {
    if let Some(settings) = properties.get("settings").and_then(Value::as_object) {
        let mut view = settings.clone();
        view.remove("_source");
        for key in ["default_compute", "default_datastore"] {
            if let Some(id) = view.get(key).and_then(Value::as_str) {
                let short = short_reference(id, scope);
                view.insert(key.into(), json!(short));
            }
        }
        if !view.is_empty() {
            out.insert("settings".into(), Value::Object(view));
        }
    }
    copy(properties, "jobs", out, "jobs");
    if let Some(trial) = properties.get("trial").filter(|t| !t.is_null()) {
        out.insert("trial".into(), snake_keys(trial));
    }
    for (rest, yaml) in [
        ("searchSpace", "search_space"),
        ("samplingAlgorithm", "sampling_algorithm"),
        ("objective", "objective"),
        ("earlyTermination", "early_termination"),
    ] {
        if let Some(value) = properties.get(rest).filter(|v| !v.is_null()) {
            out.insert(yaml.into(), snake_keys(value));
        }
    }
}

fn input_view(input: &Value, scope: &Scope) -> Value {
    match input.get("jobInputType").and_then(Value::as_str) {
        Some("literal") => input.get("value").cloned().unwrap_or(Value::Null),
        kind => {
            let mut fields = Map::new();
            fields.insert("type".into(), json!(kind.unwrap_or_default()));
            if let Some(uri) = input.get("uri").and_then(Value::as_str) {
                let uri = short_datastore_uri(uri, scope);
                fields.insert("path".into(), json!(short_reference(&uri, scope)));
            }
            copy(input, "mode", &mut fields, "mode");
            Value::Object(fields)
        }
    }
}

/// `…/workspaces/w/environments/e/versions/2` inside `scope` reads `azureml:e:2`; a compute
/// id reads `azureml:cpu`. Other ids and URIs are shown as they are.
pub fn short_reference(id: &str, scope: &Scope) -> String {
    let Some(relative) = scope.relative(id) else {
        return id.to_owned();
    };
    match relative.split('/').collect::<Vec<_>>().as_slice() {
        [_, name, "versions", version] => format!("azureml:{name}:{version}"),
        ["computes", name] => format!("azureml:{name}"),
        _ => id.to_owned(),
    }
}

/// `camelCase` keys to `snake_case`, recursively.
pub fn snake_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (camel_to_snake(k), snake_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

pub fn camel_to_snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, ch) in text.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 && !out.ends_with(['_', ',']) {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_in_yaml_words() {
        let body = json!({
            "location": "eastus",
            "properties": {"computeType": "AmlCompute", "disableLocalAuth": true, "provisioningState": "Succeeded",
                "properties": {"vmSize": "STANDARD_DS3_V2", "remoteLoginPortPublicAccess": "NotSpecified", "enableNodePublicIp": true,
                    "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT2M"},
                    "currentNodeCount": 0}}
        });
        assert_eq!(
            view(Kind::Compute, &body, &Scope::local()),
            json!({"type": "amlcompute", "location": "eastus", "size": "STANDARD_DS3_V2", "tier": "dedicated",
                "min_instances": 0, "max_instances": 4, "idle_time_before_scale_down": 120, "enable_node_public_ip": true})
        );
    }

    #[test]
    fn references_are_shortened_inside_the_scope() {
        let scope = Scope::workspace("s", "r", "w");
        assert_eq!(
            short_reference(&scope.resource_id("environments/e/versions/2"), &scope),
            "azureml:e:2"
        );
        assert_eq!(
            short_reference(&scope.resource_id("computes/cpu"), &scope),
            "azureml:cpu"
        );
        assert_eq!(
            short_reference(
                "azureml://registries/r/environments/e/labels/latest",
                &scope
            ),
            "azureml://registries/r/environments/e/labels/latest"
        );
    }

    #[test]
    fn snake_case() {
        assert_eq!(camel_to_snake("instanceCount"), "instance_count");
        assert_eq!(
            camel_to_snake("SystemAssigned,UserAssigned"),
            "system_assigned,user_assigned"
        );
    }

    #[test]
    fn long_datastore_uris_are_shortened_inside_the_scope() {
        let scope = Scope::workspace("S", "Rg", "W");
        assert_eq!(
            short_datastore_uri(
                "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/d/paths/a/b",
                &scope
            ),
            "azureml://datastores/d/paths/a/b"
        );
        for other in [
            "azureml://subscriptions/s/resourcegroups/rg/workspaces/other/datastores/d/paths/a",
            "azureml://datastores/d/paths/a",
            "https://acct.blob.core.windows.net/c/a",
        ] {
            assert_eq!(short_datastore_uri(other, &scope), other);
        }
    }
}
