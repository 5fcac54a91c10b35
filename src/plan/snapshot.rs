//! What the planner knows of live state, and the questions it asks to learn more.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::Kind;

/// A question about live state. Paths are relative to the target's scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Query {
    /// Every version of an asset container, archived ones included (one list request plus
    /// paging): the planner compares content, finds the latest and the next free version.
    Versions { kind: Kind, name: String },
    /// One object, such as `computes/cpu` or `jobs/train-1a2b3c4d`.
    Get(String),
    /// The code version holding a snapshot with this SDK content hash, if any.
    CodeByHash(String),
    /// The jobs amlops submitted for a job address (tag `amlops.address`), to show what
    /// changed since the last one.
    JobsOf(String),
    /// Every object of a kind that this project owns (tag `amlops.project`), archived
    /// versions included: what `--prune` may remove.
    Owned { kind: Kind, project: String },
    /// Jobs that have not reached a terminal state, to keep computes they run on.
    ActiveJobs,
}

/// Answers to [`Query`]s.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Versions of each asset container, as the API returns them; empty when none exist.
    pub versions: BTreeMap<(Kind, String), Vec<Value>>,
    /// Single objects; `None` when absent.
    pub objects: BTreeMap<String, Option<Value>>,
    /// For an SDK content hash, the relative path of a code version holding it.
    pub code_by_hash: BTreeMap<String, Option<String>>,
    /// Jobs by the address they were submitted for.
    pub jobs_of: BTreeMap<String, Vec<Value>>,
    /// Owned objects by kind.
    pub owned: BTreeMap<Kind, Vec<Value>>,
    /// Whether `active_jobs` was fetched.
    pub active_jobs_known: bool,
    pub active_jobs: Vec<Value>,
}

impl Snapshot {
    pub fn answers(&self, query: &Query) -> bool {
        match query {
            Query::Versions { kind, name } => self.versions.contains_key(&(*kind, name.clone())),
            Query::Get(path) => self.objects.contains_key(path),
            Query::CodeByHash(hash) => self.code_by_hash.contains_key(hash),
            Query::JobsOf(address) => self.jobs_of.contains_key(address),
            Query::Owned { kind, .. } => self.owned.contains_key(kind),
            Query::ActiveJobs => self.active_jobs_known,
        }
    }

    /// The queries of `wanted` this snapshot cannot answer yet.
    pub fn missing(&self, wanted: &BTreeSet<Query>) -> Vec<Query> {
        wanted
            .iter()
            .filter(|q| !self.answers(q))
            .cloned()
            .collect()
    }

    pub fn versions(&self, kind: Kind, name: &str) -> &[Value] {
        self.versions
            .get(&(kind, name.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A version by its version string.
    pub fn version(&self, kind: Kind, name: &str, version: &str) -> Option<&Value> {
        self.versions(kind, name)
            .iter()
            .find(|v| version_of(v) == Some(version))
    }

    pub fn owned(&self, kind: Kind) -> &[Value] {
        self.owned.get(&kind).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn jobs_of(&self, address: &str) -> &[Value] {
        self.jobs_of
            .get(address)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn object(&self, path: &str) -> Option<&Value> {
        self.objects.get(path).and_then(Option::as_ref)
    }

    /// The newest non-archived version, by creation time, as `@latest` resolves.
    pub fn latest(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.versions(kind, name)
            .iter()
            .filter(|v| !is_archived(v))
            .max_by(newer)
    }

    /// The newest version, archived or not.
    pub fn newest_version(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.versions(kind, name).iter().max_by(newer)
    }

    /// The archived versions, the newest first.
    pub fn archived_newest_first(&self, kind: Kind, name: &str) -> impl Iterator<Item = &Value> {
        let mut archived: Vec<&Value> = self
            .versions(kind, name)
            .iter()
            .filter(|v| is_archived(v))
            .collect();
        archived.sort_by(|a, b| newer(b, a));
        archived.into_iter()
    }

    /// The next integer version: one more than the largest integer version in use, archived
    /// ones included (their numbers stay taken).
    pub fn next_version(&self, kind: Kind, name: &str) -> u64 {
        self.versions(kind, name)
            .iter()
            .filter_map(|v| version_of(v)?.parse::<u64>().ok())
            .max()
            .map_or(1, |n| n + 1)
    }
}

/// The tag `key` of an object of `kind`: computes carry tags at the top, everything else in
/// its properties.
pub fn tag<'v>(kind: Kind, object: &'v Value, key: &str) -> Option<&'v str> {
    let tags = if kind == Kind::Compute {
        object.get("tags")
    } else {
        object.pointer("/properties/tags")
    };
    tags?.get(key)?.as_str()
}

/// Orders versions by creation, then by number.
fn newer(a: &&Value, b: &&Value) -> std::cmp::Ordering {
    created_at(a)
        .cmp(created_at(b))
        .then_with(|| numeric(version_of(a)).cmp(&numeric(version_of(b))))
}

/// The version string of a version object (its `name`).
pub fn version_of(version: &Value) -> Option<&str> {
    version.get("name").and_then(Value::as_str)
}

pub fn is_archived(object: &Value) -> bool {
    object
        .pointer("/properties/isArchived")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn created_at(object: &Value) -> &str {
    object
        .pointer("/systemData/createdAt")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn numeric(version: Option<&str>) -> Option<u64> {
    version?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(name: &str, created: &str, archived: bool) -> Value {
        json!({"name": name, "systemData": {"createdAt": created}, "properties": {"isArchived": archived}})
    }

    #[test]
    fn latest_and_next_versions() {
        let mut snapshot = Snapshot::default();
        snapshot.versions.insert(
            (Kind::Data, "iris".into()),
            vec![
                version("1", "2026-01-01T00:00:00Z", false),
                version("2", "2026-01-02T00:00:00Z", false),
                version("3", "2026-01-03T00:00:00Z", true),
                version("beta", "2026-01-01T12:00:00Z", false),
            ],
        );
        assert_eq!(
            version_of(snapshot.latest(Kind::Data, "iris").unwrap()),
            Some("2")
        );
        assert_eq!(snapshot.next_version(Kind::Data, "iris"), 4);
        assert_eq!(snapshot.next_version(Kind::Data, "other"), 1);
        assert!(snapshot.answers(&Query::Versions {
            kind: Kind::Data,
            name: "iris".into()
        }));
        assert!(!snapshot.answers(&Query::Get("computes/x".into())));
    }
}
