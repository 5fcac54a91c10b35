//! Field-by-field comparison of views, with Azure ML's equivalences and mutability rules.
//!
//! Each rule here exists because the service reports a value differently from how it was
//! written, or because a field can or cannot change in place:
//!
//! | rule | why |
//! | --- | --- |
//! | VM sizes and locations compare ignoring case (and spaces, for locations) | the service normalises `STANDARD_DS3_v2` and `East US` |
//! | an unset `ssh_public_access_enabled` matches any live value | Azure turns `NotSpecified` into `Enabled` or `Disabled` |
//! | tags and properties the manifest does not declare are kept | other tools (and the service, with `azureml.*` keys) set their own |
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

fn same(kind: Kind, path: &str, desired: Option<&Value>, live: Option<&Value>) -> bool {
    match (kind, path) {
        (Kind::Compute, "ssh_public_access_enabled") if desired.is_none() => return true,
        (Kind::Compute, "size") => return eq_by(desired, live, |s| s.to_ascii_lowercase()),
        (Kind::Compute, "location") => {
            return eq_by(desired, live, |s| s.to_ascii_lowercase().replace(' ', ""));
        }
        _ => {}
    }
    match (desired, live) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
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
}
