//! Field-by-field comparison of views, with Azure ML's equivalences and mutability rules.
//!
//! # The noise catalogue
//!
//! A live object carries more than what amlops sent: fields the service fills, defaults, other
//! spellings of the same value. A manifest applied and planned again must show no change, so
//! each kind of noise has a rule, either in the view ([`super::view`], which never shows a
//! field) or in the comparison here (which treats two values as equal). Every rule has a
//! fixture, a realistic live body in `tests/fixtures/live/`, and a test below.
//!
//! | noise | rule | where | fixture |
//! | --- | --- | --- | --- |
//! | system data, `id`, `name`, `type`, `createdOn`/`modifiedOn` | never in a view | view | all |
//! | provisioning states, `provisioningErrors`, `environmentType`, `isAnonymous` | never in a view | view | `compute-amlcompute.json`, `environment-image.json` |
//! | node counts, `allocationState*`, `errors`, `computeLocation`, `isAttachedCompute` | never in a view | view | `compute-amlcompute.json` |
//! | reserved `azureml.*` (and other undeclared) `properties` and `tags` | only declared keys compare | here (`OPEN_MAPS`) | `data-uri-folder.json`, `environment-image.json` |
//! | server defaults for unset fields: `vmPriority: Dedicated`, `enableNodePublicIp: true`, `osType: Linux`, `dockerfilePath: Dockerfile`, identity `None` | the default and absence are one value | view | `compute-amlcompute.json`, `environment-build.json` |
//! | `remoteLoginPortPublicAccess: NotSpecified` turned into `Enabled` or `Disabled` | an unset `ssh_public_access_enabled` matches any live value | here | `compute-amlcompute.json` |
//! | case of VM sizes (`STANDARD_DS3_V2`) and locations (`West Europe`, `westeurope`) | compared ignoring case (and spaces, for locations) | here | `compute-amlcompute.json` |
//! | ARM ids with another case (`resourcegroups`) | subnet and identity ids compared ignoring case | here | `compute-amlcompute.json` |
//! | durations written another way (`PT120S`, `PT2M`) | seconds in the view | view | `compute-amlcompute.json` |
//! | numbers as floats (`4.0`) | compared as numbers | here | `compute-amlcompute.json` |
//! | datastore URIs in the long form (`azureml://subscriptions/…/datastores/d/paths/p`) | shown in the short form when they name the target | view | `data-uri-file.json` |
//! | folder URIs with or without a trailing `/` | folders compare without it | view | `data-uri-folder.json` |
//! | `dataType` written `UriFolder` (as the REST examples do) | compared ignoring case and `_` | here | `data-uri-folder.json` |
//! | uploaded content at the storage URL `startPendingUpload` gave, not the planned datastore path | `…/LocalUpload/<digest>/<name>` matches any URI ending in `/<digest>/<name>` | here | `environment-build.json` |
//!
//! # Mutability
//!
//! | rule | why |
//! | --- | --- |
//! | asset versions change in place only in `description`, `tags` and `archived` | asset content is immutable per version |
//! | computes change `min_instances`, `max_instances`, `idle_time_before_scale_down` in place; `description` and `tags` by an update; everything else replaces | the ARM contract's PATCH carries only scale settings |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::FieldChange;
use super::tags;
use crate::model::Kind;

/// Maps flattened into dotted paths; lists and scalars are leaves.
pub fn flatten(view: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten_into(view, "", &mut out);
    out
}

fn flatten_into(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_into(child, &path, out);
            }
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// Maps whose keys the manifest may leave undeclared without asking for their removal.
const OPEN_MAPS: &[&str] = &["tags.", "properties."];

/// The changes from `live` to `desired` (both views of `kind`).
pub fn field_changes(kind: Kind, desired: &Value, live: &Value) -> Vec<FieldChange> {
    let desired = flatten(desired);
    let live = flatten(live);
    let paths: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let mut changes = Vec::new();
    for path in paths {
        let (after, before) = (desired.get(path), live.get(path));
        if after.is_none() && OPEN_MAPS.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        if same(kind, path, after, before) {
            continue;
        }
        changes.push(FieldChange {
            path: path.clone(),
            before: before.cloned(),
            after: after.cloned(),
            forces_replacement: mutability(kind, path) == Mutability::Replace,
            from: None,
        });
    }
    changes
}

/// Whether two views of `kind` show no change from `live` to `desired`.
pub fn same_view(kind: Kind, desired: &Value, live: &Value) -> bool {
    field_changes(kind, desired, live).is_empty()
}

fn same(kind: Kind, path: &str, desired: Option<&Value>, live: Option<&Value>) -> bool {
    match (kind, path) {
        (Kind::Compute, "ssh_public_access_enabled") if desired.is_none() => return true,
        (Kind::Compute, "size") => return eq_by(desired, live, |s| s.to_ascii_lowercase()),
        (Kind::Compute, "location") => {
            return eq_by(desired, live, |s| s.to_ascii_lowercase().replace(' ', ""));
        }
        (Kind::Compute, "network_settings.subnet" | "identity.user_assigned_identities") => {
            return eq_by_text(desired, live, |s| s.to_ascii_lowercase());
        }
        (Kind::Data, "type") => {
            return eq_by(desired, live, |s| s.to_ascii_lowercase().replace('_', ""));
        }
        _ => {}
    }
    if is_uri_field(path)
        && let (Some(Value::String(planned)), Some(Value::String(found))) = (desired, live)
        && same_upload(planned, found)
    {
        return true;
    }
    match (desired, live) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// View fields that hold the URI of uploaded content.
fn is_uri_field(path: &str) -> bool {
    path == "path"
        || path == "build.path"
        || (path.starts_with("inputs.") && path.ends_with(".path"))
}

/// Planned uploads go to `azureml://datastores/<store>/paths/LocalUpload/<digest>/<name>`;
/// a backend may put them elsewhere (the storage folder `startPendingUpload` hands out) but
/// keeps the `<digest>/<name>` tail, and the digest names the content.
pub fn same_upload(planned: &str, found: &str) -> bool {
    let Some((_, tail)) = planned.split_once("/paths/LocalUpload/") else {
        return false;
    };
    let tail = tail.trim_end_matches('/');
    let Some((digest, name)) = tail.split_once('/') else {
        return false;
    };
    if digest.len() < 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
        return false;
    }
    percent_decode(found.trim_end_matches('/')).ends_with(&format!("/{tail}"))
}

/// Decodes `%XX` escapes, as storage URLs carry them for unusual file names.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares two values (of any type) by their JSON text under `key`.
fn eq_by_text(a: Option<&Value>, b: Option<&Value>, key: impl Fn(&str) -> String) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => key(&a.to_string()) == key(&b.to_string()),
        _ => a == b,
    }
}

fn eq_by(a: Option<&Value>, b: Option<&Value>, key: impl Fn(&str) -> String) -> bool {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(a), Some(b)) => key(a) == key(b),
        _ => a == b,
    }
}

/// How a field can change on an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Changed by a PATCH of the live object (compute scale settings).
    Patch,
    /// Changed by a PUT of the same object (tags, descriptions, archived flags).
    Put,
    /// Content: a new version for assets, a replacement for computes.
    Replace,
}

pub fn mutability(kind: Kind, path: &str) -> Mutability {
    let tag_like = path.starts_with("tags.") || path == "description";
    match kind {
        Kind::Compute => match path {
            "min_instances" | "max_instances" | "idle_time_before_scale_down" => Mutability::Patch,
            _ if tag_like => Mutability::Put,
            _ => Mutability::Replace,
        },
        Kind::Data | Kind::Environment | Kind::Code | Kind::Component => {
            if tag_like || path == "archived" {
                Mutability::Put
            } else {
                Mutability::Replace
            }
        }
        Kind::Job => {
            if tag_like {
                Mutability::Put
            } else {
                Mutability::Replace
            }
        }
    }
}

/// The hash of a view that amlops records in the `amlops.spec` tag: canonical JSON of the view
/// without amlops' own tags, with case-insensitive fields lowered.
pub fn spec_hash(kind: Kind, view: &Value) -> String {
    let mut flat = flatten(view);
    flat.retain(|path, _| !path.starts_with(&format!("tags.{}", tags::PREFIX)));
    if kind == Kind::Compute {
        for key in ["size", "location"] {
            if let Some(Value::String(s)) = flat.get_mut(key) {
                *s = s.to_ascii_lowercase().replace(' ', "");
            }
        }
    }
    let canonical = serde_json::to_string(&flat).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compute_noise_is_not_a_change() {
        let desired = json!({"size": "Standard_DS3_v2", "location": "East US", "max_instances": 4, "tags": {"team": "a"}});
        let live = json!({"size": "STANDARD_DS3_V2", "location": "eastus", "max_instances": 4.0,
            "ssh_public_access_enabled": false, "tags": {"team": "a", "owner": "someone-else"}});
        assert_eq!(field_changes(Kind::Compute, &desired, &live), vec![]);
    }

    #[test]
    fn classifies_compute_fields() {
        let desired = json!({"size": "STANDARD_D2", "max_instances": 2, "tags": {"team": "b"}});
        let live = json!({"size": "STANDARD_DS3_V2", "max_instances": 4, "tags": {"team": "a"}});
        let changes = field_changes(Kind::Compute, &desired, &live);
        let summary: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.forces_replacement))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("max_instances", false),
                ("size", true),
                ("tags.team", false)
            ]
        );
        assert_eq!(
            mutability(Kind::Compute, "max_instances"),
            Mutability::Patch
        );
        assert_eq!(mutability(Kind::Data, "path"), Mutability::Replace);
        assert_eq!(mutability(Kind::Data, "tags.x"), Mutability::Put);
    }

    #[test]
    fn spec_hash_ignores_own_tags_and_case() {
        let a = json!({"size": "Standard_DS3_v2", "tags": {"amlops.spec": "x", "team": "a"}});
        let b = json!({"size": "STANDARD_DS3_V2", "tags": {"team": "a"}});
        assert_eq!(spec_hash(Kind::Compute, &a), spec_hash(Kind::Compute, &b));
        let c = json!({"size": "STANDARD_DS3_V2", "tags": {"team": "b"}});
        assert_ne!(spec_hash(Kind::Compute, &b), spec_hash(Kind::Compute, &c));
    }

    #[test]
    fn uploads_are_found_by_their_digest_wherever_they_went() {
        let digest = "0123456789abcdef0123456789abcdef";
        let planned =
            format!("azureml://datastores/workspaceblobstore/paths/LocalUpload/{digest}/my src");
        for found in [
            format!("https://acct.blob.core.windows.net/c/LocalUpload/x/{digest}/my%20src"),
            format!("http://127.0.0.1:10000/devstoreaccount1/c/{digest}/my src/"),
            planned.clone(),
        ] {
            assert!(same_upload(&planned, &found), "{found}");
        }
        for found in [
            format!("https://acct.blob.core.windows.net/c/{digest}/other"),
            "https://acct.blob.core.windows.net/c/00000000000000000000000000000000/my src".into(),
            format!("https://acct/c/x{digest}/my src"),
        ] {
            assert!(!same_upload(&planned, &found), "{found}");
        }
        // Only planned uploads get the rule: an explicit path must match exactly.
        assert!(!same_upload(
            "azureml://datastores/d/paths/data/x",
            "https://acct/c/data/x"
        ));
    }
}
