//! Carrying out a plan: uploads, then requests, change after change in dependency order;
//! then following the submitted jobs to a terminal state.
//!
//! Apply makes exactly the plan's changes. It refuses, before writing anything, a plan with
//! conflicts and (without `--allow-replace`) a plan that replaces a compute. What it reports
//! goes through [`Progress`]; it never prints.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            allow_replace: false,
            wait: true,
            poll: Duration::from_millis(250),
        }
    }
}

/// What apply reports as it goes.
pub enum Event<'a> {
    Started {
        change: &'a Change,
    },
    Uploading {
        change: &'a Change,
        source: &'a str,
        bytes: u64,
    },
    Finished {
        change: &'a Change,
        elapsed: Duration,
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
    /// Addresses of the changes made.
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
    },
    #[error("following job {name}: {source}")]
    Job { name: String, source: BackendError },
}

/// Lines of a log kept when a job fails.
const LOG_TAIL_LINES: usize = 30;
/// Lines of a log shown when a job completes: its last words, often its metrics.
const COMPLETED_TAIL_LINES: usize = 5;

/// The lines the job printed, without amlops' own notes in the log.
fn output_lines(log: &str) -> String {
    log.lines()
        .filter(|l| !l.starts_with("[amlops] $ ") && !l.starts_with("[amlops] running in"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn apply(
    backend: &dyn Backend,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &mut dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let conflicts: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Conflict)
        .map(|c| c.address.clone())
        .collect();
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let replaced: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Replace)
        .map(|c| c.address.clone())
        .collect();
    if !replaced.is_empty() && !options.allow_replace {
        return Err(ApplyError::ReplaceNotAllowed(replaced));
    }

    let mut report = ApplyReport::default();
    let mut moved: BTreeMap<String, String> = BTreeMap::new();
    for change in plan.changes.iter().filter(|c| c.action.writes()) {
        let started = Instant::now();
        progress.event(Event::Started { change });
        apply_change(backend, change, &mut moved, &mut report, progress)
            .await
            .map_err(|source| ApplyError::Change {
                address: change.address.clone(),
                source,
                applied: report.applied.clone(),
            })?;
        report.applied.push(change.address.clone());
        progress.event(Event::Finished {
            change,
            elapsed: started.elapsed(),
        });
    }
    if options.wait {
        follow_jobs(backend, plan, options, &mut report, progress).await?;
    }
    Ok(report)
}

async fn apply_change(
    backend: &dyn Backend,
    change: &Change,
    moved: &mut BTreeMap<String, String>,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<(), BackendError> {
    for upload in &change.uploads {
        progress.event(Event::Uploading {
            change,
            source: &upload.source,
            bytes: upload.bytes,
        });
        if let Some(actual) = backend.upload(upload).await? {
            moved.insert(upload.destination.clone(), actual);
        }
        report.uploads += 1;
    }
    for request in &change.requests {
        let mut request = request.clone();
        if !moved.is_empty() {
            request.body = request.body.map(|b| relocate(b, moved));
            request.secret_body = request.secret_body.map(|b| relocate(b, moved));
        }
        backend.send(&request).await?;
        report.requests += 1;
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
    let submitted: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Submit)
        .collect();
    let started = Instant::now();
    let mut last: BTreeMap<&str, String> = BTreeMap::new();
    let mut pending: Vec<&Change> = submitted.clone();
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
                let log_tail = log.map(|log| tail(&output_lines(&log), lines));
                report.jobs.push(JobOutcome {
                    address: change.address.clone(),
                    name: change.name.clone(),
                    status: state.status,
                    log_tail,
                });
            } else {
                still.push(change);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(options.poll).await;
        }
    }
    Ok(())
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

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
