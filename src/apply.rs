//! Carrying out a plan: each change's uploads, then its requests; independent changes run
//! concurrently (up to `parallelism`), every change after what it depends on; then the jobs it
//! submitted are followed to a terminal state.
//!
//! Apply makes exactly the plan's changes. It refuses, before writing anything, a plan with
//! conflicts and (without `allow_replace`) a plan that replaces a compute; after a replacement
//! it reads the compute back and fails loudly if the new values did not take. When cancelled
//! it starts nothing new, lets the changes in flight finish, and reports what was and was not
//! done; applying again converges. What it reports goes through [`Progress`]; it never prints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;

use crate::backend::{Backend, BackendError};
use crate::plan::{Action, Change, Plan};

#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Carry out replacements (delete and create again).
    pub allow_replace: bool,
    /// Follow submitted jobs until they finish.
    pub wait: bool,
    /// Time between two looks at a running job.
    pub poll: Duration,
    /// Changes in flight at once (at least 1).
    pub parallelism: usize,
    /// Set to stop starting new changes (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            allow_replace: false,
            wait: true,
            poll: Duration::from_millis(250),
            parallelism: 10,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What apply reports as it goes.
pub enum Event<'a> {
    Started {
        change: &'a Change,
    },
    Finished {
        change: &'a Change,
        elapsed: Duration,
    },
    Failed {
        change: &'a Change,
        error: &'a BackendError,
    },
    JobStatus {
        address: &'a str,
        name: &'a str,
        status: &'a str,
        elapsed: Duration,
    },
}

pub trait Progress {
    fn event(&mut self, event: Event<'_>);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&mut self, _: Event<'_>) {}
}

#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// Addresses of the changes made, in the order they finished.
    pub applied: Vec<String>,
    pub uploads: usize,
    pub requests: usize,
    pub jobs: Vec<JobOutcome>,
}

impl ApplyReport {
    pub fn failed_jobs(&self) -> impl Iterator<Item = &JobOutcome> {
        self.jobs.iter().filter(|j| j.status != "Completed")
    }
}

#[derive(Clone, Debug)]
pub struct JobOutcome {
    pub address: String,
    pub name: String,
    pub status: String,
    /// The end of the job's log (longer for jobs that did not complete).
    pub log_tail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan has conflicts ({}); nothing was changed", .0.join(", "))]
    Conflicts(Vec<String>),
    #[error("the plan replaces {}; pass --allow-replace to delete and create again (nothing was changed)", .0.join(", "))]
    ReplaceNotAllowed(Vec<String>),
    #[error("{address}: {source}")]
    Change {
        address: String,
        source: BackendError,
        /// What was done before the failure.
        applied: Vec<String>,
        /// What was not started.
        not_done: Vec<String>,
    },
    #[error("interrupted: {} change(s) made, {} not started", applied.len(), not_done.len())]
    Interrupted {
        applied: Vec<String>,
        not_done: Vec<String>,
    },
    #[error("{address} was replaced but reads back {field} = {actual} instead of {expected}")]
    ReplaceDidNotTake {
        address: String,
        field: String,
        expected: String,
        actual: String,
    },
    #[error("following job {name}: {source}")]
    Job { name: String, source: BackendError },
}

/// Lines of a log kept when a job fails.
const LOG_TAIL_LINES: usize = 30;
/// Lines of a log shown when a job completes: its last words, often its metrics.
const COMPLETED_TAIL_LINES: usize = 5;

pub async fn apply(
    backend: &dyn Backend,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &mut dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    refuse_unsafe(plan, options)?;
    let mut report = ApplyReport::default();
    run_changes(backend, plan, options, &mut report, progress).await?;
    if options.wait {
        follow_jobs(backend, plan, options, &mut report, progress).await?;
    }
    Ok(report)
}

/// Refuses, before anything is written, a plan with conflicts or unallowed replacements.
pub fn refuse_unsafe(plan: &Plan, options: &ApplyOptions) -> Result<(), ApplyError> {
    let with = |action: Action| -> Vec<String> {
        plan.changes
            .iter()
            .filter(|c| c.action == action)
            .map(|c| c.address.clone())
            .collect()
    };
    let conflicts = with(Action::Conflict);
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let replaced = with(Action::Replace);
    if !replaced.is_empty() && !options.allow_replace {
        return Err(ApplyError::ReplaceNotAllowed(replaced));
    }
    Ok(())
}

/// Runs the writing changes, each once its dependencies are done.
async fn run_changes(
    backend: &dyn Backend,
    plan: &Plan,
    options: &ApplyOptions,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<(), ApplyError> {
    let writes: Vec<&Change> = plan.changes.iter().filter(|c| c.action.writes()).collect();
    let writing: BTreeSet<&str> = writes.iter().map(|c| c.address.as_str()).collect();
    let moved: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let mut waiting: Vec<&Change> = writes.clone();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    let mut failure: Option<(String, BackendError)> = None;
    let mut interrupted = false;
    loop {
        interrupted |= options.cancel.load(Ordering::SeqCst);
        if failure.is_none() && !interrupted {
            while running.len() < options.parallelism.max(1) {
                let ready = waiting.iter().position(|c| {
                    c.depends_on
                        .iter()
                        .all(|d| !writing.contains(d.as_str()) || done.contains(d.as_str()))
                });
                let Some(index) = ready else { break };
                let change = waiting.remove(index);
                progress.event(Event::Started { change });
                let moved = &moved;
                running.push(async move {
                    let started = Instant::now();
                    let result = apply_change(backend, change, moved).await;
                    (change, result, started.elapsed())
                });
            }
        }
        let Some((change, result, elapsed)) = running.next().await else {
            break;
        };
        match result {
            Ok((uploads, requests)) => {
                report.uploads += uploads;
                report.requests += requests;
                report.applied.push(change.address.clone());
                done.insert(change.address.as_str());
                progress.event(Event::Finished { change, elapsed });
            }
            Err(error) => {
                progress.event(Event::Failed {
                    change,
                    error: &error,
                });
                failure.get_or_insert((change.address.clone(), error));
            }
        }
    }
    let not_done: Vec<String> = waiting.iter().map(|c| c.address.clone()).collect();
    if let Some((address, source)) = failure {
        return Err(ApplyError::Change {
            address,
            source,
            applied: report.applied.clone(),
            not_done,
        });
    }
    if interrupted && !not_done.is_empty() {
        return Err(ApplyError::Interrupted {
            applied: report.applied.clone(),
            not_done,
        });
    }
    for change in writes.iter().filter(|c| c.action == Action::Replace) {
        verify_replacement(backend, change).await?;
    }
    Ok(())
}

/// One change: its uploads, then its requests. Returns the number of each.
async fn apply_change(
    backend: &dyn Backend,
    change: &Change,
    moved: &Mutex<BTreeMap<String, String>>,
) -> Result<(usize, usize), BackendError> {
    for upload in &change.uploads {
        if let Some(actual) = backend.upload(upload).await? {
            moved
                .lock()
                .expect("moved lock")
                .insert(upload.destination.clone(), actual);
        }
    }
    let relocations = moved.lock().expect("moved lock").clone();
    for request in &change.requests {
        let mut request = request.clone();
        if !relocations.is_empty() {
            request.body = request.body.map(|b| relocate(b, &relocations));
            request.secret_body = request.secret_body.map(|b| relocate(b, &relocations));
        }
        backend.send(&request).await?;
    }
    Ok((change.uploads.len(), change.requests.len()))
}

/// Reads a replaced compute back and checks the fields that forced the replacement.
async fn verify_replacement(backend: &dyn Backend, change: &Change) -> Result<(), ApplyError> {
    let Some(put) = change.requests.iter().rfind(|r| r.method == "PUT") else {
        return Ok(());
    };
    let target = backend.target();
    let path = target
        .scope
        .relative(&put.path)
        .unwrap_or(&put.path)
        .to_owned();
    let live = backend
        .get(&path)
        .await
        .map_err(|source| ApplyError::Change {
            address: change.address.clone(),
            source,
            applied: Vec::new(),
            not_done: Vec::new(),
        })?;
    let Some(live) = live else {
        return Err(ApplyError::ReplaceDidNotTake {
            address: change.address.clone(),
            field: "(the compute)".into(),
            expected: "present".into(),
            actual: "absent".into(),
        });
    };
    let live_view = crate::plan::view::view(change.kind, &live, &target.scope);
    for field in change.fields.iter().filter(|f| f.forces_replacement) {
        let actual = live_view.pointer(&format!("/{}", field.path.replace('.', "/")));
        let expected = field.after.as_ref();
        let same = match (expected, actual) {
            (Some(Value::String(a)), Some(Value::String(b))) => {
                a.eq_ignore_ascii_case(b)
                    || a.replace(' ', "").eq_ignore_ascii_case(&b.replace(' ', ""))
            }
            (a, b) => a == b,
        };
        if !same {
            return Err(ApplyError::ReplaceDidNotTake {
                address: change.address.clone(),
                field: field.path.clone(),
                expected: expected
                    .map(Value::to_string)
                    .unwrap_or_else(|| "(absent)".into()),
                actual: actual
                    .map(Value::to_string)
                    .unwrap_or_else(|| "(absent)".into()),
            });
        }
    }
    Ok(())
}

/// Replaces planned upload destinations with where the content actually went.
fn relocate(value: Value, moved: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(
            moved
                .iter()
                .find(|(from, _)| s.starts_with(from.as_str()))
                .map(|(from, to)| format!("{to}{}", &s[from.len()..]))
                .unwrap_or(s),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| relocate(v, moved)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, relocate(v, moved)))
                .collect(),
        ),
        other => other,
    }
}

async fn follow_jobs(
    backend: &dyn Backend,
    plan: &Plan,
    options: &ApplyOptions,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<(), ApplyError> {
    let started = Instant::now();
    let mut last: BTreeMap<&str, String> = BTreeMap::new();
    let mut pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Submit)
        .collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for change in pending {
            let state =
                backend
                    .job_state(&change.name)
                    .await
                    .map_err(|source| ApplyError::Job {
                        name: change.name.clone(),
                        source,
                    })?;
            if last.get(change.name.as_str()) != Some(&state.status) {
                progress.event(Event::JobStatus {
                    address: &change.address,
                    name: &change.name,
                    status: &state.status,
                    elapsed: started.elapsed(),
                });
                last.insert(&change.name, state.status.clone());
            }
            if state.is_terminal() {
                let lines = if state.status == "Completed" {
                    COMPLETED_TAIL_LINES
                } else {
                    LOG_TAIL_LINES
                };
                let log = backend.job_log(&change.name).await.ok().flatten();
                report.jobs.push(JobOutcome {
                    address: change.address.clone(),
                    name: change.name.clone(),
                    status: state.status,
                    log_tail: log.map(|log| tail(&output_lines(&log), lines)),
                });
            } else {
                still.push(change);
            }
        }
        pending = still;
        if !pending.is_empty() {
            if options.cancel.load(Ordering::SeqCst) {
                // Jobs keep running where they run; stop following them.
                break;
            }
            tokio::time::sleep(options.poll).await;
        }
    }
    Ok(())
}

/// The lines the job printed, without amlops' own notes in the log.
fn output_lines(log: &str) -> String {
    log.lines()
        .filter(|l| !l.starts_with("[amlops] running in"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relocates_planned_destinations() {
        let moved = BTreeMap::from([(
            "azureml://datastores/d/paths/LocalUpload/x".to_owned(),
            "https://a/b/x".to_owned(),
        )]);
        let body = json!({"properties": {"codeUri": "azureml://datastores/d/paths/LocalUpload/x/src", "other": ["keep"]}});
        assert_eq!(
            relocate(body, &moved),
            json!({"properties": {"codeUri": "https://a/b/x/src", "other": ["keep"]}})
        );
    }

    use crate::backend::{Result as BackendResult, TargetInfo};
    use crate::plan::{Request, Summary, Target, Upload};
    use crate::scope::Scope;

    /// A backend whose requests take 20 ms and are recorded with their start and end.
    #[derive(Default)]
    struct Slow {
        calls: Mutex<Vec<(String, Instant, Instant)>>,
        fail: Option<String>,
    }

    #[async_trait::async_trait]
    impl Backend for Slow {
        fn target(&self) -> TargetInfo {
            TargetInfo {
                kind: "local",
                scope: Scope::local(),
                location: "local".into(),
            }
        }
        async fn get(&self, _: &str) -> BackendResult<Option<Value>> {
            Ok(None)
        }
        async fn list(&self, _: &str, _: &[(&str, &str)]) -> BackendResult<Vec<Value>> {
            Ok(Vec::new())
        }
        async fn send(&self, request: &Request) -> BackendResult<Value> {
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.calls
                .lock()
                .unwrap()
                .push((request.path.clone(), start, Instant::now()));
            if self.fail.as_deref() == Some(request.path.as_str()) {
                return Err(BackendError::api(
                    "PUT",
                    &request.path,
                    500,
                    "InternalError",
                    "boom",
                ));
            }
            Ok(Value::Null)
        }
        async fn upload(&self, _: &Upload) -> BackendResult<Option<String>> {
            Ok(None)
        }
    }

    fn change(address: &str, depends_on: &[&str]) -> Change {
        Change {
            address: address.into(),
            kind: crate::model::Kind::Data,
            name: address.into(),
            version: None,
            action: Action::Create,
            reason: None,
            source: None,
            derived: false,
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
            fields: vec![],
            requests: vec![Request {
                method: "PUT".into(),
                path: address.into(),
                api_version: "x".into(),
                body: None,
                secret_body: None,
            }],
            uploads: vec![],
            hint: None,
            status: None,
            desired_spec: None,
            applied_spec: None,
            recurring: false,
            live_fingerprint: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
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
        }
    }

    fn fan_in() -> Plan {
        let mut changes: Vec<Change> = (0..10)
            .map(|i| change(&format!("data.d{i}"), &[]))
            .collect();
        let all: Vec<String> = changes.iter().map(|c| c.address.clone()).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        changes.push(change("job.last", &refs));
        plan(changes)
    }

    #[tokio::test]
    async fn independent_changes_run_together_and_dependents_wait() {
        let backend = Slow::default();
        let options = ApplyOptions {
            parallelism: 10,
            ..ApplyOptions::default()
        };
        let report = apply(&backend, &fan_in(), &options, &mut Quiet)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 11);
        let calls = backend.calls.lock().unwrap();
        let last = calls.iter().find(|c| c.0 == "job.last").unwrap();
        assert!(
            calls
                .iter()
                .filter(|c| c.0 != "job.last")
                .all(|c| c.2 <= last.1),
            "the dependent starts after all it needs"
        );
        let wave: Vec<_> = calls.iter().filter(|c| c.0 != "job.last").collect();
        let last_start = wave.iter().map(|c| c.1).max().unwrap();
        let first_end = wave.iter().map(|c| c.2).min().unwrap();
        assert!(
            last_start < first_end,
            "the ten independent changes were all in flight at once"
        );
    }

    #[tokio::test]
    async fn parallelism_one_runs_one_at_a_time() {
        let backend = Slow::default();
        let options = ApplyOptions {
            parallelism: 1,
            ..ApplyOptions::default()
        };
        apply(&backend, &fan_in(), &options, &mut Quiet)
            .await
            .unwrap();
        let calls = backend.calls.lock().unwrap();
        for pair in calls.windows(2) {
            assert!(pair[0].2 <= pair[1].1, "no overlap at parallelism 1");
        }
    }

    #[tokio::test]
    async fn a_failure_stops_new_work_and_reports_what_was_not_done() {
        let backend = Slow {
            fail: Some("data.d0".into()),
            ..Slow::default()
        };
        let options = ApplyOptions {
            parallelism: 2,
            ..ApplyOptions::default()
        };
        let error = apply(&backend, &fan_in(), &options, &mut Quiet)
            .await
            .unwrap_err();
        let ApplyError::Change {
            address,
            applied,
            not_done,
            ..
        } = error
        else {
            panic!("{error}")
        };
        assert_eq!(address, "data.d0");
        assert_eq!(
            applied,
            vec!["data.d1"],
            "the change in flight beside it finishes"
        );
        assert_eq!(not_done.len(), 9);
        assert!(not_done.contains(&"job.last".to_owned()));
    }

    #[tokio::test]
    async fn cancelling_starts_nothing_new() {
        let backend = Slow::default();
        let options = ApplyOptions {
            parallelism: 3,
            ..ApplyOptions::default()
        };
        options.cancel.store(true, Ordering::SeqCst);
        let error = apply(&backend, &fan_in(), &options, &mut Quiet)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ApplyError::Interrupted { ref applied, ref not_done } if applied.is_empty() && not_done.len() == 11)
        );
        assert!(backend.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn refuses_conflicts_and_unallowed_replacements_before_writing() {
        let mut conflicting = change("data.x", &[]);
        conflicting.action = Action::Conflict;
        assert!(matches!(
            refuse_unsafe(&plan(vec![conflicting]), &ApplyOptions::default()),
            Err(ApplyError::Conflicts(_))
        ));
        let mut replacing = change("compute.c", &[]);
        replacing.action = Action::Replace;
        let replace_plan = plan(vec![replacing]);
        assert!(matches!(
            refuse_unsafe(&replace_plan, &ApplyOptions::default()),
            Err(ApplyError::ReplaceNotAllowed(_))
        ));
        let allowed = ApplyOptions {
            allow_replace: true,
            ..ApplyOptions::default()
        };
        assert!(refuse_unsafe(&replace_plan, &allowed).is_ok());
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
