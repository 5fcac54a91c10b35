//! The embedded local workspace: amlops' default target, on this machine, with no Azure
//! account.
//!
//! State lives in a data directory (by default `.amlops/` beside the manifests):
//!
//! ```text
//! .amlops/
//!   workspace.db                       ARM objects (SQLite)
//!   datastores/workspaceblobstore/…    uploaded data and code, by content digest
//!   runs/<job>/                        each job's folder: code, outputs, std_log.txt
//! ```
//!
//! Planning reads the database without creating it; the first apply creates it.

mod graph;
pub mod runner;
pub mod service;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Backend, BackendError, JobState, Result, TargetInfo};
use crate::plan::{Request, Upload};
use crate::scope::{LOCAL_LOCATION, Scope};
use store::Store;

/// The default datastore every workspace has.
pub const DEFAULT_DATASTORE: &str = "workspaceblobstore";

/// How jobs are started.
#[derive(Clone, Debug)]
pub enum Runs {
    /// On a thread of this process (the process must stay up until they finish).
    Thread,
    /// In a detached `amlops` process, so they outlive this one.
    Detached { exe: PathBuf },
}

pub struct LocalWorkspace {
    data_dir: PathBuf,
    scope: Scope,
    store: Mutex<Option<Store>>,
    runs: Runs,
}

impl LocalWorkspace {
    /// Opens the workspace in `data_dir` without creating anything.
    pub fn open(data_dir: &Path, scope: Scope) -> Result<Self> {
        let store = if data_dir.join(store::DATABASE).exists() {
            Some(Store::open(data_dir)?)
        } else {
            None
        };
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            scope,
            store: Mutex::new(store),
            runs: Runs::Thread,
        })
    }

    pub fn with_runs(mut self, runs: Runs) -> Self {
        self.runs = runs;
        self
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether the workspace has been created (by a first apply).
    pub fn exists(&self) -> bool {
        self.store.lock().expect("store lock").is_some()
    }

    fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T>, absent: T) -> Result<T> {
        let guard = self.store.lock().expect("store lock");
        match guard.as_ref() {
            Some(store) => read(store),
            None => Ok(absent),
        }
    }

    /// Runs `write` on the store, creating the workspace (and its default datastore) first
    /// if needed.
    fn write<T>(&self, write: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut guard = self.store.lock().expect("store lock");
        if guard.is_none() {
            let mut store = Store::open(&self.data_dir)?;
            self.create_workspace(&mut store)?;
            *guard = Some(store);
        }
        write(guard.as_mut().expect("opened above"))
    }

    fn create_workspace(&self, store: &mut Store) -> Result<()> {
        let path = format!("datastores/{DEFAULT_DATASTORE}");
        if store.get(&self.scope.id(), &path)?.is_some() {
            return Ok(());
        }
        let body = json!({"properties": {
            "datastoreType": "AzureBlob",
            "accountName": "local",
            "containerName": DEFAULT_DATASTORE,
            "endpoint": "local",
            "protocol": "file",
            "isDefault": true,
            "credentials": {"credentialsType": "None"},
        }});
        service::put(store, &self.scope, &path, &body, &service::now())?;
        Ok(())
    }

    /// A local path for an object inside the default datastore's folder tree.
    pub fn datastore_dir(&self) -> PathBuf {
        self.data_dir.join("datastores")
    }

    fn start_run(&self, name: &str) -> Result<()> {
        match &self.runs {
            Runs::Thread => {
                let (dir, scope, name) =
                    (self.data_dir.clone(), self.scope.clone(), name.to_owned());
                std::thread::spawn(move || {
                    if let Err(e) = runner::run(&dir, &scope, &name) {
                        tracing::warn!(job = %name, error = %e, "local job failed to run");
                    }
                });
                Ok(())
            }
            Runs::Detached { exe } => {
                let Scope::Workspace {
                    subscription,
                    resource_group,
                    workspace,
                } = &self.scope
                else {
                    return Err(BackendError::Other("jobs run in workspaces only".into()));
                };
                let mut command = std::process::Command::new(exe);
                command
                    .arg("internal-run-job")
                    .arg("--data-dir")
                    .arg(&self.data_dir)
                    .arg("--workspace")
                    .arg(format!("{subscription}/{resource_group}/{workspace}"))
                    .arg(name)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
                command
                    .spawn()
                    .map(|_| ())
                    .map_err(|source| BackendError::Io {
                        context: "cannot start the job runner".into(),
                        source,
                    })
            }
        }
    }

    /// The state of job `name`, starting it if nothing runs it: a job left `NotStarted` by an
    /// interrupted apply, or marked failed if the process running it is gone.
    pub fn follow_job(&self, name: &str) -> Result<JobState> {
        let path = format!("jobs/{name}");
        let job = self.read(|s| s.get(&self.scope.id(), &path), None)?;
        let Some(job) = job else {
            return Err(BackendError::api(
                "GET",
                &path,
                404,
                "NotFound",
                format!("job {name} does not exist"),
            ));
        };
        let status = job
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned();
        let run = self.read(|s| s.run(&self.scope.id(), name), None)?;
        let log = run.as_ref().map(|r| {
            r.run_dir
                .join(runner::LOG_FILE)
                .to_string_lossy()
                .into_owned()
        });
        match (status.as_str(), &run) {
            ("NotStarted", None) => {
                // Claim the job before starting it, so two followers never start it twice.
                let claimed = self.write(|s| {
                    s.transaction(|w| {
                        if w.get(&self.scope.id(), &path)?.is_none() {
                            return Ok(false);
                        }
                        let dir = self.data_dir.join("runs").join(name);
                        w.put_run(
                            &self.scope.id(),
                            name,
                            &store::RunRow {
                                run_dir: dir,
                                pid: None,
                                exit_code: None,
                            },
                        )?;
                        Ok(true)
                    })
                })?;
                if claimed {
                    self.start_run(name)?;
                }
            }
            ("Preparing" | "Running", Some(run))
                if run.pid.is_some_and(|pid| !process_alive(pid)) =>
            {
                self.write(|s| {
                    service::set_job_status(s, &self.scope, name, "Failed", &service::now())
                })?;
                return Ok(JobState {
                    status: "Failed".into(),
                    log,
                });
            }
            _ => {}
        }
        Ok(JobState { status, log })
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Splits a request path into the path inside `scope` and its query.
fn relative_path<'a>(scope: &Scope, path: &'a str) -> Result<(&'a str, &'a str)> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let relative = scope.relative(path).ok_or_else(|| {
        BackendError::api(
            "",
            path,
            404,
            "NotFound",
            format!("{path} is not in {scope}"),
        )
    })?;
    Ok((relative, query))
}

#[async_trait]
impl Backend for LocalWorkspace {
    fn target(&self) -> TargetInfo {
        TargetInfo {
            kind: "local",
            scope: self.scope.clone(),
            location: LOCAL_LOCATION.into(),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Value>> {
        self.read(|s| s.get(&self.scope.id(), path), None)
    }

    async fn list(&self, path: &str, params: &[(&str, &str)]) -> Result<Vec<Value>> {
        self.read(|s| service::list(s, &self.scope, path, params), Vec::new())
    }

    async fn send(&self, request: &Request) -> Result<Value> {
        let (path, query) = relative_path(&self.scope, &request.path)?;
        let body = request.wire_body().cloned().unwrap_or(Value::Null);
        let stamp = service::now();
        match request.method.as_str() {
            "PUT" => {
                let (written, object) =
                    self.write(|s| service::put(s, &self.scope, path, &body, &stamp))?;
                if written == service::Written::Created
                    && let service::Shape::Job(name) = service::shape(path)
                {
                    self.follow_job(name)?;
                }
                Ok(object)
            }
            "PATCH" => match service::tags_target(path) {
                Some(object) => {
                    self.write(|s| service::patch_tags(s, &self.scope, object, &body, &stamp))
                }
                None => self.write(|s| service::patch(s, &self.scope, path, &body, &stamp)),
            },
            "DELETE" => {
                if matches!(service::shape(path), service::Shape::Compute(_))
                    && !query.contains("underlyingResourceAction=")
                {
                    return Err(BackendError::api(
                        "DELETE",
                        path,
                        400,
                        "BadRequest",
                        "underlyingResourceAction is required",
                    ));
                }
                self.write(|s| service::delete(s, &self.scope, path))?;
                Ok(Value::Null)
            }
            "POST" if path.ends_with("/cancel") => {
                let name = path.trim_start_matches("jobs/").trim_end_matches("/cancel");
                self.write(|s| {
                    service::set_job_status(s, &self.scope, name, "CancelRequested", &stamp)
                })?;
                Ok(Value::Null)
            }
            other => Err(BackendError::api(
                other,
                path,
                405,
                "MethodNotAllowed",
                format!("{other} is not supported on {path}"),
            )),
        }
    }

    async fn upload(&self, upload: &Upload) -> Result<Option<String>> {
        let Some(rest) = upload.destination.strip_prefix("azureml://datastores/") else {
            return Err(BackendError::Other(format!(
                "cannot upload to {}",
                upload.destination
            )));
        };
        let (datastore, path) = rest.split_once("/paths/").unwrap_or((rest, ""));
        let target = runner::datastore_path(&self.data_dir, datastore, path).ok_or_else(|| {
            BackendError::Other(format!("invalid datastore path {}", upload.destination))
        })?;
        if target.exists() {
            return Ok(None);
        }
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
        // The workspace must exist before content lands in it.
        self.write(|_| Ok(()))?;
        crate::content::copy_into(&set, &target)?;
        Ok(None)
    }

    async fn job_state(&self, name: &str) -> Result<JobState> {
        self.follow_job(name)
    }

    async fn job_log(&self, name: &str) -> Result<Option<String>> {
        let run = self.read(|s| s.run(&self.scope.id(), name), None)?;
        let Some(run) = run else { return Ok(None) };
        Ok(std::fs::read_to_string(run.run_dir.join(runner::LOG_FILE)).ok())
    }
}
