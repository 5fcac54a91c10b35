//! Drift: telling "someone changed the workspace" from "the manifests changed".
//!
//! amlops keeps no state file. What it last applied to an object is recorded on the object
//! itself, as the hash of the specification in the `amlops.spec` tag. For each difference a
//! plan finds between the manifests and the live object:
//!
//! - the manifests still hash to the recorded specification: the live object changed out of
//!   band (drift);
//! - they hash to something else: the manifests changed since the last apply (pending);
//! - the object is absent, or a new version or job is due: pending;
//! - an immutable version holds other content: conflict.
//!
//! When both the manifests and the live object changed, the difference is reported as
//! pending: without the previous specification's values, amlops cannot separate the two.
//!
//! The exit code is derived from the same report that is printed: 4 on a conflict, else 3 on
//! drift, else 2 with pending changes, else 0.

use serde::{Deserialize, Serialize};

use super::{Action, Change, FieldChange, Plan, Target};
use crate::model::Kind;

pub const FORMAT_VERSION: &str = "1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    InSync,
    /// The manifests have changes to apply.
    Pending,
    /// The live object changed out of band since amlops applied it.
    Drifted,
    Conflict,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DriftEntry {
    pub address: String,
    pub kind: Kind,
    pub state: DriftState,
    /// What the plan would do about it.
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Differences, `before` being the live value and `after` the manifests'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DriftSummary {
    pub in_sync: usize,
    pub pending: usize,
    pub drifted: usize,
    pub conflict: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: String,
    pub target: Target,
    pub resources: Vec<DriftEntry>,
    pub summary: DriftSummary,
    /// 0 clean, 2 pending, 3 drift, 4 conflict.
    pub exit_code: i32,
}

/// Classifies every change of a plan.
pub fn drift(plan: &Plan) -> DriftReport {
    let resources: Vec<DriftEntry> = plan.changes.iter().map(entry).collect();
    let mut summary = DriftSummary::default();
    for resource in &resources {
        *match resource.state {
            DriftState::InSync => &mut summary.in_sync,
            DriftState::Pending => &mut summary.pending,
            DriftState::Drifted => &mut summary.drifted,
            DriftState::Conflict => &mut summary.conflict,
        } += 1;
    }
    let exit_code = exit_code(&summary);
    DriftReport {
        format_version: FORMAT_VERSION.into(),
        target: plan.target.clone(),
        resources,
        summary,
        exit_code,
    }
}

fn entry(change: &Change) -> DriftEntry {
    let state = match change.action {
        Action::NoOp => DriftState::InSync,
        Action::Submit if change.recurring => DriftState::InSync,
        Action::Conflict => DriftState::Conflict,
        Action::Update | Action::Replace | Action::Restore
            if change.applied_spec.is_some() && change.applied_spec == change.desired_spec =>
        {
            DriftState::Drifted
        }
        _ => DriftState::Pending,
    };
    let reason = match state {
        DriftState::Drifted => Some("changed out of band since amlops applied it".to_owned()),
        DriftState::Pending
            if change.live_fingerprint.as_deref() == Some("absent")
                && change.action != Action::Submit =>
        {
            Some(format!("declared but absent: {}", change.action.verb()))
        }
        _ => change.reason.clone(),
    };
    DriftEntry {
        address: change.address.clone(),
        kind: change.kind,
        state,
        action: change.action,
        source: change.source.clone(),
        reason,
        fields: change.fields.clone(),
    }
}

pub fn exit_code(summary: &DriftSummary) -> i32 {
    if summary.conflict > 0 {
        4
    } else if summary.drifted > 0 {
        3
    } else if summary.pending > 0 {
        2
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Summary;

    fn change(action: Action, applied: Option<&str>, desired: Option<&str>) -> Change {
        Change {
            address: "compute.cpu".into(),
            kind: Kind::Compute,
            name: "cpu".into(),
            version: None,
            action,
            reason: None,
            source: None,
            derived: false,
            depends_on: vec![],
            fields: vec![],
            requests: vec![],
            uploads: vec![],
            hint: None,
            status: None,
            desired_spec: desired.map(str::to_owned),
            applied_spec: applied.map(str::to_owned),
            recurring: false,
            live_fingerprint: Some("f".into()),
        }
    }

    fn report(changes: Vec<Change>) -> DriftReport {
        drift(&Plan {
            format_version: "1".into(),
            target: Target {
                kind: "local".into(),
                name: "local".into(),
                id: "x".into(),
            },
            summary: Summary::of(&changes),
            changes,
            notes: vec![],
            origin: None,
        })
    }

    #[test]
    fn live_changes_under_an_unchanged_manifest_are_drift() {
        let r = report(vec![change(Action::Update, Some("a"), Some("a"))]);
        assert_eq!(r.resources[0].state, DriftState::Drifted);
        assert_eq!(r.exit_code, 3);
    }

    #[test]
    fn a_changed_manifest_is_pending() {
        let r = report(vec![change(Action::Update, Some("a"), Some("b"))]);
        assert_eq!(r.resources[0].state, DriftState::Pending);
        assert_eq!(r.exit_code, 2);
        let unowned = report(vec![change(Action::Update, None, Some("b"))]);
        assert_eq!(unowned.resources[0].state, DriftState::Pending);
    }

    #[test]
    fn conflicts_win_over_drift_and_clean_is_zero() {
        let r = report(vec![
            change(Action::Update, Some("a"), Some("a")),
            change(Action::Conflict, Some("x"), Some("y")),
        ]);
        assert_eq!(r.exit_code, 4);
        let clean = report(vec![change(Action::NoOp, Some("a"), Some("a"))]);
        assert_eq!(clean.exit_code, 0);
        assert_eq!(
            clean.summary,
            DriftSummary {
                in_sync: 1,
                ..DriftSummary::default()
            }
        );
    }
}
