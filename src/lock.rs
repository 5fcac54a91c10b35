//! A lock per target, so two applies never change the same workspace at once.
//!
//! The lock is a data asset version, `amlops-lock:1`, whose data URI names the holder's lock
//! id. Taking the lock is a PUT of that version: asset versions are immutable, so while
//! another holder's version exists the service refuses the PUT with a conflict, which makes
//! the PUT an atomic "create if absent" on every backend (Azure, the emulator, the local
//! workspace). The holder, host, process and time are recorded in its tags, and shown to
//! whoever waits or fails. A lock is never broken automatically: `amlops force-unlock ID`
//! exists for people.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::{Backend, BackendError};
use crate::plan::Request;
use crate::translate::api;

/// The data asset that holds the lock.
pub const LOCK_ASSET: &str = "amlops-lock";
const LOCK_PATH: &str = "data/amlops-lock/versions/1";

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// RFC 3339.
    pub created: String,
    /// What the holder is doing (`apply`).
    pub operation: String,
}

impl LockInfo {
    /// A new lock for this process.
    pub fn for_this_process(operation: &str) -> Self {
        let created = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            holder: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            created,
            operation: operation.into(),
        }
    }

    /// How long the lock has been held.
    pub fn age(&self) -> Option<Duration> {
        let created = OffsetDateTime::parse(&self.created, &Rfc3339).ok()?;
        (OffsetDateTime::now_utc() - created).try_into().ok()
    }

    fn from_object(object: &Value) -> Option<Self> {
        let tags = object.pointer("/properties/tags")?;
        let text = |key: &str| {
            tags.get(format!("amlops.lock.{key}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Some(Self {
            id: text("id")?,
            holder: text("holder").unwrap_or_default(),
            host: text("host").unwrap_or_default(),
            pid: text("pid").and_then(|p| p.parse().ok()).unwrap_or_default(),
            created: text("created").unwrap_or_default(),
            operation: text("operation").unwrap_or_default(),
        })
    }

    fn body(&self) -> Value {
        json!({"properties": {
            "dataType": "uri_file",
            "dataUri": format!("azureml://datastores/workspaceblobstore/paths/amlops-lock/{}", self.id),
            "description": format!("amlops lock: {} by {}@{} (pid {})", self.operation, self.holder, self.host, self.pid),
            "isAnonymous": false,
            "isArchived": false,
            "tags": {
                "amlops.lock.id": self.id,
                "amlops.lock.holder": self.holder,
                "amlops.lock.host": self.host,
                "amlops.lock.pid": self.pid.to_string(),
                "amlops.lock.created": self.created,
                "amlops.lock.operation": self.operation,
            },
        }})
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is locked by {}@{} (pid {}, {} since {}{}); lock id {}",
        target, info.holder, info.host, info.pid, info.operation, info.created,
        info.age().map(|a| format!(", {} ago", human_age(a))).unwrap_or_default(), info.id)]
    Held { target: String, info: LockInfo },
    #[error("lock id {wanted} does not match the lock held ({held})")]
    Mismatch { wanted: String, held: String },
    #[error("{0} is not locked")]
    NotLocked(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

fn human_age(age: Duration) -> String {
    let seconds = age.as_secs();
    match seconds {
        0..=119 => format!("{seconds}s"),
        120..=7199 => format!("{}m", seconds / 60),
        _ => format!("{}h", seconds / 3600),
    }
}

fn request(backend: &dyn Backend, method: &str, body: Option<Value>) -> Request {
    Request {
        method: method.into(),
        path: backend.target().scope.resource_id(LOCK_PATH),
        api_version: api::DATA.into(),
        body,
        secret_body: None,
    }
}

/// Takes the lock, waiting up to `wait` (polling every `poll`) while another holds it.
pub async fn acquire(
    backend: &dyn Backend,
    info: LockInfo,
    wait: Duration,
    poll: Duration,
) -> Result<LockInfo, LockError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match backend
            .send(&request(backend, "PUT", Some(info.body())))
            .await
        {
            Ok(_) => return Ok(info),
            Err(e) if matches!(e.status(), Some(409) | Some(400)) => {
                let held = current(backend).await?;
                match held {
                    Some(held) if held.id == info.id => return Ok(info),
                    Some(held) if std::time::Instant::now() >= deadline => {
                        return Err(LockError::Held {
                            target: backend.target().scope.to_string(),
                            info: held,
                        });
                    }
                    // Released between the PUT and the look: try again at once.
                    None => continue,
                    Some(_) => tokio::time::sleep(poll).await,
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The lock currently held, if any.
pub async fn current(backend: &dyn Backend) -> Result<Option<LockInfo>, LockError> {
    Ok(backend
        .get(LOCK_PATH)
        .await?
        .as_ref()
        .and_then(LockInfo::from_object))
}

/// Releases a lock this process holds.
pub async fn release(backend: &dyn Backend, info: &LockInfo) -> Result<(), LockError> {
    force_unlock(backend, &info.id).await.map(|_| ())
}

/// Removes the lock with id `id`; refuses when another lock is held. Returns what it removed.
pub async fn force_unlock(backend: &dyn Backend, id: &str) -> Result<LockInfo, LockError> {
    let Some(held) = current(backend).await? else {
        return Err(LockError::NotLocked(backend.target().scope.to_string()));
    };
    if held.id != id {
        return Err(LockError::Mismatch {
            wanted: id.into(),
            held: held.id,
        });
    }
    backend.send(&request(backend, "DELETE", None)).await?;
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::LocalWorkspace;
    use crate::scope::Scope;

    #[tokio::test]
    async fn one_holder_at_a_time_and_never_broken_automatically() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = LocalWorkspace::open(dir.path(), Scope::local()).unwrap();
        let first = acquire(
            &workspace,
            LockInfo::for_this_process("apply"),
            Duration::ZERO,
            Duration::from_millis(10),
        )
        .await
        .unwrap();
        let second = acquire(
            &workspace,
            LockInfo::for_this_process("apply"),
            Duration::from_millis(50),
            Duration::from_millis(10),
        )
        .await;
        let Err(LockError::Held { info, .. }) = second else {
            panic!("the second apply must not get the lock")
        };
        assert_eq!(info.id, first.id);
        assert_eq!(info.pid, std::process::id());
        assert!(matches!(
            force_unlock(&workspace, "wrong-id").await,
            Err(LockError::Mismatch { .. })
        ));
        release(&workspace, &first).await.unwrap();
        assert!(current(&workspace).await.unwrap().is_none());
        let third = acquire(
            &workspace,
            LockInfo::for_this_process("apply"),
            Duration::ZERO,
            Duration::from_millis(10),
        )
        .await
        .unwrap();
        assert_ne!(third.id, first.id);
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(Duration::from_secs(42)), "42s");
        assert_eq!(human_age(Duration::from_secs(600)), "10m");
        assert_eq!(human_age(Duration::from_secs(10_800)), "3h");
    }
}
