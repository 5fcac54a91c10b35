//! The ARM emulator: local workspaces and registries served over the Azure Machine Learning
//! REST API, on 127.0.0.1, over HTTP or HTTPS.
//!
//! It answers the Azure Resource Manager contract of `Microsoft.MachineLearningServices` from
//! the same SQLite store as the embedded local workspace ([`crate::backend::local`]), so state
//! survives restarts and an existing `.amlops/` folder can be served as it is. Blob content
//! lives in a real Azurite (the Azure Storage emulator): `startPendingUpload` and a
//! datastore's `listSecrets` hand out SAS tokens signed with Azurite's account key. Command
//! jobs really run, through [`crate::backend::local::runner`], once the emulator has copied
//! their code and inputs out of Azurite.
//!
//! The flow of one request: [`server`] accepts it (TLS optional), asks [`faults`] whether to
//! misbehave, [`routes`] finds the scope and resource, [`validate`] checks the body against
//! the REST API's definitions, [`arm`] answers from the store (long-running operations in
//! [`operations`], jobs in [`jobs`], blob storage in [`storage`]), and [`requests`] records
//! it. A `CONNECT` goes to the storage proxy instead ([`proxy`]). Tests drive it in-process through [`spawn`], which returns a [`Running`] emulator with
//! its URL, certificate, request log and fault rules.
//!
//! # What it emulates
//! - Workspace GET; datastores GET, list (`isDefault`, `names`), PUT and `listSecrets` (a SAS
//!   for the datastore's Azurite container).
//! - Data, environment, code, component and model containers and versions: PUT, GET, list,
//!   DELETE, `listViewType`, `isArchived`, `latestVersion`/`nextVersion`, `$tags`, `$orderBy`,
//!   `$top`, code `hash`/`hashVersion` look-up, `startPendingUpload`; versions immutable as in
//!   Azure (409 `UserError`).
//! - Computes: PUT, PATCH of scale settings and DELETE (which requires
//!   `underlyingResourceAction`) as long-running operations with `Azure-AsyncOperation`,
//!   `Location` and `Retry-After`; fields that cannot change in place are refused with 409;
//!   their tags through ARM's Tags API (`…/providers/Microsoft.Resources/tags/default`).
//! - Jobs: PUT, GET, list (`jobType`, `tag`, `properties`, `listViewType`), `cancel`, DELETE;
//!   command jobs run on this machine and move through `NotStarted`, `Queued`, `Preparing`,
//!   `Running` to `Completed`, `Failed` or `Canceled`.
//! - Registries given with `--registry`: the same asset routes, with PUT and DELETE as
//!   long-running operations, and the registry discovery document.
//! - Every list pages with `nextLink`; every error is an ARM error body with a code and a
//!   message; every response carries `x-ms-request-id`; `api-version` and a bearer token are
//!   required; request bodies are checked against the REST API's definitions (400 naming the
//!   field).
//! - Fault injection per request pattern and a request log ([`faults`], [`requests`]).
//! - The cloud metadata document (`/metadata/endpoints`) of a cloud named `AmlopsEmulator`,
//!   and an HTTPS proxy for its blob host, so the SDK's direct blob uploads reach Azurite.
//!
//! # What it does not emulate
//! - Authentication: any bearer token is accepted and none is validated; there is no RBAC.
//! - Other resource types: online and batch endpoints, deployments, schedules, connections,
//!   feature stores, workspace creation or deletion, compute instances' start/stop/restart,
//!   `listKeys`, `listNodes`, asset `publish` and registry asset import.
//! - Sweep, pipeline, AutoML and Spark jobs are stored and reported but never run: they stay
//!   `NotStarted` until canceled. Job outputs stay in the run folder and are not uploaded to
//!   blob storage; run history, metrics, MLflow and job log streaming are absent.
//! - Environment images are never built; computes have no nodes (node counts stay 0).
//! - Quotas, regions, private networking and managed identity are not checked.
//! - Storage beyond Azurite's blobs: no Data Lake Gen2 or file shares, no identity-based
//!   datastore access. Clients that build blob URLs from the cloud's storage suffix (the
//!   SDK's upload of local data files) reach Azurite only through the emulator's storage
//!   proxy ([`proxy`]): they need the emulator's cloud metadata and `HTTPS_PROXY`, as
//!   `docs/emulator.md` shows.

pub mod arm;
pub mod faults;
pub mod jobs;
pub mod operations;
pub mod proxy;
pub mod reply;
pub mod requests;
pub mod routes;
pub mod server;
pub mod storage;
pub mod tls;
pub mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::BackendError;
use crate::scope::Scope;

pub use faults::{Fault, FaultRule};
pub use requests::LoggedRequest;
pub use storage::StorageAccount;

/// What went wrong starting or running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("cannot make the TLS certificate: {0}")]
    Certificate(String),
    /// Boxed: the store's errors are large and travel on error paths only.
    #[error("{0}")]
    Store(Box<BackendError>),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<BackendError> for EmulatorError {
    fn from(error: BackendError) -> Self {
        EmulatorError::Store(Box::new(error))
    }
}

pub type Result<T> = std::result::Result<T, EmulatorError>;

/// How long-running operations behave.
#[derive(Clone, Debug)]
pub struct LroTiming {
    /// How many polls of an operation answer `InProgress` before it finishes (default 1).
    pub polls: u32,
    /// The `Retry-After` seconds sent with long-running operations (default 1).
    pub retry_after: u64,
}

impl Default for LroTiming {
    fn default() -> Self {
        Self {
            polls: 1,
            retry_after: 1,
        }
    }
}

/// Everything the emulator is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory: `workspace.db`, job runs, blob copies, the TLS certificate.
    pub data_dir: PathBuf,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with a self-signed certificate kept in the data directory.
    pub tls: bool,
    /// The workspaces served (default: the local workspace).
    pub workspaces: Vec<Scope>,
    /// The registries served.
    pub registries: Vec<Scope>,
    /// The region reported for workspaces and new computes (default `local`).
    pub location: String,
    /// Azurite's blob endpoint; without it uploads are refused.
    pub storage: Option<StorageAccount>,
    /// Fault rules, matched in order.
    pub faults: Vec<FaultRule>,
    /// A JSON-lines file every request is appended to.
    pub request_log: Option<PathBuf>,
    /// Items per page of a list (default 100, as Azure ML pages).
    pub page_size: usize,
    pub lro: LroTiming,
    /// Run command jobs (default true); tests of the contract alone may turn it off.
    pub run_jobs: bool,
}

impl Config {
    /// A configuration serving the local workspace from `data_dir` over HTTP on a free port.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            port: 0,
            tls: false,
            workspaces: vec![Scope::local()],
            registries: Vec::new(),
            location: crate::scope::LOCAL_LOCATION.into(),
            storage: None,
            faults: Vec::new(),
            request_log: None,
            page_size: 100,
            lro: LroTiming::default(),
            run_jobs: true,
        }
    }

    /// Every scope served, workspaces first.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        self.workspaces.iter().chain(&self.registries)
    }

    fn check(&self) -> Result<()> {
        if self.workspaces.is_empty() && self.registries.is_empty() {
            return Err(EmulatorError::Config(
                "serve at least one workspace or registry".into(),
            ));
        }
        if self.page_size == 0 {
            return Err(EmulatorError::Config(
                "the page size must be at least 1".into(),
            ));
        }
        for rule in &self.faults {
            rule.compile().map_err(EmulatorError::Config)?;
        }
        Ok(())
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Running {
    url: String,
    address: SocketAddr,
    cert_path: Option<PathBuf>,
    state: Arc<server::State>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The base URL clients use, such as `https://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The PEM certificate clients must trust (with `tls` only).
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// The requests answered so far, oldest first (admin and blob traffic excluded).
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.state.log.entries()
    }

    /// Forgets the requests logged so far, so a test can count the next ones.
    pub fn clear_log(&self) {
        self.state.log.clear();
    }

    /// Replaces the fault rules; their counters start again.
    pub fn set_faults(&self, rules: Vec<FaultRule>) -> Result<()> {
        self.state
            .faults
            .replace(rules)
            .map_err(EmulatorError::Config)
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the emulator on the current tokio runtime and returns once it accepts connections.
pub async fn spawn(config: Config) -> Result<Running> {
    config.check()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| EmulatorError::Io {
            context: format!("cannot listen on 127.0.0.1:{}", config.port),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| EmulatorError::Io {
        context: "cannot read the listening address".into(),
        source,
    })?;
    let scheme = if config.tls { "https" } else { "http" };
    let url = format!("{scheme}://{address}");
    let certificate = if config.tls {
        Some(tls::Certificate::load_or_create(&config.data_dir)?)
    } else {
        None
    };
    let cert_path = certificate.as_ref().map(|c| c.ca_path.clone());
    let acceptor = certificate.map(|c| c.acceptor()).transpose()?;
    let state = Arc::new(server::State::open(config, url.clone(), acceptor).await?);
    state.resume_jobs();
    let (shutdown, watch) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::serve(listener, state.clone(), watch));
    Ok(Running {
        url,
        address,
        cert_path,
        state,
        shutdown: Some(shutdown),
        task: Some(task),
    })
}
