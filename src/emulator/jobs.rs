//! Running the command jobs submitted to the emulator.
//!
//! A new command job is marked `Queued`, its code and blob inputs are copied out of Azurite
//! into the data directory (datastore paths under `datastores/`, other blobs under `blobs/`,
//! where [`runner`] looks for them), and [`runner::run`] takes it through `Preparing` and
//! `Running` to a terminal state on a thread of its own. Jobs of other types are stored but
//! not run. On start the emulator picks up jobs a previous run left waiting, and fails those
//! whose runner is gone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::storage::BlobClient;
use crate::backend::Result;
use crate::backend::local::runner;
use crate::backend::local::service;
use crate::backend::local::store::Store;
use crate::scope::Scope;

const WAITING: &[&str] = &["NotStarted", "Queued"];
const ACTIVE: &[&str] = &[
    "Starting",
    "Provisioning",
    "Preparing",
    "Running",
    "Finalizing",
    "CancelRequested",
];

/// Starts and stops jobs.
pub struct Jobs {
    data_dir: PathBuf,
    store: Arc<Mutex<Store>>,
    blobs: Option<BlobClient>,
    enabled: bool,
}

impl Jobs {
    pub fn new(
        data_dir: PathBuf,
        store: Arc<Mutex<Store>>,
        blobs: Option<BlobClient>,
        enabled: bool,
    ) -> Self {
        Jobs {
            data_dir,
            store,
            blobs,
            enabled,
        }
    }

    fn write<T>(&self, change: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        change(&mut self.store.lock().expect("store lock"))
    }

    /// Queues a newly created job and starts it in the background (command jobs only).
    pub fn submit(&self, scope: &Scope, name: &str, job: &Value) {
        let command = job.pointer("/properties/jobType").and_then(Value::as_str) == Some("Command");
        if !self.enabled || !command {
            return;
        }
        if let Err(e) =
            self.write(|s| service::set_job_status(s, scope, name, "Queued", &service::now()))
        {
            tracing::warn!(job = name, error = %e, "cannot queue the job");
            return;
        }
        let staging = Staging {
            data_dir: self.data_dir.clone(),
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            scope: scope.clone(),
        };
        let (data_dir, scope, name) = (self.data_dir.clone(), scope.clone(), name.to_owned());
        let job = job.clone();
        tokio::spawn(async move {
            staging.copy_inputs(&job).await;
            let ran = tokio::task::spawn_blocking(move || runner::run(&data_dir, &scope, &name));
            match ran.await {
                Ok(Ok(status)) => tracing::debug!(status = %status, "job finished"),
                Ok(Err(e)) => tracing::warn!(error = %e, "job could not run"),
                Err(e) => tracing::warn!(error = %e, "job runner stopped"),
            }
        });
    }

    /// Cancels a job: one that has not started ends `Canceled` at once; a running one is
    /// marked `CancelRequested` and its runner stops it.
    pub fn cancel(&self, scope: &Scope, name: &str) -> Result<()> {
        let path = format!("jobs/{name}");
        self.write(|store| {
            let status = status_of(store.get(&scope.id(), &path)?.as_ref());
            let next = if WAITING.contains(&status.as_str()) {
                "Canceled"
            } else if ACTIVE.contains(&status.as_str()) {
                "CancelRequested"
            } else {
                return Ok(());
            };
            service::set_job_status(store, scope, name, next, &service::now())
        })
    }

    /// Restarts the jobs of `scope` that a previous run left waiting, and fails those whose
    /// runner is gone.
    pub fn resume(&self, scope: &Scope) -> Result<()> {
        let jobs = self.write(|store| store.children(&scope.id(), "jobs"))?;
        for row in jobs {
            let name = row.path.trim_start_matches("jobs/").to_owned();
            let status = status_of(Some(&row.body));
            if WAITING.contains(&status.as_str()) {
                self.submit(scope, &name, &row.body);
            } else if ACTIVE.contains(&status.as_str()) && !self.runner_alive(scope, &name)? {
                let end = if status == "CancelRequested" {
                    "Canceled"
                } else {
                    "Failed"
                };
                self.write(|s| service::set_job_status(s, scope, &name, end, &service::now()))?;
            }
        }
        Ok(())
    }

    fn runner_alive(&self, scope: &Scope, name: &str) -> Result<bool> {
        let run = self.write(|store| store.run(&scope.id(), name))?;
        Ok(run.and_then(|r| r.pid).is_some_and(|pid| {
            pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
        }))
    }
}

fn status_of(job: Option<&Value>) -> String {
    job.and_then(|j| j.pointer("/properties/status"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Copies what a job reads out of blob storage.
struct Staging {
    data_dir: PathBuf,
    store: Arc<Mutex<Store>>,
    blobs: Option<BlobClient>,
    scope: Scope,
}

impl Staging {
    async fn copy_inputs(&self, job: &Value) {
        let Some(blobs) = &self.blobs else {
            return;
        };
        for uri in self.uris(job) {
            let Some((container, path, local)) = self.locate(blobs, &uri) else {
                continue;
            };
            match blobs.copy_out(&container, &path, &local).await {
                Ok(count) => tracing::debug!(uri = %uri, blobs = count, "copied for a job"),
                Err(e) => tracing::warn!(uri = %uri, error = %e, "cannot copy a job input"),
            }
        }
    }

    fn get(&self, relative: &str) -> Option<Value> {
        let store = self.store.lock().expect("store lock");
        store.get(&self.scope.id(), relative).ok().flatten()
    }

    /// The storage URIs a job reads: its code, and its inputs (data assets resolved).
    fn uris(&self, job: &Value) -> Vec<String> {
        let mut uris = Vec::new();
        if let Some(code) = job.pointer("/properties/codeId").and_then(Value::as_str)
            && let Some(relative) = self.scope.relative(code)
            && let Some(version) = self.get(relative)
            && let Some(uri) = version
                .pointer("/properties/codeUri")
                .and_then(Value::as_str)
        {
            uris.push(uri.to_owned());
        }
        let inputs = job.pointer("/properties/inputs").and_then(Value::as_object);
        for input in inputs.into_iter().flat_map(|m| m.values()) {
            if let Some(uri) = input.get("uri").and_then(Value::as_str) {
                uris.push(self.data_uri(uri).unwrap_or_else(|| uri.to_owned()));
            }
        }
        uris
    }

    /// The `dataUri` of a data asset reference (`azureml:name:version` or its ARM id).
    fn data_uri(&self, uri: &str) -> Option<String> {
        let bare = uri.strip_prefix("azureml:").unwrap_or(uri);
        let relative = match self.scope.relative(bare) {
            Some(relative) => relative.to_owned(),
            None => {
                let (name, version) = uri.strip_prefix("azureml:")?.split_once(':')?;
                format!("data/{name}/versions/{version}")
            }
        };
        let data = self.get(&relative)?;
        data.pointer("/properties/dataUri")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The container, blob path and local copy of a URI held by this storage account.
    fn locate(&self, blobs: &BlobClient, uri: &str) -> Option<(String, String, PathBuf)> {
        if let Some((container, path)) = blobs.account().blob_of(uri) {
            let local = runner::blob_copy_path(&self.data_dir, uri)?;
            return Some((container.to_owned(), path.to_owned(), local));
        }
        let (datastore, path) = datastore_path(uri)?;
        let stored = self.get(&format!("datastores/{datastore}"))?;
        let object = super::server::present_datastore(&self.scope, stored, Some(blobs.account()));
        let on_this_account = object
            .pointer("/properties/accountName")
            .and_then(Value::as_str)
            == Some(blobs.account().account.as_str());
        let container = object
            .pointer("/properties/containerName")
            .and_then(Value::as_str)?;
        let local = runner::datastore_path(&self.data_dir, datastore, path)?;
        on_this_account.then(|| {
            (
                container.to_owned(),
                path.trim_end_matches('/').to_owned(),
                local,
            )
        })
    }
}

/// The datastore and path of `azureml://datastores/<ds>/paths/<p>`, short or long form.
fn datastore_path(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("azureml://")?;
    let at = rest.find("datastores/")?;
    let (datastore, path) = rest[at + "datastores/".len()..].split_once("/paths/")?;
    Some((datastore, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_uris_in_both_forms() {
        assert_eq!(
            datastore_path("azureml://datastores/workspaceblobstore/paths/LocalUpload/x/a.csv"),
            Some(("workspaceblobstore", "LocalUpload/x/a.csv"))
        );
        assert_eq!(
            datastore_path(
                "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/d/paths/p/"
            ),
            Some(("d", "p/"))
        );
        assert_eq!(datastore_path("https://x/y"), None);
    }
}
