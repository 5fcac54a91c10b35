//! Azure Resource Manager: an Azure ML workspace or registry, or the emulator standing in
//! for one.
//!
//! The backend speaks the same contract as the local workspace (paths relative to the scope,
//! ARM bodies, ARM errors), over HTTP:
//!
//! - [`http`]: one call with the bearer token, the global cap on requests in flight, retries
//!   as [`retry`] classifies failures, and errors that never carry a token or a SAS;
//! - [`lro`]: long-running operations (`Azure-AsyncOperation`, `Location`, `Retry-After`) and
//!   `nextLink` paging, followed on the endpoint's origin only;
//! - [`blob`]: local content uploaded through `startPendingUpload` and its SAS, skipped when
//!   the content is there already.

pub mod blob;
pub mod http;
pub mod lro;
pub mod retry;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::{Backend, BackendError, JobState, Result, TargetInfo};
use crate::auth::Tokens;
use crate::plan::{Request, Upload};
use crate::scope::Scope;
use crate::translate::api;
use blob::{BlobOptions, SasFolder};
use http::{Call, Counters, Http, HttpOptions};
use lro::PollOptions;

/// Azure Resource Manager in Azure's public cloud.
pub const PUBLIC_ENDPOINT: &str = "https://management.azure.com";

/// How the backend talks to ARM.
#[derive(Clone, Debug)]
pub struct ArmOptions {
    /// ARM's base URL: [`PUBLIC_ENDPOINT`], or the emulator's.
    pub endpoint: Url,
    pub http: HttpOptions,
    pub poll: PollOptions,
    pub blob: BlobOptions,
}

impl ArmOptions {
    pub fn new(endpoint: Url) -> Self {
        Self {
            endpoint,
            http: HttpOptions::default(),
            poll: PollOptions::default(),
            blob: BlobOptions::default(),
        }
    }
}

/// What the backend uploaded, for reports and tests.
#[derive(Debug, Default)]
pub struct UploadCounters {
    pub sent: AtomicU64,
    /// Uploads whose content was found complete in storage.
    pub skipped: AtomicU64,
}

/// An Azure ML workspace or registry behind Azure Resource Manager.
pub struct ArmBackend {
    http: Http,
    endpoint: Url,
    scope: Scope,
    location: String,
    poll: PollOptions,
    blob: BlobOptions,
    pub uploads: UploadCounters,
    /// The last state read of each job apply follows.
    jobs: Mutex<BTreeMap<String, JobWatch>>,
}

/// A job's last known state, and when to read it again. Apply asks often; ARM is asked
/// soon after a change and less often while a job stays in one state, so following a long
/// job costs few requests.
struct JobWatch {
    state: JobState,
    read_at: Instant,
    wait: Duration,
}

/// The api-version of requests about `relative` (a path inside a workspace or registry), as
/// the SDK sends them.
pub fn api_version(relative: &str) -> &'static str {
    match relative.split('/').next().unwrap_or_default() {
        "data" => api::DATA,
        "environments" => api::ENVIRONMENT,
        "codes" => api::CODE,
        "components" => api::COMPONENT,
        "computes" => api::COMPUTE,
        "jobs" => api::COMMAND_JOB,
        "datastores" => api::DATASTORE,
        _ => api::WORKSPACE,
    }
}

impl ArmBackend {
    /// Reads the workspace or registry, which proves the endpoint, the credentials and the
    /// target, and learns the region new computes go to.
    pub async fn connect(
        scope: Scope,
        client: reqwest::Client,
        tokens: Arc<Tokens>,
        options: ArmOptions,
    ) -> Result<Self> {
        let backend = Self {
            http: Http::new(client, Some(tokens), options.http),
            endpoint: options.endpoint,
            scope,
            location: String::new(),
            poll: options.poll,
            blob: options.blob,
            uploads: UploadCounters::default(),
            jobs: Mutex::new(BTreeMap::new()),
        };
        let url = backend.url(&backend.scope.id(), api::WORKSPACE, &[])?;
        let found = match backend.http.send(&Call::new(Method::GET, url)).await {
            Ok(reply) => reply.json(),
            Err(e) if e.status() == Some(404) => {
                return Err(BackendError::Other(format!(
                    "{} does not exist, or the credentials cannot see it",
                    backend.scope
                )));
            }
            Err(e) => return Err(e),
        };
        let location = found
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            location,
            ..backend
        })
    }

    /// Counts of requests sent.
    pub fn counters(&self) -> &Counters {
        &self.http.counters
    }

    /// The URL of `path` (from the root: `/subscriptions/…`, with an optional query).
    fn url(&self, path: &str, api_version: &str, params: &[(&str, &str)]) -> Result<Url> {
        let base = self.endpoint.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{path}"))
            .map_err(|_| BackendError::Other(format!("invalid request path {path}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version)
            .extend_pairs(params);
        Ok(url)
    }

    fn relative_url(&self, relative: &str, params: &[(&str, &str)]) -> Result<Url> {
        self.url(
            &self.scope.resource_id(relative),
            api_version(relative),
            params,
        )
    }

    /// Checks that a planned request addresses this target.
    fn check_scope<'a>(&self, request: &'a Request) -> Result<&'a str> {
        let path = request.path.split('?').next().unwrap_or_default();
        self.scope.relative(path).ok_or_else(|| {
            BackendError::Other(format!(
                "{} {path} is outside the target {}: the plan was made for another target",
                request.method, self.scope
            ))
        })
    }

    /// A folder in storage to upload into, from `startPendingUpload` on a code version named
    /// after the content (so the same content asks for the same place).
    async fn pending_upload(&self, digest: &str) -> Result<SasFolder> {
        let name = uuid_from_digest(digest);
        let relative = format!("codes/{name}/versions/1/startPendingUpload");
        let url = self.relative_url(&relative, &[])?;
        let mut call = Call::new(Method::POST, url).json(json!({
            "pendingUploadId": name,
            "pendingUploadType": "TemporaryBlobReference",
        }));
        // The same pending upload id gives the same location: asking twice is harmless.
        call.idempotent = true;
        let reply = self.http.send(&call).await?.json();
        let sas = reply
            .pointer("/blobReferenceForConsumption/credential/sasUri")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                BackendError::Other(format!(
                    "POST {}: the answer has no SAS URI",
                    self.scope.resource_id(&relative)
                ))
            })?;
        SasFolder::parse(sas)
    }
}

/// A UUID-shaped name from a digest, as the planner names code snapshots.
fn uuid_from_digest(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Where below the pending upload's folder an upload goes: the planned destination's
/// `LocalUpload/<digest>/<name>` tail, so the digest stays in the path.
fn upload_tail(upload: &Upload) -> String {
    match upload.destination.split_once("/LocalUpload/") {
        Some((_, tail)) => tail.trim_end_matches('/').to_owned(),
        None => format!(
            "{}/{}",
            &upload.digest[..32],
            upload.destination.rsplit('/').next().unwrap_or("content")
        ),
    }
}

#[async_trait]
impl Backend for ArmBackend {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            kind: if self.scope.is_registry() {
                "registry"
            } else {
                "workspace"
            },
            scope: self.scope.clone(),
            location: self.location.clone(),
        }
    }

    fn concurrency(&self) -> usize {
        self.http.concurrency()
    }

    async fn get(&self, path: &str) -> Result<Option<Value>> {
        let url = self.relative_url(path, &[])?;
        match self.http.send(&Call::new(Method::GET, url)).await {
            Ok(reply) => Ok(Some(reply.json())),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list(&self, path: &str, params: &[(&str, &str)]) -> Result<Vec<Value>> {
        let url = self.relative_url(path, params)?;
        lro::all_pages(&self.http, &self.endpoint, url).await
    }

    async fn send(&self, request: &Request) -> Result<Value> {
        let relative = self.check_scope(request)?;
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| BackendError::Other(format!("invalid method {}", request.method)))?;
        let url = self.url(&request.path, &request.api_version, &[])?;
        let mut call = Call::new(method, url);
        if let Some(body) = request.wire_body() {
            call = call.json(body.clone());
        }
        if call.method == Method::POST {
            // Cancelling twice cancels once.
            call.idempotent = relative.ends_with("/cancel");
        }
        let reply = self.http.send(&call).await?;
        lro::settle(&self.http, &self.endpoint, &self.poll, &call, reply).await
    }

    async fn job_state(&self, name: &str) -> Result<JobState> {
        if let Some(watch) = self.jobs.lock().expect("job watch lock").get(name)
            && watch.read_at.elapsed() < watch.wait
        {
            return Ok(watch.state.clone());
        }
        let path = format!("jobs/{name}");
        let job = self.get(&path).await?.ok_or_else(|| {
            BackendError::api(
                "GET",
                &self.scope.resource_id(&path),
                404,
                "NotFound",
                format!("job {name} does not exist"),
            )
        })?;
        let state = JobState {
            status: job
                .pointer("/properties/status")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
                .to_owned(),
            log: None,
        };
        let mut jobs = self.jobs.lock().expect("job watch lock");
        let wait = match jobs.get(name) {
            Some(before) if before.state == state => (before.wait * 2).min(self.poll.job_max),
            _ => self.poll.job_min,
        };
        jobs.insert(
            name.to_owned(),
            JobWatch {
                state: state.clone(),
                read_at: Instant::now(),
                wait,
            },
        );
        Ok(state)
    }

    // TODO(#5): read job logs from Azure ML's run history (`user_logs/std_log.txt`); ARM has no
    // log API, so `amlops logs` and failed-job log tails are local-workspace only for now.

    async fn upload(&self, upload: &Upload) -> Result<Option<String>> {
        let set = if upload.includes.is_empty() {
            crate::content::list(&upload.local_path)?
        } else {
            crate::content::list_merged(&upload.local_path, &upload.includes)?
        };
        let digest = crate::content::tree_digest(&set)?;
        if digest.hex != upload.digest {
            return Err(BackendError::Other(format!(
                "{} changed since it was planned; plan again",
                upload.local_path.display()
            )));
        }
        let folder = self.pending_upload(&upload.digest).await?;
        let base = folder.child(&upload_tail(upload));
        let sent = blob::upload(&self.http, &set, &base, &upload.digest, &self.blob).await?;
        let counter = if sent.skipped {
            &self.uploads.skipped
        } else {
            &self.uploads.sent
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Some(base.public_url().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_follow_the_sdk() {
        assert_eq!(api_version("data/iris/versions/1"), api::DATA);
        assert_eq!(api_version("computes/cpu"), api::COMPUTE);
        assert_eq!(api_version("jobs/train-1"), api::COMMAND_JOB);
        assert_eq!(api_version("codes/x/versions"), api::CODE);
        assert_eq!(api_version(""), api::WORKSPACE);
    }

    #[test]
    fn uploads_keep_the_digest_in_their_path() {
        let digest = "ab".repeat(32);
        let upload = Upload {
            source: "./data".into(),
            local_path: "/tmp/data".into(),
            destination: format!(
                "azureml://datastores/workspaceblobstore/paths/LocalUpload/{}/data",
                &digest[..32]
            ),
            digest: digest.clone(),
            files: 1,
            bytes: 1,
            includes: Vec::new(),
        };
        assert_eq!(upload_tail(&upload), format!("{}/data", &digest[..32]));
        assert_eq!(
            uuid_from_digest(&digest),
            "abababab-abab-abab-abab-abababababab"
        );
    }
}
