//! The ARM contract, answered from the local store.
//!
//! Both the embedded local workspace and the ARM emulator go through these functions, so the
//! rules Azure enforces are enforced once: server-filled fields (`id`, `name`, `type`,
//! `systemData`, provisioning states), asset containers kept up to date with `latestVersion`
//! and `nextVersion`, immutable asset versions, compute fields that cannot change in place,
//! and jobs that are run records rather than documents.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::store::{Store, Writer};
use crate::backend::{BackendError, Result};
use crate::scope::Scope;

/// What a PUT did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
}

/// Asset collections: versions live under `<collection>/<name>/versions/<version>`.
const ASSET_COLLECTIONS: &[&str] = &["data", "environments", "codes", "components", "models"];

/// Fields of an asset version that may change after creation.
const MUTABLE_VERSION_FIELDS: &[&str] =
    &["description", "tags", "isArchived", "stage", "properties"];

/// Read-only fields the service fills; a client sending them is ignored for them.
const READ_ONLY_VERSION_FIELDS: &[&str] = &["provisioningState", "environmentType"];

pub fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn error(
    method: &str,
    path: &str,
    status: u16,
    code: &str,
    message: impl Into<String>,
) -> BackendError {
    BackendError::api(method, path, status, code, message)
}

/// The parts of an object path.
#[derive(Debug, PartialEq)]
pub enum Shape<'a> {
    AssetContainer {
        collection: &'a str,
        name: &'a str,
    },
    AssetVersion {
        collection: &'a str,
        name: &'a str,
        version: &'a str,
    },
    Compute(&'a str),
    Job(&'a str),
    Datastore(&'a str),
    Other,
}

pub fn shape(path: &str) -> Shape<'_> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [collection, name] if ASSET_COLLECTIONS.contains(collection) => {
            Shape::AssetContainer { collection, name }
        }
        [collection, name, "versions", version] if ASSET_COLLECTIONS.contains(collection) => {
            Shape::AssetVersion {
                collection,
                name,
                version,
            }
        }
        ["computes", name] => Shape::Compute(name),
        ["jobs", name] => Shape::Job(name),
        ["datastores", name] => Shape::Datastore(name),
        _ => Shape::Other,
    }
}

fn system_data(existing: Option<&Value>, stamp: &str) -> Value {
    let created = existing
        .and_then(|e| e.pointer("/systemData/createdAt"))
        .and_then(Value::as_str)
        .unwrap_or(stamp);
    json!({
        "createdAt": created,
        "createdBy": "amlops",
        "createdByType": "Application",
        "lastModifiedAt": stamp,
        "lastModifiedBy": "amlops",
        "lastModifiedByType": "Application",
    })
}

/// Wraps a request body into the object a GET returns.
fn envelope(
    scope: &Scope,
    path: &str,
    name: &str,
    body: &Value,
    existing: Option<&Value>,
    stamp: &str,
) -> Value {
    let mut object = match body {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    object.insert("id".into(), json!(scope.resource_id(path)));
    object.insert("name".into(), json!(name));
    object.insert("type".into(), json!(scope.resource_type(path)));
    object.insert("systemData".into(), system_data(existing, stamp));
    Value::Object(object)
}

fn properties_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("properties").is_some_and(Value::is_object) {
        object["properties"] = json!({});
    }
    object["properties"].as_object_mut().expect("set above")
}

/// PUT of any object. `stamp` is the time to record.
pub fn put(
    store: &mut Store,
    scope: &Scope,
    path: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let scope_id = scope.id();
    store.transaction(|w| match shape(path) {
        Shape::AssetVersion {
            collection,
            name,
            version,
        } => put_version(
            w, scope, &scope_id, path, collection, name, version, body, stamp,
        ),
        Shape::AssetContainer { collection, name } => {
            put_container(w, scope, &scope_id, path, collection, name, body, stamp)
        }
        Shape::Compute(name) => put_compute(w, scope, &scope_id, path, name, body, stamp),
        Shape::Job(name) => put_job(w, scope, &scope_id, path, name, body, stamp),
        Shape::Datastore(name) => put_plain(w, scope, &scope_id, path, name, body, stamp),
        Shape::Other => Err(error(
            "PUT",
            path,
            404,
            "NotFound",
            format!("no resource type at {path}"),
        )),
    })
}

fn put_plain(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    path: &str,
    name: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let existing = w.get(scope_id, path)?;
    let object = envelope(scope, path, name, body, existing.as_ref(), stamp);
    w.put(scope_id, path, &object)?;
    Ok((
        if existing.is_some() {
            Written::Updated
        } else {
            Written::Created
        },
        object,
    ))
}

/// Container fields only the service sets.
const READ_ONLY_CONTAINER_FIELDS: &[&str] = &["latestVersion", "nextVersion", "provisioningState"];

/// PUT of an asset container: its description, tags, properties and archived flag change;
/// `latestVersion` and `nextVersion` stay the service's, and a data container keeps its
/// `dataType`.
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one part of the request's path"
)]
fn put_container(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    path: &str,
    collection: &str,
    name: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let existing = w.get(scope_id, path)?;
    let mut object = envelope(scope, path, name, body, existing.as_ref(), stamp);
    let properties = properties_mut(&mut object);
    for field in READ_ONLY_CONTAINER_FIELDS {
        properties.remove(*field);
    }
    properties.entry("isArchived").or_insert(json!(false));
    if collection == "data" && properties.get("dataType").is_none_or(Value::is_null) {
        return Err(error(
            "PUT",
            path,
            400,
            "UserError",
            "`properties.dataType` is required",
        ));
    }
    let old = existing
        .as_ref()
        .and_then(|e| e.get("properties"))
        .and_then(Value::as_object);
    if collection == "data"
        && let Some(old) = old
        && !equal_ignoring_case(old.get("dataType"), properties.get("dataType"))
    {
        return Err(error(
            "PUT",
            path,
            409,
            "UserError",
            format!("data {name} already exists and its dataType cannot be changed"),
        ));
    }
    for field in ["latestVersion", "nextVersion"] {
        if let Some(value) = old.and_then(|o| o.get(field)) {
            properties.insert(field.into(), value.clone());
        }
    }
    properties.entry("nextVersion").or_insert(json!("1"));
    if collection != "data" && collection != "models" {
        properties.insert("provisioningState".into(), json!("Succeeded"));
    }
    w.put(scope_id, path, &object)?;
    Ok((
        if existing.is_some() {
            Written::Updated
        } else {
            Written::Created
        },
        object,
    ))
}

#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one part of the request's path"
)]
fn put_version(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    path: &str,
    collection: &str,
    name: &str,
    version: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let existing = w.get(scope_id, path)?;
    let mut object = envelope(scope, path, version, body, existing.as_ref(), stamp);
    let properties = properties_mut(&mut object);
    for field in READ_ONLY_VERSION_FIELDS {
        properties.remove(*field);
    }
    properties.entry("isAnonymous").or_insert(json!(false));
    properties.entry("isArchived").or_insert(json!(false));
    if collection == "environments" {
        properties.insert("environmentType".into(), json!("UserCreated"));
        properties.insert("provisioningState".into(), json!("Succeeded"));
        properties.entry("osType").or_insert(json!("Linux"));
    }
    if collection == "codes" || collection == "components" {
        properties.insert("provisioningState".into(), json!("Succeeded"));
    }
    if collection == "data"
        && properties
            .get("dataUri")
            .and_then(Value::as_str)
            .is_none_or(|u| u.is_empty())
    {
        return Err(error(
            "PUT",
            path,
            400,
            "UserError",
            "`properties.dataUri` is required",
        ));
    }
    if let Some(existing) = &existing {
        let changed = immutable_changes(existing, &object);
        if !changed.is_empty() {
            return Err(error(
                "PUT",
                path,
                409,
                "UserError",
                format!(
                    "{collection} {name}:{version} already exists and its {} cannot be changed; only description, tags, properties and isArchived can be updated",
                    changed.join(", ")
                ),
            ));
        }
    }
    w.put(scope_id, path, &object)?;
    update_container(w, scope, scope_id, collection, name, &object, stamp)?;
    Ok((
        if existing.is_some() {
            Written::Updated
        } else {
            Written::Created
        },
        object,
    ))
}

/// The fields of a version that differ between `existing` and `proposed` and may not.
fn immutable_changes(existing: &Value, proposed: &Value) -> Vec<String> {
    let empty = Map::new();
    let old = existing
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new = proposed
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| {
            !MUTABLE_VERSION_FIELDS.contains(&k.as_str())
                && !READ_ONLY_VERSION_FIELDS.contains(&k.as_str())
        })
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

/// Creates or refreshes the container of a version: `latestVersion`, `nextVersion`.
fn update_container(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    collection: &str,
    name: &str,
    version: &Value,
    stamp: &str,
) -> Result<()> {
    let container_path = format!("{collection}/{name}");
    let existing = w.get(scope_id, &container_path)?;
    let versions = w.children(scope_id, &format!("{container_path}/versions"))?;
    let live: Vec<&Value> = versions
        .iter()
        .map(|r| &r.body)
        .filter(|v| {
            !v.pointer("/properties/isArchived")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .collect();
    let latest = live
        .last()
        .and_then(|v| v.get("name"))
        .cloned()
        .unwrap_or(Value::Null);
    let next = versions
        .iter()
        .filter_map(|r| r.body.get("name")?.as_str()?.parse::<u64>().ok())
        .max()
        .map_or(1, |n| n + 1);
    let mut properties = existing
        .as_ref()
        .and_then(|e| e.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    properties.entry("isArchived").or_insert(json!(false));
    if collection == "data"
        && let Some(data_type) = version.pointer("/properties/dataType")
    {
        properties.entry("dataType").or_insert(data_type.clone());
    }
    properties.insert("latestVersion".into(), latest);
    properties.insert("nextVersion".into(), json!(next.to_string()));
    let body = json!({ "properties": properties });
    let container = envelope(
        scope,
        &container_path,
        name,
        &body,
        existing.as_ref(),
        stamp,
    );
    w.put(scope_id, &container_path, &container)
}

/// AmlCompute fields that cannot change on an existing compute.
const IMMUTABLE_COMPUTE_FIELDS: &[&str] = &[
    "vmSize",
    "vmPriority",
    "osType",
    "subnet",
    "virtualMachineImage",
    "isolatedNetwork",
    "enableNodePublicIp",
    "remoteLoginPortPublicAccess",
];

fn put_compute(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    path: &str,
    name: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let existing = w.get(scope_id, path)?;
    if !crate::manifest::compute::valid_compute_name(name) {
        return Err(error(
            "PUT",
            path,
            400,
            "ValidationError",
            format!("compute name `{name}` is invalid"),
        ));
    }
    let mut object = envelope(scope, path, name, body, existing.as_ref(), stamp);
    let compute_type = object
        .pointer("/properties/computeType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if compute_type.is_empty() {
        return Err(error(
            "PUT",
            path,
            400,
            "ValidationError",
            "`properties.computeType` is required",
        ));
    }
    if let Some(existing) = &existing {
        // Fields a PUT leaves out take the defaults they took at creation.
        let mut settled = object.clone();
        if let Some(aml) = settled
            .pointer_mut("/properties/properties")
            .and_then(Value::as_object_mut)
        {
            settle_aml_properties(aml);
        }
        let changed: Vec<&str> = IMMUTABLE_COMPUTE_FIELDS
            .iter()
            .copied()
            .filter(|field| {
                let pointer = format!("/properties/properties/{field}");
                let new = if *field == "remoteLoginPortPublicAccess" {
                    object.pointer(&pointer)
                } else {
                    settled.pointer(&pointer)
                };
                let old = existing.pointer(&pointer);
                // A PUT that leaves remote access unspecified keeps what the service chose.
                let unspecified = *field == "remoteLoginPortPublicAccess"
                    && new.and_then(Value::as_str) == Some("NotSpecified");
                !unspecified && !equal_ignoring_case(old, new)
            })
            .collect();
        let location_changed =
            !equal_ignoring_case(existing.get("location"), object.get("location"));
        if !changed.is_empty() || location_changed {
            let mut fields = changed.join(", ");
            if location_changed {
                fields = if fields.is_empty() {
                    "location".into()
                } else {
                    format!("{fields}, location")
                };
            }
            return Err(error(
                "PUT",
                path,
                409,
                "Conflict",
                format!(
                    "compute {name} already exists and {fields} cannot be updated; delete the compute and create it again"
                ),
            ));
        }
    }
    let created_on = existing
        .as_ref()
        .and_then(|e| e.pointer("/properties/createdOn"))
        .cloned()
        .unwrap_or(json!(stamp));
    let properties = properties_mut(&mut object);
    properties.insert("provisioningState".into(), json!("Succeeded"));
    properties.insert("createdOn".into(), created_on);
    properties.insert("modifiedOn".into(), json!(stamp));
    properties.insert("isAttachedCompute".into(), json!(false));
    if compute_type == "AmlCompute" {
        let aml = properties.entry("properties").or_insert(json!({}));
        if let Some(aml) = aml.as_object_mut() {
            settle_aml_properties(aml);
        }
    }
    w.put(scope_id, path, &object)?;
    Ok((
        if existing.is_some() {
            Written::Updated
        } else {
            Written::Created
        },
        object,
    ))
}

/// The read-only AmlCompute fields the service reports, and the secrets it never returns.
fn settle_aml_properties(aml: &mut Map<String, Value>) {
    if let Some(credentials) = aml
        .get_mut("userAccountCredentials")
        .and_then(Value::as_object_mut)
    {
        credentials.remove("adminUserPassword");
    }
    if aml
        .get("remoteLoginPortPublicAccess")
        .and_then(Value::as_str)
        .is_none_or(|v| v == "NotSpecified")
    {
        let has_credentials = aml.get("userAccountCredentials").is_some();
        aml.insert(
            "remoteLoginPortPublicAccess".into(),
            json!(if has_credentials {
                "Enabled"
            } else {
                "Disabled"
            }),
        );
    }
    aml.entry("osType").or_insert(json!("Linux"));
    aml.entry("vmPriority").or_insert(json!("Dedicated"));
    aml.entry("enableNodePublicIp").or_insert(json!(true));
    aml.insert("allocationState".into(), json!("Steady"));
    aml.insert("currentNodeCount".into(), json!(0));
    aml.insert("targetNodeCount".into(), json!(0));
    aml.insert(
        "nodeStateCounts".into(),
        json!({"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0, "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}),
    );
}

fn equal_ignoring_case(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// PATCH of a compute: only scale settings change.
pub fn patch(
    store: &mut Store,
    scope: &Scope,
    path: &str,
    body: &Value,
    stamp: &str,
) -> Result<Value> {
    let scope_id = scope.id();
    store.transaction(|w| {
        let Shape::Compute(_) = shape(path) else {
            return Err(error(
                "PATCH",
                path,
                405,
                "MethodNotAllowed",
                "only computes can be patched",
            ));
        };
        let mut existing = w.get(&scope_id, path)?.ok_or_else(|| {
            error(
                "PATCH",
                path,
                404,
                "NotFound",
                format!("{path} does not exist"),
            )
        })?;
        let Some(scale) = body.pointer("/properties/properties/scaleSettings") else {
            return Err(error(
                "PATCH",
                path,
                400,
                "BadRequest",
                "only `properties.properties.scaleSettings` can be patched",
            ));
        };
        let max = scale.get("maxNodeCount").and_then(Value::as_i64);
        let min = scale
            .get("minNodeCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if max.is_none_or(|m| m < min) {
            return Err(error(
                "PATCH",
                path,
                400,
                "BadRequest",
                "scaleSettings.maxNodeCount is required and must be at least minNodeCount",
            ));
        }
        if let Some(target) = existing.pointer_mut("/properties/properties/scaleSettings") {
            *target = scale.clone();
        }
        if let Some(modified) = existing.pointer_mut("/properties/modifiedOn") {
            *modified = json!(stamp);
        }
        if let Some(system) = existing.get_mut("systemData") {
            system["lastModifiedAt"] = json!(stamp);
        }
        w.put(&scope_id, path, &existing)?;
        Ok(existing)
    })
}

/// ARM's Tags API, as the apply of a compute's scale change uses it to record the applied
/// specification: the compute PATCH carries only scale settings.
pub use crate::translate::api::TAGS_SUFFIX;

/// The resource a Tags API path is about (`computes/cpu` for
/// `computes/cpu/providers/Microsoft.Resources/tags/default`), compared without case.
pub fn tags_target(path: &str) -> Option<&str> {
    let split = path.len().checked_sub(TAGS_SUFFIX.len())?;
    let (object, suffix) = (path.get(..split)?, path.get(split..)?);
    suffix.eq_ignore_ascii_case(TAGS_SUFFIX).then_some(object)
}

/// `PATCH {object}/providers/Microsoft.Resources/tags/default`: `operation` `Merge`
/// (add or update the given tags), `Replace` (the given tags become all the tags) or
/// `Delete` (remove the given keys). Computes only: they are the tracked resources here.
pub fn patch_tags(
    store: &mut Store,
    scope: &Scope,
    object: &str,
    body: &Value,
    stamp: &str,
) -> Result<Value> {
    let scope_id = scope.id();
    let tags_path = format!("{object}{TAGS_SUFFIX}");
    let bad = |message: String| error("PATCH", &tags_path, 400, "InvalidRequestContent", message);
    let operation = body
        .get("operation")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`operation` is required: Merge, Replace or Delete".into()))?;
    let given = body
        .pointer("/properties/tags")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("`properties.tags` must be an object".into()))?;
    if let Some((key, _)) = given.iter().find(|(_, v)| !v.is_string()) {
        return Err(bad(format!("the value of tag `{key}` must be a string")));
    }
    store.transaction(|w| {
        let Shape::Compute(_) = shape(object) else {
            return Err(error(
                "PATCH",
                &tags_path,
                404,
                "NotFound",
                format!("{object} has no tags of its own here"),
            ));
        };
        let mut existing = w.get(&scope_id, object)?.ok_or_else(|| {
            error(
                "PATCH",
                &tags_path,
                404,
                "NotFound",
                format!("{object} does not exist"),
            )
        })?;
        let mut tags = existing
            .get("tags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match operation.to_ascii_lowercase().as_str() {
            "merge" => tags.extend(given.clone()),
            "replace" => tags = given.clone(),
            "delete" => tags.retain(|k, _| !given.contains_key(k)),
            other => {
                return Err(bad(format!(
                    "unknown operation `{other}`: Merge, Replace or Delete"
                )));
            }
        }
        existing["tags"] = Value::Object(tags.clone());
        if let Some(system) = existing.get_mut("systemData") {
            system["lastModifiedAt"] = json!(stamp);
        }
        w.put(&scope_id, object, &existing)?;
        Ok(json!({
            "id": format!("{}/{object}{TAGS_SUFFIX}", scope_id),
            "name": "default",
            "type": "Microsoft.Resources/tags",
            "properties": {"tags": tags},
        }))
    })
}

fn put_job(
    w: &Writer<'_>,
    scope: &Scope,
    scope_id: &str,
    path: &str,
    name: &str,
    body: &Value,
    stamp: &str,
) -> Result<(Written, Value)> {
    let existing = w.get(scope_id, path)?;
    let mut object = envelope(scope, path, name, body, existing.as_ref(), stamp);
    let properties = properties_mut(&mut object);
    let job_type = properties
        .get("jobType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if job_type.is_empty() {
        return Err(error(
            "PUT",
            path,
            400,
            "ValidationError",
            "`properties.jobType` is required",
        ));
    }
    if job_type == "Command"
        && properties
            .get("command")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(error(
            "PUT",
            path,
            400,
            "ValidationError",
            "`properties.command` is required",
        ));
    }
    match &existing {
        None => {
            properties.insert("status".into(), json!("NotStarted"));
        }
        Some(existing) => {
            // A job is a run record: only its tags, description and archived flag change.
            let mut old = existing.get("properties").cloned().unwrap_or(json!({}));
            let mut new = Value::Object(properties.clone());
            for side in [&mut old, &mut new] {
                if let Some(map) = side.as_object_mut() {
                    for key in ["tags", "description", "isArchived", "status", "properties"] {
                        map.remove(key);
                    }
                }
            }
            if old != new {
                return Err(error(
                    "PUT",
                    path,
                    409,
                    "UserError",
                    format!(
                        "job {name} already exists; only its tags, description and isArchived can be updated"
                    ),
                ));
            }
            let status = existing
                .pointer("/properties/status")
                .cloned()
                .unwrap_or(json!("NotStarted"));
            properties.insert("status".into(), status);
        }
    }
    w.put(scope_id, path, &object)?;
    Ok((
        if existing.is_some() {
            Written::Updated
        } else {
            Written::Created
        },
        object,
    ))
}

/// Sets a job's status (the runner's only write to the job's body).
pub fn set_job_status(
    store: &mut Store,
    scope: &Scope,
    name: &str,
    status: &str,
    stamp: &str,
) -> Result<()> {
    let scope_id = scope.id();
    let path = format!("jobs/{name}");
    store.transaction(|w| {
        let Some(mut job) = w.get(&scope_id, &path)? else {
            return Ok(());
        };
        let current = job
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(current, "Completed" | "Failed" | "Canceled") {
            return Ok(());
        }
        properties_mut(&mut job).insert("status".into(), json!(status));
        if let Some(system) = job.get_mut("systemData") {
            system["lastModifiedAt"] = json!(stamp);
        }
        w.put(&scope_id, &path, &job)
    })
}

/// Deletes an object and everything under it. Deleting a version refreshes its container's
/// `latestVersion`.
pub fn delete(store: &mut Store, scope: &Scope, path: &str) -> Result<bool> {
    let scope_id = scope.id();
    store.transaction(|w| {
        let removed = w.delete(&scope_id, path)?;
        // A container's latest version follows the versions that remain.
        if removed
            && let Shape::AssetVersion {
                collection, name, ..
            } = shape(path)
            && w.get(&scope_id, &format!("{collection}/{name}"))?.is_some()
        {
            update_container(w, scope, &scope_id, collection, name, &Value::Null, &now())?;
        }
        Ok(removed)
    })
}

/// Sets the provisioning state of an object (a compute while a long-running operation runs),
/// with the errors of a failed one.
pub fn set_provisioning_state(
    store: &mut Store,
    scope: &Scope,
    path: &str,
    state: &str,
    error: Option<Value>,
    stamp: &str,
) -> Result<()> {
    let scope_id = scope.id();
    store.transaction(|w| {
        let Some(mut object) = w.get(&scope_id, path)? else {
            return Ok(());
        };
        let properties = properties_mut(&mut object);
        properties.insert("provisioningState".into(), json!(state));
        match error {
            Some(error) => {
                properties.insert("provisioningErrors".into(), json!([error]));
            }
            None => {
                properties.remove("provisioningErrors");
            }
        }
        if properties.contains_key("modifiedOn") {
            properties.insert("modifiedOn".into(), json!(stamp));
        }
        w.put(&scope_id, path, &object)
    })
}

/// Lists a collection with the ARM filters amlops and the SDK use.
pub fn list(
    store: &Store,
    scope: &Scope,
    path: &str,
    params: &[(&str, &str)],
) -> Result<Vec<Value>> {
    let scope_id = scope.id();
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    };
    let mut items: Vec<Value> = match (
        param("hash"),
        path.split('/').collect::<Vec<_>>().as_slice(),
    ) {
        // A code look-up by content hash searches every code container.
        (Some(_), ["codes", _, "versions"]) => store
            .under(&scope_id, "codes/")?
            .into_iter()
            .filter(|r| matches!(shape(&r.path), Shape::AssetVersion { .. }))
            .map(|r| r.body)
            .collect(),
        _ => store
            .children(&scope_id, path)?
            .into_iter()
            .map(|r| r.body)
            .collect(),
    };
    if let Some(hash) = param("hash") {
        items.retain(|v| {
            v.pointer("/properties/properties/hash_sha256")
                .and_then(Value::as_str)
                == Some(hash)
        });
    }
    let archived = |v: &Value| {
        v.pointer("/properties/isArchived")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    match param("listViewType").unwrap_or("ActiveOnly") {
        "All" => {}
        "ArchivedOnly" => items.retain(archived),
        _ => items.retain(|v| !archived(v)),
    }
    if let Some(tag) = param("tag") {
        let (key, value) = tag
            .split_once('=')
            .map_or((tag, None), |(k, v)| (k, Some(v)));
        items.retain(
            |v| match v.pointer("/properties/tags").and_then(|t| t.get(key)) {
                Some(found) => value.is_none_or(|want| found.as_str() == Some(want)),
                None => false,
            },
        );
    }
    if let Some(filter) = param("$tags") {
        items.retain(|v| matches_terms(v.pointer("/properties/tags"), filter));
    }
    if let Some(filter) = param("properties") {
        items.retain(|v| matches_terms(v.pointer("/properties/properties"), filter));
    }
    if let Some(default) = param("isDefault") {
        let want = default.eq_ignore_ascii_case("true");
        items.retain(|v| {
            v.pointer("/properties/isDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                == want
        });
    }
    if let Some(names) = param("names") {
        let names: Vec<&str> = names.split(',').map(str::trim).collect();
        items.retain(|v| {
            v.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| names.contains(&n))
        });
    }
    if archived_container(store, &scope_id, path)?
        && param("listViewType").is_none_or(|v| v == "ActiveOnly")
    {
        items.clear();
    }
    if let Some(job_type) = param("jobType") {
        items
            .retain(|v| v.pointer("/properties/jobType").and_then(Value::as_str) == Some(job_type));
    }
    if param("$orderBy").is_some_and(|o| o.to_ascii_lowercase().contains("desc")) {
        items.reverse();
    }
    if let Some(top) = param("$top").and_then(|t| t.parse::<usize>().ok()) {
        items.truncate(top);
    }
    Ok(items)
}

/// Whether every term of a filter such as `tag1,tag2=value2` holds in `map`: a bare key must
/// be present, `key=value` must have that value.
fn matches_terms(map: Option<&Value>, filter: &str) -> bool {
    filter
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let (key, value) = term
                .split_once('=')
                .map_or((term, None), |(k, v)| (k, Some(v)));
            match map.and_then(|m| m.get(key)) {
                Some(found) => value.is_none_or(|want| found.as_str() == Some(want)),
                None => false,
            }
        })
}

/// Whether `path` lists the versions of an archived container (which hides them from the
/// default view, as Azure does).
fn archived_container(store: &Store, scope_id: &str, path: &str) -> Result<bool> {
    let parts: Vec<&str> = path.split('/').collect();
    let [collection, name, "versions"] = parts.as_slice() else {
        return Ok(false);
    };
    if !ASSET_COLLECTIONS.contains(collection) {
        return Ok(false);
    }
    Ok(store
        .get(scope_id, &format!("{collection}/{name}"))?
        .and_then(|c| c.pointer("/properties/isArchived").and_then(Value::as_bool))
        .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store, Scope) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store, Scope::local())
    }

    #[test]
    fn versions_are_immutable_but_tags_change() {
        let (_dir, mut store, scope) = store();
        let body = json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/d/paths/a.csv", "tags": {}}});
        let (written, object) = put(
            &mut store,
            &scope,
            "data/iris/versions/1",
            &body,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(written, Written::Created);
        assert_eq!(object["name"], "1");
        assert_eq!(
            object["type"],
            "Microsoft.MachineLearningServices/workspaces/data/versions"
        );
        let container = store.get(&scope.id(), "data/iris").unwrap().unwrap();
        assert_eq!(container["properties"]["latestVersion"], "1");
        assert_eq!(container["properties"]["nextVersion"], "2");

        let retagged = json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/d/paths/a.csv", "tags": {"t": "1"}}});
        let (written, _) = put(
            &mut store,
            &scope,
            "data/iris/versions/1",
            &retagged,
            "2026-01-02T00:00:00Z",
        )
        .unwrap();
        assert_eq!(written, Written::Updated);

        let moved = json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/d/paths/b.csv"}});
        let err = put(
            &mut store,
            &scope,
            "data/iris/versions/1",
            &moved,
            "2026-01-03T00:00:00Z",
        )
        .unwrap_err();
        assert_eq!(err.status(), Some(409));
        assert!(err.to_string().contains("dataUri"), "{err}");
    }

    #[test]
    fn computes_patch_scale_and_refuse_size_changes() {
        let (_dir, mut store, scope) = store();
        let body = json!({"location": "local", "properties": {"computeType": "AmlCompute", "properties": {
            "vmSize": "STANDARD_DS3_V2", "remoteLoginPortPublicAccess": "NotSpecified",
            "userAccountCredentials": {"adminUserName": "u", "adminUserPassword": "hunter2"},
            "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT2M"}}}});
        let (_, object) = put(&mut store, &scope, "computes/cpu-cluster", &body, "t").unwrap();
        assert!(!object.to_string().contains("hunter2"));
        assert_eq!(
            object.pointer("/properties/properties/remoteLoginPortPublicAccess"),
            Some(&json!("Enabled"))
        );

        let patch_body = json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 2, "minNodeCount": 0}}}});
        let patched = patch(
            &mut store,
            &scope,
            "computes/cpu-cluster",
            &patch_body,
            "t2",
        )
        .unwrap();
        assert_eq!(
            patched.pointer("/properties/properties/scaleSettings/maxNodeCount"),
            Some(&json!(2))
        );

        // A PUT that leaves defaulted fields out (and changes a tag) is an update, not a change
        // of priority or public IP.
        let mut retagged = body.clone();
        retagged["tags"] = json!({"team": "b"});
        put(&mut store, &scope, "computes/cpu-cluster", &retagged, "t2").unwrap();

        let mut bigger = body.clone();
        bigger["properties"]["properties"]["vmSize"] = json!("STANDARD_D13");
        let err = put(&mut store, &scope, "computes/cpu-cluster", &bigger, "t3").unwrap_err();
        assert_eq!(err.status(), Some(409));
        assert!(err.to_string().contains("vmSize"));
    }

    #[test]
    fn jobs_are_run_records() {
        let (_dir, mut store, scope) = store();
        let body = json!({"properties": {"jobType": "Command", "command": "echo hi", "environmentId": "e", "tags": {}}});
        let (_, job) = put(&mut store, &scope, "jobs/j1", &body, "t").unwrap();
        assert_eq!(job["properties"]["status"], "NotStarted");
        let mut tagged = body.clone();
        tagged["properties"]["tags"] = json!({"x": "y"});
        put(&mut store, &scope, "jobs/j1", &tagged, "t").unwrap();
        let mut changed = body.clone();
        changed["properties"]["command"] = json!("echo bye");
        assert_eq!(
            put(&mut store, &scope, "jobs/j1", &changed, "t")
                .unwrap_err()
                .status(),
            Some(409)
        );
        set_job_status(&mut store, &scope, "j1", "Completed", "t").unwrap();
        set_job_status(&mut store, &scope, "j1", "Running", "t").unwrap();
        assert_eq!(
            store.get(&scope.id(), "jobs/j1").unwrap().unwrap()["properties"]["status"],
            "Completed"
        );
    }

    #[test]
    fn list_filters() {
        let (_dir, mut store, scope) = store();
        for (v, archived) in [("1", false), ("2", true)] {
            let body = json!({"properties": {"codeUri": format!("u{v}"), "isArchived": archived, "properties": {"hash_sha256": format!("h{v}")}}});
            put(
                &mut store,
                &scope,
                &format!("codes/c{v}/versions/{v}"),
                &body,
                "t",
            )
            .unwrap();
        }
        assert_eq!(
            list(
                &store,
                &scope,
                "codes/x/versions",
                &[("hash", "h2"), ("listViewType", "All")]
            )
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            list(&store, &scope, "codes/c2/versions", &[])
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            list(
                &store,
                &scope,
                "codes/c2/versions",
                &[("listViewType", "All")]
            )
            .unwrap()
            .len(),
            1
        );
    }
    #[test]
    fn container_puts_keep_the_service_fields() {
        let (_dir, mut store, scope) = store();
        let version = json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/d/paths/a.csv"}});
        put(&mut store, &scope, "data/iris/versions/1", &version, "t").unwrap();
        let archive = json!({"properties": {"dataType": "uri_file", "isArchived": true, "latestVersion": "9"}});
        let (written, container) = put(&mut store, &scope, "data/iris", &archive, "t").unwrap();
        assert_eq!(written, Written::Updated);
        assert_eq!(container["properties"]["latestVersion"], "1");
        assert_eq!(container["properties"]["nextVersion"], "2");
        assert_eq!(container["properties"]["isArchived"], true);
        assert!(
            list(&store, &scope, "data/iris/versions", &[])
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            list(
                &store,
                &scope,
                "data/iris/versions",
                &[("listViewType", "All")]
            )
            .unwrap()
            .len(),
            1
        );
        let retyped = json!({"properties": {"dataType": "uri_folder"}});
        let err = put(&mut store, &scope, "data/iris", &retyped, "t").unwrap_err();
        assert_eq!(err.status(), Some(409));
        let untyped = json!({"properties": {}});
        let err = put(&mut store, &scope, "data/new", &untyped, "t").unwrap_err();
        assert_eq!(err.status(), Some(400));
        let (_, fresh) = put(&mut store, &scope, "environments/e", &untyped, "t").unwrap();
        assert_eq!(fresh["properties"]["nextVersion"], "1");
        assert_eq!(fresh["properties"]["isArchived"], false);
    }

    #[test]
    fn deleting_a_version_refreshes_its_container() {
        let (_dir, mut store, scope) = store();
        for v in ["1", "2"] {
            let body = json!({"properties": {"image": format!("img:{v}")}});
            put(
                &mut store,
                &scope,
                &format!("environments/e/versions/{v}"),
                &body,
                "t",
            )
            .unwrap();
        }
        assert!(delete(&mut store, &scope, "environments/e/versions/2").unwrap());
        let container = store.get(&scope.id(), "environments/e").unwrap().unwrap();
        assert_eq!(container["properties"]["latestVersion"], "1");
        assert!(!delete(&mut store, &scope, "environments/e/versions/2").unwrap());
    }

    #[test]
    fn provisioning_states_carry_errors() {
        let (_dir, mut store, scope) = store();
        let body = json!({"properties": {"computeType": "AmlCompute", "properties": {"scaleSettings": {"maxNodeCount": 1}}}});
        put(&mut store, &scope, "computes/cpu", &body, "t").unwrap();
        let error = json!({"error": {"code": "X", "message": "m"}});
        set_provisioning_state(
            &mut store,
            &scope,
            "computes/cpu",
            "Failed",
            Some(error),
            "t2",
        )
        .unwrap();
        let compute = store.get(&scope.id(), "computes/cpu").unwrap().unwrap();
        assert_eq!(compute["properties"]["provisioningState"], "Failed");
        assert_eq!(
            compute["properties"]["provisioningErrors"][0]["error"]["code"],
            "X"
        );
        set_provisioning_state(&mut store, &scope, "computes/cpu", "Succeeded", None, "t3")
            .unwrap();
        let compute = store.get(&scope.id(), "computes/cpu").unwrap().unwrap();
        assert!(compute["properties"].get("provisioningErrors").is_none());
    }

    #[test]
    fn tag_property_and_datastore_filters() {
        let (_dir, mut store, scope) = store();
        let tagged = |tags: Value, properties: Value| json!({"properties": {"jobType": "Command", "command": "c", "tags": tags, "properties": properties}});
        put(
            &mut store,
            &scope,
            "jobs/a",
            &tagged(json!({"team": "x", "k": "v"}), json!({"p": "1"})),
            "t",
        )
        .unwrap();
        put(
            &mut store,
            &scope,
            "jobs/b",
            &tagged(json!({"team": "y"}), json!({})),
            "t",
        )
        .unwrap();
        let names = |params: &[(&str, &str)]| -> Vec<String> {
            list(&store, &scope, "jobs", params)
                .unwrap()
                .iter()
                .map(|j| j["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&[("$tags", "team=x,k")]), vec!["a"]);
        assert_eq!(names(&[("$tags", "team")]), vec!["a", "b"]);
        assert_eq!(names(&[("properties", "p=1")]), vec!["a"]);
        assert_eq!(names(&[("properties", "p=2")]), Vec::<String>::new());
        for (name, default) in [("one", true), ("two", false)] {
            let body = json!({"properties": {"datastoreType": "AzureBlob", "isDefault": default}});
            put(
                &mut store,
                &scope,
                &format!("datastores/{name}"),
                &body,
                "t",
            )
            .unwrap();
        }
        let datastores =
            |params: &[(&str, &str)]| list(&store, &scope, "datastores", params).unwrap().len();
        assert_eq!(datastores(&[("isDefault", "true")]), 1);
        assert_eq!(datastores(&[("names", "one,two")]), 2);
        assert_eq!(datastores(&[("names", "two")]), 1);
    }
}
