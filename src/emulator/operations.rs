//! Long-running operations: compute create, update and delete, job cancel and delete,
//! registry asset writes.
//!
//! The request that starts one is answered at once (201/200/202) with an
//! `Azure-AsyncOperation` URL (status document: `InProgress`, then `Succeeded` or `Failed`),
//! a `Location` URL (202 while running, then 200 or 204) and `Retry-After`. An operation
//! answers `InProgress` to its first [`super::LroTiming::polls`] polls and finishes on the next
//! one; it also finishes by itself once that many `Retry-After` periods have passed, so a
//! client that only reads the resource sees it settle too. Finishing applies the operation's
//! effect to the store (provisioning state, deletion). Operations live in memory: on start,
//! the emulator settles whatever a previous run left half-done ([`settle_leftovers`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backend::Result;
use crate::backend::local::service;
use crate::backend::local::store::Store;
use crate::scope::Scope;

/// What finishing an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A compute reaches `Succeeded` (or `Failed`, with a provisioning error).
    Provision,
    /// The object is deleted (or, failing, a compute is left `Failed`).
    Delete,
    /// Nothing to do in the store: a registry asset write (already stored).
    Nothing,
    /// Waits for a job to reach a terminal state (a cancel: the runner stops the job).
    AwaitJob,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub scope: Scope,
    /// The object's path in the store.
    pub path: String,
    pub effect: Effect,
    /// Whether it ends `Failed` (the `lro-failed` fault).
    pub fail: bool,
    pub started_at: String,
    started: Instant,
    polls: u32,
    pub finished: Option<(Outcome, String)>,
}

/// The operations of this emulator run, by id.
pub struct Operations {
    by_id: HashMap<String, Operation>,
    polls: u32,
    retry_after: Duration,
}

impl Operations {
    pub fn new(polls: u32, retry_after_secs: u64) -> Self {
        Operations {
            by_id: HashMap::new(),
            polls,
            retry_after: Duration::from_secs(retry_after_secs),
        }
    }

    /// Starts an operation and returns its id.
    pub fn start(&mut self, scope: &Scope, path: &str, effect: Effect, fail: bool) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.by_id.insert(
            id.clone(),
            Operation {
                scope: scope.clone(),
                path: path.to_owned(),
                effect,
                fail,
                started_at: service::now(),
                started: Instant::now(),
                polls: 0,
                finished: None,
            },
        );
        id
    }

    /// Whether an unfinished operation holds the object at `path`.
    pub fn busy(&self, scope: &Scope, path: &str) -> bool {
        self.by_id
            .values()
            .any(|o| o.finished.is_none() && o.scope == *scope && o.path == path)
    }

    /// Counts a poll of operation `id` and finishes it when its time has come. Returns the
    /// operation as it now stands, `None` when the id is unknown.
    pub fn poll(&mut self, store: &mut Store, id: &str) -> Result<Option<Operation>> {
        let limit = self.polls;
        let Some(operation) = self.by_id.get_mut(id) else {
            return Ok(None);
        };
        if operation.finished.is_none() {
            operation.polls += 1;
            if operation.polls > limit && ready(store, operation)? {
                finish(store, operation)?;
            }
        }
        Ok(Some(operation.clone()))
    }

    /// Finishes every operation whose time has passed, polled or not.
    pub fn finish_due(&mut self, store: &mut Store) -> Result<()> {
        let due = self.retry_after.max(Duration::from_millis(200)) * self.polls.max(1);
        for operation in self.by_id.values_mut() {
            if operation.finished.is_none()
                && operation.started.elapsed() >= due
                && ready(store, operation)?
            {
                finish(store, operation)?;
            }
        }
        Ok(())
    }
}

/// Whether an operation may finish: a cancel waits for its job to stop.
fn ready(store: &Store, operation: &Operation) -> Result<bool> {
    if operation.effect != Effect::AwaitJob {
        return Ok(true);
    }
    let status = store
        .get(&operation.scope.id(), &operation.path)?
        .and_then(|job| {
            job.pointer("/properties/status")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    Ok(status.is_none_or(|s| matches!(s.as_str(), "Completed" | "Failed" | "Canceled")))
}

fn finish(store: &mut Store, operation: &mut Operation) -> Result<()> {
    let outcome = if operation.fail {
        Outcome::Failed
    } else {
        Outcome::Succeeded
    };
    let stamp = service::now();
    match (operation.effect, outcome) {
        (Effect::Provision, Outcome::Succeeded) => {
            service::set_provisioning_state(
                store,
                &operation.scope,
                &operation.path,
                "Succeeded",
                None,
                &stamp,
            )?;
        }
        (Effect::Provision | Effect::Delete, Outcome::Failed) => {
            let error = json!({"error": {
                "code": "InternalServerError",
                "message": "the operation failed (fault injected by the emulator)",
            }});
            service::set_provisioning_state(
                store,
                &operation.scope,
                &operation.path,
                "Failed",
                Some(error),
                &stamp,
            )?;
        }
        (Effect::Delete, Outcome::Succeeded) => {
            service::delete(store, &operation.scope, &operation.path)?;
        }
        (Effect::Nothing | Effect::AwaitJob, _) => {}
    }
    operation.finished = Some((outcome, stamp));
    Ok(())
}

/// The status document of an `Azure-AsyncOperation` URL.
pub fn status_body(id: &str, status_path: &str, operation: &Operation) -> Value {
    let mut body = json!({
        "id": status_path,
        "name": id,
        "status": "InProgress",
        "startTime": operation.started_at,
    });
    if let Some((outcome, ended)) = &operation.finished {
        body["status"] = json!(outcome.as_str());
        body["endTime"] = json!(ended);
        if *outcome == Outcome::Failed {
            body["error"] = json!({
                "code": "InternalServerError",
                "message": "the operation failed (fault injected by the emulator)",
            });
        }
    }
    body
}

/// Settles computes a previous emulator run left provisioning or deleting.
pub fn settle_leftovers(store: &mut Store, scope: &Scope) -> Result<()> {
    let computes = store.children(&scope.id(), "computes")?;
    for row in computes {
        let state = row
            .body
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match state.as_str() {
            "Creating" | "Updating" => service::set_provisioning_state(
                store,
                scope,
                &row.path,
                "Succeeded",
                None,
                &service::now(),
            )?,
            "Deleting" => {
                service::delete(store, scope, &row.path)?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compute(store: &mut Store, scope: &Scope) {
        let body = json!({"location": "local", "properties": {"computeType": "AmlCompute",
            "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"maxNodeCount": 1}}}});
        service::put(store, scope, "computes/cpu", &body, "t").unwrap();
        service::set_provisioning_state(store, scope, "computes/cpu", "Creating", None, "t")
            .unwrap();
    }

    fn state(store: &Store, scope: &Scope) -> Option<String> {
        store.get(&scope.id(), "computes/cpu").unwrap().map(|c| {
            c.pointer("/properties/provisioningState")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
    }

    #[test]
    fn operations_finish_after_their_polls() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let scope = Scope::local();
        compute(&mut store, &scope);
        let mut operations = Operations::new(2, 60);
        let id = operations.start(&scope, "computes/cpu", Effect::Provision, false);
        assert!(operations.busy(&scope, "computes/cpu"));
        for _ in 0..2 {
            let running = operations.poll(&mut store, &id).unwrap().unwrap();
            assert!(running.finished.is_none());
            assert_eq!(state(&store, &scope).as_deref(), Some("Creating"));
        }
        let done = operations.poll(&mut store, &id).unwrap().unwrap();
        assert_eq!(done.finished.unwrap().0, Outcome::Succeeded);
        assert_eq!(state(&store, &scope).as_deref(), Some("Succeeded"));
        assert!(!operations.busy(&scope, "computes/cpu"));
        assert!(operations.poll(&mut store, "unknown").unwrap().is_none());
    }

    #[test]
    fn failed_operations_leave_the_compute_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let scope = Scope::local();
        compute(&mut store, &scope);
        let mut operations = Operations::new(0, 0);
        let id = operations.start(&scope, "computes/cpu", Effect::Provision, true);
        let done = operations.poll(&mut store, &id).unwrap().unwrap();
        let body = status_body(&id, "/ops/x", &done);
        assert_eq!(body["status"], "Failed");
        assert!(body["error"]["code"].is_string());
        assert_eq!(state(&store, &scope).as_deref(), Some("Failed"));
    }

    #[test]
    fn deletes_happen_when_due_and_leftovers_settle() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let scope = Scope::local();
        compute(&mut store, &scope);
        let mut operations = Operations::new(1, 0);
        operations.start(&scope, "computes/cpu", Effect::Delete, false);
        std::thread::sleep(Duration::from_millis(250));
        operations.finish_due(&mut store).unwrap();
        assert_eq!(state(&store, &scope), None);

        compute(&mut store, &scope);
        settle_leftovers(&mut store, &scope).unwrap();
        assert_eq!(state(&store, &scope).as_deref(), Some("Succeeded"));
    }
}
