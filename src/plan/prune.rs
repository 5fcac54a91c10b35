//! Pruning: what amlops owns that left the manifests.
//!
//! Only objects tagged with this project (`amlops.project`) are considered; anything created
//! by hand or by another project is never listed. An object leaves the manifests when its
//! address (`amlops.address`) is no longer declared; older versions of an address that is
//! still declared are history and stay.
//!
//! - Asset versions are archived (Azure ML keeps versions; archiving hides them and keeps the
//!   number taken). An archived version that comes back into the manifests is restored.
//! - Computes are deleted only when asked (`--prune-computes`), and never while a job runs on
//!   them or a declared resource refers to them.
//! - Jobs are run records and are never pruned.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::snapshot::{Snapshot, is_archived};
use super::{Action, Change, Request, tags};
use crate::model::Kind;
use crate::scope::Scope;
use crate::translate::api;

/// What `--prune` may remove.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prune {
    /// Archive owned asset versions that left the manifests.
    pub assets: bool,
    /// Delete owned computes that left the manifests.
    pub computes: bool,
}

impl Prune {
    pub fn any(self) -> bool {
        self.assets || self.computes
    }

    /// The kinds whose owned objects must be listed.
    pub fn kinds(self) -> Vec<Kind> {
        let mut kinds = Vec::new();
        if self.assets {
            kinds.extend([Kind::Data, Kind::Environment, Kind::Component]);
        }
        if self.assets || self.computes {
            // Computes are listed either way, to say which ones left the manifests.
            kinds.push(Kind::Compute);
        }
        kinds
    }
}

/// Read-only fields of an asset version a PUT must not send back.
const READ_ONLY: &[&str] = &["provisioningState", "environmentType"];

/// The prune changes, and notes on what was left alone and why.
///
/// `desired` holds the bodies of everything declared, changed or not: an object one of them
/// refers to (a data version a job reads, a compute it runs on) is kept.
pub fn prune(
    prune: Prune,
    scope: &Scope,
    snapshot: &Snapshot,
    planned: &[Change],
    desired: &[&Value],
) -> (Vec<Change>, Vec<String>) {
    let declared: BTreeSet<&str> = planned.iter().map(|c| c.address.as_str()).collect();
    let references: String = desired
        .iter()
        .map(|body| body.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for kind in prune.kinds() {
        for object in snapshot.owned(kind) {
            let Some(address) = super::snapshot::tag(kind, object, tags::ADDRESS) else {
                continue;
            };
            if declared.contains(address) {
                continue;
            }
            let Some(id) = object.get("id").and_then(Value::as_str) else {
                continue;
            };
            let Some(path) = scope.relative(id) else {
                continue;
            };
            if references.contains(id) {
                notes.push(format!(
                    "{address} left the manifests but a declared resource refers to it: kept"
                ));
                continue;
            }
            if kind == Kind::Compute {
                match compute_change(prune, snapshot, address, path, id, scope) {
                    Ok(change) => changes.push(change),
                    Err(note) => notes.push(note),
                }
            } else if prune.assets && !is_archived(object) {
                changes.push(archive(kind, address, path, object, scope));
            }
        }
    }
    (changes, notes)
}

fn skeleton(kind: Kind, address: &str, object: &Value, action: Action, reason: String) -> Change {
    Change {
        address: address.to_owned(),
        kind,
        name: object
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        version: kind.is_versioned().then(|| {
            object
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }),
        action,
        reason: Some(reason),
        source: None,
        derived: false,
        depends_on: Vec::new(),
        fields: Vec::new(),
        requests: Vec::new(),
        uploads: Vec::new(),
        hint: None,
        status: None,
        desired_spec: None,
        applied_spec: None,
        recurring: false,
        live_fingerprint: Some(super::build::fingerprint(&super::view::view(
            kind,
            object,
            &Scope::local(),
        ))),
    }
}

fn archive(kind: Kind, address: &str, path: &str, object: &Value, scope: &Scope) -> Change {
    let mut properties: Map<String, Value> = object
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for field in READ_ONLY {
        properties.remove(*field);
    }
    properties.insert("isArchived".into(), json!(true));
    let body = json!({ "properties": properties });
    let mut change = skeleton(
        kind,
        address,
        object,
        Action::Archive,
        "left the manifests; Azure ML keeps versions, so it is archived".into(),
    );
    change.fields.push(super::FieldChange {
        path: "archived".into(),
        before: None,
        after: Some(json!(true)),
        forces_replacement: false,
        from: None,
    });
    change.requests.push(Request {
        method: "PUT".into(),
        path: scope.resource_id(path),
        api_version: match kind {
            Kind::Component => api::COMPONENT.into(),
            _ => api::DATA.into(),
        },
        body: Some(body),
        secret_body: None,
    });
    change
}

fn compute_change(
    prune: Prune,
    snapshot: &Snapshot,
    address: &str,
    path: &str,
    id: &str,
    scope: &Scope,
) -> Result<Change, String> {
    if !prune.computes {
        return Err(format!(
            "{address} left the manifests; pass --prune-computes to delete it"
        ));
    }
    let busy: Vec<&str> = snapshot
        .active_jobs
        .iter()
        .filter(|j| {
            j.pointer("/properties/computeId")
                .and_then(Value::as_str)
                .is_some_and(|c| c.eq_ignore_ascii_case(id))
        })
        .filter_map(|j| j.get("name").and_then(Value::as_str))
        .collect();
    if !busy.is_empty() {
        return Err(format!(
            "{address} left the manifests but jobs run on it ({}): not deleted",
            busy.join(", ")
        ));
    }
    let object = snapshot
        .owned(Kind::Compute)
        .iter()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
        .cloned()
        .unwrap_or(Value::Null);
    let mut change = skeleton(
        Kind::Compute,
        address,
        &object,
        Action::Delete,
        "left the manifests".into(),
    );
    change.requests.push(Request {
        method: "DELETE".into(),
        path: format!(
            "{}?underlyingResourceAction=Delete",
            scope.resource_id(path)
        ),
        api_version: api::COMPUTE.into(),
        body: None,
        secret_body: None,
    });
    Ok(change)
}
