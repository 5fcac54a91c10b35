//! Plans: what applying the manifests would change, field by field.
//!
//! Planning is pure. [`build::plan`] takes the declared resources, digests of the local
//! content they upload, and a [`Snapshot`] of live state, and returns either a [`Plan`] or the
//! [`Query`]s it still needs answered; the caller fetches those from a backend and calls it
//! again. No network, file system or clock is touched here, so every rule is unit-tested.
//!
//! The plan model follows Terraform's: an [`Action`] per resource with a display-only reason,
//! per-field changes in the manifest's own vocabulary, the fields that force a replacement,
//! and a `format_version` on the serialised form. Azure ML adds what it needs: a new version
//! of an immutable asset, a version conflict, a job submission.

pub mod build;
pub mod drift;
mod kinds;
pub mod normalize;
pub mod prune;
pub mod snapshot;
pub mod view;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Kind;
pub use build::{Artifact, Artifacts, Outcome, PlanInput, PlanOptions, plan};
pub use snapshot::{Query, Snapshot};

/// Version of the serialised plan format; bumped on incompatible changes.
pub const FORMAT_VERSION: &str = "1";

/// Tag keys amlops puts on what it creates.
pub mod tags {
    /// The manifest set (project) that owns the resource.
    pub const PROJECT: &str = "amlops.project";
    /// The resource's address in its manifests.
    pub const ADDRESS: &str = "amlops.address";
    /// Hash of the specification amlops applied, to tell drift from manifest changes.
    pub const SPEC: &str = "amlops.spec";
    pub const PREFIX: &str = "amlops.";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Live state already matches.
    NoOp,
    /// The resource does not exist yet.
    Create,
    /// An asset whose content changed gets a new version; the old one stays.
    NewVersion,
    /// Fields that can change in place (tags, description, scale settings).
    Update,
    /// Delete and create again: a field that cannot change in place changed.
    Replace,
    /// A job whose resolved specification has not run yet.
    Submit,
    /// An existing version (or job name) holds different content: nothing can be done.
    Conflict,
    /// An archived version that the manifests declare again is restored.
    Restore,
    /// An owned asset version that left the manifests is archived (with `--prune`).
    Archive,
    /// An owned resource that left the manifests is deleted (with `--prune`).
    Delete,
}

impl Action {
    /// The symbol shown before a change, as Terraform draws them.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create | Action::NewVersion | Action::Submit => "+",
            Action::Update | Action::Restore => "~",
            Action::Replace => "-/+",
            Action::Conflict => "!",
            Action::Archive => "~",
            Action::Delete => "-",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "no change",
            Action::Create => "create",
            Action::NewVersion => "new version",
            Action::Update => "update in place",
            Action::Replace => "replace",
            Action::Submit => "submit",
            Action::Conflict => "conflict",
            Action::Restore => "restore",
            Action::Archive => "archive",
            Action::Delete => "delete",
        }
    }

    /// Whether applying this action writes anything.
    pub fn writes(self) -> bool {
        !matches!(self, Action::NoOp | Action::Conflict)
    }
}

/// The whole plan, as `--json` prints it and as every renderer reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub target: Target,
    /// Changes in dependency order; no-ops included.
    pub changes: Vec<Change>,
    pub summary: Summary,
    /// Notes for the reader (warnings about the plan, not errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Where the plan came from, so a saved plan can be checked and applied later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The inputs of a saved plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    /// The manifest directory, absolute.
    pub manifests: std::path::PathBuf,
    /// `--only` addresses the plan was restricted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    /// `--prune` and `--prune-computes`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune_computes: bool,
    /// The target of the project file the plan was made for. Variables given with `--var`
    /// are not recorded (they may be secret): applying needs them again, and a plan made
    /// from other values is refused as changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Why a saved plan cannot be applied as it is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StalePlan {
    #[error("the workspace changed since the plan was made: {}", .0.join(", "))]
    LiveMoved(Vec<String>),
    #[error("what the plan would do changed since it was made (the manifests, or what they refer to in the workspace): {}", .0.join(", "))]
    ManifestsChanged(Vec<String>),
    #[error("the plan was made for {saved}, not {current}")]
    OtherTarget { saved: String, current: String },
}

impl Plan {
    /// Checks that `fresh` (planned now from the same manifests) is the plan that was saved:
    /// the live objects it saw are unchanged, and so are the changes it would make.
    pub fn check_saved(&self, fresh: &Plan) -> Result<(), StalePlan> {
        if self.target.id != fresh.target.id || self.target.kind != fresh.target.kind {
            let words = |t: &Target| format!("the {} {}", t.kind, t.id);
            return Err(StalePlan::OtherTarget {
                saved: words(&self.target),
                current: words(&fresh.target),
            });
        }
        let moved: Vec<String> = self
            .changes
            .iter()
            .filter(|saved| {
                let now = fresh.change(&saved.address);
                now.is_some_and(|now| now.live_fingerprint != saved.live_fingerprint)
            })
            .map(|saved| saved.address.clone())
            .collect();
        if !moved.is_empty() {
            return Err(StalePlan::LiveMoved(moved));
        }
        // Where a declaration was written is shown relative to the working directory, and a
        // job's state moves on by itself: neither is part of the change.
        let serialised = |c: &Change| {
            let mut value = serde_json::to_value(c).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.remove("source");
                map.remove("status");
            }
            value
        };
        let mut changed: Vec<String> = self
            .changes
            .iter()
            .filter(|saved| {
                fresh
                    .change(&saved.address)
                    .is_none_or(|now| serialised(now) != serialised(saved))
            })
            .map(|saved| saved.address.clone())
            .collect();
        changed.extend(
            fresh
                .changes
                .iter()
                .filter(|now| self.change(&now.address).is_none())
                .map(|now| now.address.clone()),
        );
        if !changed.is_empty() {
            return Err(StalePlan::ManifestsChanged(changed));
        }
        Ok(())
    }
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.writes())
    }

    pub fn has_conflicts(&self) -> bool {
        self.changes.iter().any(|c| c.action == Action::Conflict)
    }

    pub fn change(&self, address: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.address == address)
    }

    /// Keeps only the changes of `addresses` and what they depend on, transitively. An
    /// unknown address is an error that suggests the closest known one.
    pub fn restrict(&mut self, addresses: &[String]) -> Result<(), String> {
        let mut keep: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = Vec::new();
        for address in addresses {
            if self.change(address).is_none() {
                let known = self.changes.iter().map(|c| c.address.as_str());
                let hint = crate::diag::did_you_mean(address, known)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(format!("no resource `{address}` in the plan{hint}"));
            }
            todo.push(address.clone());
        }
        while let Some(address) = todo.pop() {
            if !keep.insert(address.clone()) {
                continue;
            }
            if let Some(change) = self.change(&address) {
                todo.extend(change.depends_on.iter().cloned());
            }
        }
        self.changes.retain(|c| keep.contains(&c.address));
        self.summary = Summary::of(&self.changes);
        Ok(())
    }
}

/// Where the plan applies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Target {
    /// `local`, `workspace` or `registry`.
    pub kind: String,
    /// A name for people: `local`, or `sub/rg/workspace`.
    pub name: String,
    /// The ARM id of the workspace or registry.
    pub id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub new_version: usize,
    pub update: usize,
    pub replace: usize,
    pub submit: usize,
    pub restore: usize,
    pub archive: usize,
    pub delete: usize,
    pub conflict: usize,
    pub no_op: usize,
}

impl Summary {
    pub fn of(changes: &[Change]) -> Self {
        let mut summary = Summary::default();
        for change in changes {
            *match change.action {
                Action::NoOp => &mut summary.no_op,
                Action::Create => &mut summary.create,
                Action::NewVersion => &mut summary.new_version,
                Action::Update => &mut summary.update,
                Action::Replace => &mut summary.replace,
                Action::Submit => &mut summary.submit,
                Action::Conflict => &mut summary.conflict,
                Action::Restore => &mut summary.restore,
                Action::Archive => &mut summary.archive,
                Action::Delete => &mut summary.delete,
            } += 1;
        }
        summary
    }
}

/// One resource's planned change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    /// `data.iris`, `environment.train-env:2`, `compute.cpu`, `job.train`; derived objects
    /// (anonymous environments, code snapshots) get `environment.CliV2AnonymousEnvironment:<v>`
    /// and `code.<name>`.
    pub address: String,
    pub kind: Kind,
    pub name: String,
    /// The version this change creates or keeps, for assets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub action: Action,
    /// Why this action, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `file:line` of the declaration; absent for derived objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether amlops derived this object from another (an inline environment, a code folder).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// Addresses this change waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Field by field, in the manifest's vocabulary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// What apply sends, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<Request>,
    /// Local content apply uploads before the requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<Upload>,
    /// A suggestion for the user (the next free version of a conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The state of a job that already ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The specification hash apply records (tag `amlops.spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_spec: Option<String>,
    /// The specification hash the live object carries: what amlops last applied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_spec: Option<String>,
    /// A hash of the live object as the plan saw it (`absent` when there was none), so a
    /// saved plan can tell whether the workspace moved since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_fingerprint: Option<String>,
    /// A `rerun: always` job submitted again though nothing changed since its last run:
    /// apply submits it, yet the manifests and the workspace agree (drift: in sync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurring: bool,
}

/// One field's change. Values are in the manifest's vocabulary; `None` means absent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FieldChange {
    /// Dotted path: `max_instances`, `tags.team`, `inputs.lr`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// This field cannot change in place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
    /// Where the declared value came from, when a variable or a target's overlay set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<crate::model::ValueOrigin>,
}

/// An ARM request apply sends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub method: String,
    /// ARM path: `/subscriptions/…/workspaces/w/data/iris/versions/1`.
    pub path: String,
    pub api_version: String,
    /// The body with secrets replaced by `"(sensitive)"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body as sent, secrets included. Kept in memory only: never serialised.
    #[serde(skip)]
    pub secret_body: Option<Value>,
}

impl Request {
    /// The body to send: with secrets when this request was built in this process.
    pub fn wire_body(&self) -> Option<&Value> {
        self.secret_body.as_ref().or(self.body.as_ref())
    }
}

/// Local content apply uploads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Upload {
    /// The local file or folder, as written in the manifest.
    pub source: String,
    /// Absolute local path.
    pub local_path: std::path::PathBuf,
    /// Where it goes: a datastore URI such as
    /// `azureml://datastores/workspaceblobstore/paths/LocalUpload/<digest>/iris.csv`.
    pub destination: String,
    pub digest: String,
    pub files: usize,
    pub bytes: u64,
    /// Files and folders merged into the upload beside `local_path`'s content, each under its
    /// own name (a component's `additional_includes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<std::path::PathBuf>,
}

/// The text replacing secrets in serialised plans and displays.
pub const SENSITIVE: &str = "(sensitive)";
