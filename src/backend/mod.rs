//! Where plans are applied: the embedded local workspace, or Azure Resource Manager.
//!
//! Both speak the ARM contract: objects are addressed by their path inside a workspace or
//! registry (`data/iris/versions/1`), bodies have the REST API's shape, and errors carry an
//! HTTP status and an ARM error code. The planner and apply therefore do not know which one
//! they talk to.

pub mod arm;
pub mod local;
mod open;

pub use open::{
    ArmTuning, OpenError, OpenOptions, Opened, http_client, local_data_dir, open, open_arm,
};

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;

use crate::content::ContentError;
use crate::model::Kind;
use crate::plan::{Query, Request, Snapshot, Upload};
use crate::scope::Scope;

/// What went wrong talking to a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The service (or the local workspace, which answers as the service would) refused.
    #[error("{method} {path}: {status} {code}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Api {
        method: String,
        /// The request path, without query secrets.
        path: String,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("local workspace store: {0}")]
    Store(String),
    #[error("{0}")]
    Content(#[from] ContentError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// No token could be had for the request.
    #[error("{0}")]
    Auth(String),
    /// The request got no answer: the connection failed, was cut or timed out.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        /// The request path, without its query.
        path: String,
        message: String,
    },
    /// No connection could be made to `origin` (scheme, host and port: never a path or a
    /// query): it refused, its name did not resolve, or it could not be reached.
    #[error("could not connect to {origin}: {cause}")]
    Unreachable { origin: String, cause: String },
    /// The certificate `origin` presented is not signed by an authority this client trusts.
    #[error(
        "the TLS certificate of {origin} is not trusted ({detail}): trust the authority that issued it with --ca-cert PATH (an emulator started with `amlops emulator --tls` prints this file as `certificate`)"
    )]
    UntrustedCertificate { origin: String, detail: String },
    /// The TLS handshake with `origin` failed otherwise: an expired certificate or one made
    /// for another name, or a peer that does not speak TLS.
    #[error("TLS handshake with {origin} failed: {detail}")]
    Tls { origin: String, detail: String },
    /// The last error of a request that was retried.
    #[error("{source} (gave up after {retries} {} over {:.1}s: {reason})", if *.retries == 1 { "retry" } else { "retries" }, .elapsed.as_secs_f64())]
    Retried {
        source: Box<BackendError>,
        retries: u32,
        elapsed: std::time::Duration,
        /// Why the last failure was retried, or that it was final.
        reason: &'static str,
    },
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    pub fn api(
        method: &str,
        path: &str,
        status: u16,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        BackendError::Api {
            method: method.into(),
            path: path.into(),
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Api { status, .. } => Some(*status),
            BackendError::Retried { source, .. } => source.status(),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for BackendError {
    fn from(e: rusqlite::Error) -> Self {
        BackendError::Store(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, BackendError>;

/// Describes a target for plans and messages.
#[derive(Clone, Debug)]
pub struct TargetInfo {
    /// `local`, `workspace` or `registry`.
    pub kind: &'static str,
    pub scope: Scope,
    /// The region new computes default to.
    pub location: String,
}

/// A job's state as apply follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub status: String,
    /// Where its log can be read, if the backend keeps one.
    pub log: Option<String>,
}

impl JobState {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed" | "Canceled")
    }
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn target(&self) -> TargetInfo;

    /// One object, `None` when absent.
    async fn get(&self, path: &str) -> Result<Option<Value>>;

    /// Every object of a collection (following pages), with optional query parameters.
    async fn list(&self, path: &str, params: &[(&str, &str)]) -> Result<Vec<Value>>;

    /// Sends a planned request and returns the response body (once any long-running
    /// operation has finished).
    async fn send(&self, request: &Request) -> Result<Value>;

    /// Uploads local content; returns the URI it can be read from when that differs from the
    /// planned destination.
    async fn upload(&self, upload: &Upload) -> Result<Option<String>>;

    /// The state of job `name`, as apply follows it to a terminal state.
    async fn job_state(&self, name: &str) -> Result<JobState> {
        let path = format!("jobs/{name}");
        let job = self.get(&path).await?.ok_or_else(|| {
            BackendError::api(
                "GET",
                &path,
                404,
                "NotFound",
                format!("job {name} does not exist"),
            )
        })?;
        let status = job
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown");
        Ok(JobState {
            status: status.to_owned(),
            log: None,
        })
    }

    /// The end of a job's log, if the backend keeps one.
    async fn job_log(&self, _name: &str) -> Result<Option<String>> {
        Ok(None)
    }

    /// Every object of `kind` tagged as owned by `project`: computes, or asset versions of
    /// every container (archived ones included).
    async fn owned(&self, kind: Kind, project: &str) -> Result<Vec<Value>> {
        let owned_by = |object: &Value, tags_at: &str| {
            object
                .pointer(tags_at)
                .and_then(|t| t.get(crate::plan::tags::PROJECT))
                .and_then(Value::as_str)
                == Some(project)
        };
        if kind == Kind::Compute {
            let computes = self.list("computes", &[]).await?;
            return Ok(computes
                .into_iter()
                .filter(|c| owned_by(c, "/tags"))
                .collect());
        }
        let mut owned = Vec::new();
        for container in self
            .list(kind.collection(), &[("listViewType", "All")])
            .await?
        {
            let Some(name) = container.get("name").and_then(Value::as_str) else {
                continue;
            };
            let path = format!("{}/{name}/versions", kind.collection());
            let versions = self.list(&path, &[("listViewType", "All")]).await?;
            owned.extend(
                versions
                    .into_iter()
                    .filter(|v| owned_by(v, "/properties/tags")),
            );
        }
        Ok(owned)
    }

    /// Answers the planner's questions into `snapshot`, several at a time (as many as
    /// [`Backend::concurrency`] allows).
    async fn answer(&self, queries: &[Query], snapshot: &mut Snapshot) -> Result<()> {
        // Collected first: a lazy `map` over the queries would not be `Send` for every lifetime.
        let pending: Vec<_> = queries.iter().map(|q| self.answer_one(q)).collect();
        let answers: Vec<Answer> = futures::stream::iter(pending)
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        for answer in answers {
            match answer {
                Answer::Versions(key, versions) => {
                    snapshot.versions.insert(key, versions);
                }
                Answer::Object(path, object) => {
                    snapshot.objects.insert(path, object);
                }
                Answer::Code(hash, path) => {
                    snapshot.code_by_hash.insert(hash, path);
                }
                Answer::Jobs(address, jobs) => {
                    snapshot.jobs_of.insert(address, jobs);
                }
                Answer::Owned(kind, owned) => {
                    snapshot.owned.insert(kind, owned);
                }
                Answer::ActiveJobs(jobs) => {
                    snapshot.active_jobs = jobs;
                    snapshot.active_jobs_known = true;
                }
            }
        }
        Ok(())
    }

    /// Requests this backend serves at once; planning asks that many questions in parallel.
    fn concurrency(&self) -> usize {
        1
    }

    /// Answers one question.
    async fn answer_one(&self, query: &Query) -> Result<Answer> {
        match query {
            Query::Versions { kind, name } => {
                let path = format!("{}/{name}/versions", kind.collection());
                let params: &[(&str, &str)] = if *kind == Kind::Code {
                    &[]
                } else {
                    &[("listViewType", "All")]
                };
                let versions = match self.list(&path, params).await {
                    Ok(versions) => versions,
                    Err(e) if e.status() == Some(404) => Vec::new(),
                    Err(e) => return Err(e),
                };
                Ok(Answer::Versions((*kind, name.clone()), versions))
            }
            Query::Get(path) => Ok(Answer::Object(path.clone(), self.get(path).await?)),
            Query::CodeByHash(hash) => {
                let params = [
                    ("hash", hash.as_str()),
                    ("hashVersion", crate::content::SDK_HASH_VERSION),
                ];
                let found = match self.list("codes/any/versions", &params).await {
                    Ok(found) => found,
                    Err(e) if e.status() == Some(404) => Vec::new(),
                    Err(e) => return Err(e),
                };
                let target = self.target();
                let path = found
                    .iter()
                    .filter_map(|v| v.get("id").and_then(Value::as_str))
                    .find_map(|id| target.scope.relative(id).map(str::to_owned));
                Ok(Answer::Code(hash.clone(), path))
            }
            Query::JobsOf(address) => {
                let filter = format!("{}={address}", crate::plan::tags::ADDRESS);
                let jobs = self
                    .list("jobs", &[("tag", &filter), ("listViewType", "All")])
                    .await?;
                let wanted = Value::String(address.clone());
                let jobs = jobs
                    .into_iter()
                    .filter(|j| {
                        j.pointer("/properties/tags")
                            .and_then(|t| t.get(crate::plan::tags::ADDRESS))
                            == Some(&wanted)
                    })
                    .collect();
                Ok(Answer::Jobs(address.clone(), jobs))
            }
            Query::Owned { kind, project } => {
                Ok(Answer::Owned(*kind, self.owned(*kind, project).await?))
            }
            Query::ActiveJobs => {
                let jobs = self.list("jobs", &[]).await?;
                let active = jobs
                    .into_iter()
                    .filter(|j| {
                        let status = j
                            .pointer("/properties/status")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        !matches!(status, "Completed" | "Failed" | "Canceled")
                    })
                    .collect();
                Ok(Answer::ActiveJobs(active))
            }
        }
    }
}

/// The answer to one [`Query`].
pub enum Answer {
    Versions((Kind, String), Vec<Value>),
    Object(String, Option<Value>),
    Code(String, Option<String>),
    /// The jobs an address submitted.
    Jobs(String, Vec<Value>),
    /// The objects of a kind a project owns.
    Owned(Kind, Vec<Value>),
    /// Jobs not in a terminal state.
    ActiveJobs(Vec<Value>),
}
