//! Running command jobs on this machine.
//!
//! A job runs in a fresh folder of the workspace (`runs/<job>/`): its code snapshot is copied
//! in, `${{inputs.*}}` become local paths (data assets resolve to their stored copies,
//! literals to their values), `${{outputs.*}}` become folders kept in the workspace, its
//! environment variables are set, and the command runs through `sh -c` with the host's own
//! interpreters. The environment's image and conda specification are recorded, not built.
//! Everything the command prints goes to the job's log; its exit status decides `Completed`
//! or `Failed`.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::service::{self, now};
use super::store::{RunRow, Store};
use crate::backend::{BackendError, Result};
use crate::model::binding::{self, Target};
use crate::scope::Scope;

/// The log file inside a run folder.
pub const LOG_FILE: &str = "std_log.txt";

/// How often a running job checks for cancellation.
const POLL: Duration = Duration::from_millis(100);

/// Runs job `name` to a terminal state and returns that state. A job that is not waiting to
/// start (`NotStarted`, or `Queued` by the ARM emulator) is left alone.
pub fn run(data_dir: &Path, scope: &Scope, name: &str) -> Result<String> {
    let mut store = Store::open(data_dir)?;
    let path = format!("jobs/{name}");
    let Some(job) = store.get(&scope.id(), &path)? else {
        return Err(BackendError::Other(format!("job {name} does not exist")));
    };
    if !matches!(
        job.pointer("/properties/status").and_then(Value::as_str),
        Some("NotStarted" | "Queued")
    ) {
        return Ok(job
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned());
    }
    let run_dir = data_dir.join("runs").join(name);
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(io(&run_dir))?;
    let log_path = run_dir.join(LOG_FILE);
    let mut log = File::create(&log_path).map_err(io(&log_path))?;
    store.transaction(|w| {
        w.put_run(
            &scope.id(),
            name,
            &RunRow {
                run_dir: run_dir.clone(),
                pid: Some(std::process::id()),
                exit_code: None,
            },
        )
    })?;
    service::set_job_status(&mut store, scope, name, "Preparing", &now())?;

    let job_type = job
        .pointer("/properties/jobType")
        .and_then(Value::as_str)
        .unwrap_or("Command");
    let outcome = match job_type {
        "Pipeline" => {
            super::graph::run_pipeline(&mut store, data_dir, scope, &job, &run_dir, &mut log)
        }
        "Sweep" => super::graph::run_sweep(&mut store, data_dir, scope, &job, &run_dir, &mut log),
        "Command" => prepare(&store, data_dir, scope, &job, &run_dir, &mut log)
            .and_then(|prepared| execute(&mut store, scope, name, &prepared, &mut log)),
        other => {
            let _ = writeln!(
                log,
                "[amlops] {other} jobs cannot run on the local workspace: only command, sweep and pipeline jobs run here"
            );
            Ok(Some(1))
        }
    };
    let (status, exit_code) = match outcome {
        Ok(code) if code == Some(0) => ("Completed", code),
        Ok(code) => {
            if code.is_none() {
                let _ = writeln!(log, "\n[amlops] the job was stopped");
            }
            (
                if cancel_requested(&store, scope, name) {
                    "Canceled"
                } else {
                    "Failed"
                },
                code,
            )
        }
        Err(e) => {
            let _ = writeln!(log, "[amlops] the job could not start: {e}");
            ("Failed", None)
        }
    };
    store.transaction(|w| {
        w.put_run(
            &scope.id(),
            name,
            &RunRow {
                run_dir: run_dir.clone(),
                pid: None,
                exit_code,
            },
        )
    })?;
    service::set_job_status(&mut store, scope, name, status, &now())?;
    Ok(status.to_owned())
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io {
        context: format!("{}", path.display()),
        source,
    }
}

/// A job ready to start.
pub(super) struct Prepared {
    pub(super) command: String,
    pub(super) working_dir: PathBuf,
    pub(super) env: Vec<(String, String)>,
    pub(super) timeout: Option<Duration>,
}

fn prepare(
    store: &Store,
    data_dir: &Path,
    scope: &Scope,
    job: &Value,
    run_dir: &Path,
    log: &mut File,
) -> Result<Prepared> {
    let properties = job.get("properties").cloned().unwrap_or(Value::Null);
    let name = job.get("name").and_then(Value::as_str).unwrap_or_default();
    let command = properties
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let code_dir = run_dir.join("code");
    std::fs::create_dir_all(&code_dir).map_err(io(&code_dir))?;
    if let Some(code_id) = properties.get("codeId").and_then(Value::as_str) {
        let source = code_location(store, data_dir, scope, code_id)?;
        let set = crate::content::list(&source)?;
        let dest = if set.is_dir {
            code_dir.clone()
        } else {
            code_dir.join(&set.files[0].relative)
        };
        copy_files(&set, &dest)?;
    }
    ensure_outputs_folder(&code_dir)?;
    let mut inputs = std::collections::BTreeMap::new();
    if let Some(map) = properties.get("inputs").and_then(Value::as_object) {
        for (input, value) in map {
            let resolved = match value.get("jobInputType").and_then(Value::as_str) {
                Some("literal") => value.get("value").map(literal_text).unwrap_or_default(),
                _ => {
                    let uri = value.get("uri").and_then(Value::as_str).unwrap_or_default();
                    match resolve_uri(store, data_dir, scope, uri)? {
                        Resolved::Local(path) => {
                            if !path.exists() {
                                let _ = writeln!(
                                    log,
                                    "[amlops] input `{input}`: {uri} has no local copy at {}",
                                    path.display()
                                );
                            }
                            path.to_string_lossy().into_owned()
                        }
                        Resolved::Remote(uri) => uri,
                    }
                }
            };
            inputs.insert(input.clone(), resolved);
        }
    }
    let mut outputs = std::collections::BTreeMap::new();
    if let Some(map) = properties.get("outputs").and_then(Value::as_object) {
        for (output, value) in map {
            let folder = match value.get("uri").and_then(Value::as_str) {
                Some(uri) => match resolve_uri(store, data_dir, scope, uri)? {
                    Resolved::Local(path) => path,
                    Resolved::Remote(_) => run_dir.join("outputs").join(output),
                },
                None => run_dir.join("outputs").join(output),
            };
            let is_file = value.get("jobOutputType").and_then(Value::as_str) == Some("uri_file");
            let dir = if is_file {
                folder
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or(folder.clone())
            } else {
                folder.clone()
            };
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            outputs.insert(output.clone(), folder.to_string_lossy().into_owned());
        }
    }
    let command = binding::substitute(&command, |b| match b.target() {
        Target::Input(n) => inputs.get(n).map(|v| shell_word(v)),
        Target::Output(n) => outputs.get(n).map(|v| shell_word(v)),
        Target::RunTime("name") => Some(name.to_owned()),
        _ => None,
    });

    let mut env: Vec<(String, String)> = properties
        .get("environmentVariables")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), literal_text(v)))
                .collect()
        })
        .unwrap_or_default();
    env.push(("AZUREML_RUN_ID".into(), name.to_owned()));
    env.push((
        "AMLOPS_RUN_DIR".into(),
        run_dir.to_string_lossy().into_owned(),
    ));
    if let Some(path) = python_shim(run_dir)? {
        env.push(("PATH".into(), path));
    }
    let timeout = properties
        .pointer("/limits/timeout")
        .and_then(Value::as_str)
        .and_then(crate::translate::parse_iso_duration)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64));
    // The command itself is not echoed: values substituted into it may be secrets.
    let _ = writeln!(log, "[amlops] running in {}", code_dir.display());
    Ok(Prepared {
        command,
        working_dir: code_dir,
        env,
        timeout,
    })
}

pub(super) fn execute(
    store: &mut Store,
    scope: &Scope,
    name: &str,
    prepared: &Prepared,
    log: &mut File,
) -> Result<Option<i32>> {
    let stdout = log.try_clone().map_err(|source| BackendError::Io {
        context: "job log".into(),
        source,
    })?;
    let stderr = log.try_clone().map_err(|source| BackendError::Io {
        context: "job log".into(),
        source,
    })?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&prepared.command)
        .current_dir(&prepared.working_dir)
        .envs(prepared.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|source| BackendError::Io {
            context: "cannot start sh".into(),
            source,
        })?;
    service::set_job_status(store, scope, name, "Running", &now())?;
    let started = Instant::now();
    let mut checked = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|source| BackendError::Io {
            context: "job process".into(),
            source,
        })? {
            return Ok(status.code());
        }
        let timed_out = prepared.timeout.is_some_and(|t| started.elapsed() > t);
        if timed_out
            || (checked.elapsed() > Duration::from_millis(500)
                && cancel_requested(store, scope, name))
        {
            if timed_out {
                let _ = writeln!(
                    log,
                    "\n[amlops] the job exceeded its timeout of {}s",
                    prepared.timeout.unwrap_or_default().as_secs()
                );
            }
            stop_group(child.id());
            let _ = child.wait();
            return Ok(None);
        }
        if checked.elapsed() > Duration::from_millis(500) {
            checked = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// Azure ML gives every command an `outputs` folder in its working directory, whose content
/// it keeps; scripts write there without creating it.
pub(super) fn ensure_outputs_folder(working_dir: &Path) -> Result<()> {
    let outputs = working_dir.join("outputs");
    std::fs::create_dir_all(&outputs).map_err(io(&outputs))
}

/// Stops the whole process group of a job, politely first.
fn stop_group(pid: u32) {
    let group = -(pid as i32);
    // SAFETY: kill(2) with a negative pid signals a process group; it reads no memory.
    unsafe {
        libc::kill(group, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe {
        libc::kill(group, libc::SIGKILL);
    }
}

fn cancel_requested(store: &Store, scope: &Scope, name: &str) -> bool {
    store
        .get(&scope.id(), &format!("jobs/{name}"))
        .ok()
        .flatten()
        .and_then(|j| {
            j.pointer("/properties/status")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .is_some_and(|s| s == "CancelRequested" || s == "Canceled")
}

/// The text of a literal: strings as they are, other JSON values as JSON.
pub(super) fn literal_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Quotes a path or value for `sh` when it needs quoting.
pub(super) fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Makes `python` mean `python3` on hosts that only have the latter, as most Azure ML images
/// provide `python`.
pub(super) fn python_shim(run_dir: &Path) -> Result<Option<String>> {
    let path = std::env::var("PATH").unwrap_or_default();
    let has = |name: &str| std::env::split_paths(&path).any(|d| d.join(name).is_file());
    if has("python") || !has("python3") {
        return Ok(None);
    }
    let Some(python3) = std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
    else {
        return Ok(None);
    };
    let bin = run_dir.join(".bin");
    std::fs::create_dir_all(&bin).map_err(io(&bin))?;
    let shim = bin.join("python");
    let _ = std::fs::remove_file(&shim);
    std::os::unix::fs::symlink(&python3, &shim).map_err(io(&shim))?;
    let joined = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))
        .map_err(|e| BackendError::Other(e.to_string()))?;
    Ok(Some(joined.to_string_lossy().into_owned()))
}

pub(super) enum Resolved {
    Local(PathBuf),
    Remote(String),
}

/// A URI as this machine can read it: datastore paths, registered data inside the workspace
/// and blob URLs copied into the data directory become local paths; anything else stays as
/// written.
pub(super) fn resolve_uri(
    store: &Store,
    data_dir: &Path,
    scope: &Scope,
    uri: &str,
) -> Result<Resolved> {
    if let Some(copy) = blob_copy_path(data_dir, uri).filter(|p| p.exists()) {
        return Ok(Resolved::Local(copy));
    }
    if let Some(rest) = uri.strip_prefix("azureml://datastores/") {
        let (datastore, path) = rest.split_once("/paths/").unwrap_or((rest, ""));
        return Ok(datastore_path(data_dir, datastore, path)
            .map_or(Resolved::Remote(uri.to_owned()), Resolved::Local));
    }
    let relative = scope.relative(uri).map(str::to_owned).or_else(|| {
        let body = uri.strip_prefix("azureml:")?;
        let (name, version) = body.split_once(':')?;
        Some(format!("data/{name}/versions/{version}"))
    });
    if let Some(relative) = relative
        && relative.starts_with("data/")
    {
        let data = store.get(&scope.id(), &relative)?.ok_or_else(|| {
            BackendError::Other(format!("data {relative} does not exist in the workspace"))
        })?;
        let data_uri = data
            .pointer("/properties/dataUri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return resolve_uri(store, data_dir, scope, data_uri);
    }
    Ok(Resolved::Remote(uri.to_owned()))
}

/// The local folder of a datastore path. Paths climbing out of the datastore are refused.
pub fn datastore_path(data_dir: &Path, datastore: &str, path: &str) -> Option<PathBuf> {
    let safe = |p: &Path| p.components().all(|c| matches!(c, Component::Normal(_)));
    let datastore = Path::new(datastore);
    let relative = Path::new(path.trim_start_matches('/'));
    (safe(datastore) && safe(relative) && datastore.components().count() == 1)
        .then(|| data_dir.join("datastores").join(datastore).join(relative))
}

/// The folder holding local copies of blobs (`blobs/<account>/<container>/<blob>`), which the
/// ARM emulator fills from Azurite before a job runs.
pub const BLOB_COPIES: &str = "blobs";

/// Where the local copy of a blob URL lives, whether or not it exists. Both URL styles are
/// understood: path style (`http://127.0.0.1:10000/<account>/<container>/<blob>`, as Azurite
/// serves) and Azure's (`https://<account>.blob.<suffix>/<container>/<blob>`). Query strings
/// (SAS tokens) are ignored; paths climbing out of the folder are refused.
pub fn blob_copy_path(data_dir: &Path, uri: &str) -> Option<PathBuf> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = rest.split_once('/')?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let (account, path) = match host.split_once(".blob.") {
        Some((account, _)) => (account, path),
        None => path.split_once('/')?,
    };
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let relative = Path::new(decoded.trim_end_matches('/'));
    let safe = |p: &Path| {
        p.components().count() > 0 && p.components().all(|c| matches!(c, Component::Normal(_)))
    };
    (safe(Path::new(account)) && Path::new(account).components().count() == 1 && safe(relative))
        .then(|| data_dir.join(BLOB_COPIES).join(account).join(relative))
}

pub(super) fn code_location(
    store: &Store,
    data_dir: &Path,
    scope: &Scope,
    code_id: &str,
) -> Result<PathBuf> {
    let Some(relative) = scope.relative(code_id) else {
        return Err(BackendError::Other(format!(
            "code {code_id} is not in this workspace"
        )));
    };
    let code = store
        .get(&scope.id(), relative)?
        .ok_or_else(|| BackendError::Other(format!("code {relative} does not exist")))?;
    let uri = code
        .pointer("/properties/codeUri")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match resolve_uri(store, data_dir, scope, uri)? {
        Resolved::Local(path) => Ok(path),
        Resolved::Remote(uri) => Err(BackendError::Other(format!(
            "code at {uri} cannot be read on this machine"
        ))),
    }
}

pub(super) fn copy_files(set: &crate::content::FileSet, dest: &Path) -> Result<()> {
    if !set.is_dir {
        std::fs::copy(&set.files[0].path, dest).map_err(io(dest))?;
        return Ok(());
    }
    for file in &set.files {
        let target = dest.join(&file.relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&file.path, &target).map_err(io(&target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_paths_stay_inside() {
        let root = Path::new("/ws");
        assert_eq!(
            datastore_path(root, "workspaceblobstore", "LocalUpload/x/iris.csv"),
            Some(PathBuf::from(
                "/ws/datastores/workspaceblobstore/LocalUpload/x/iris.csv"
            ))
        );
        assert_eq!(
            datastore_path(root, "workspaceblobstore", "../../etc/passwd"),
            None
        );
        assert_eq!(datastore_path(root, "..", "x"), None);
        assert_eq!(datastore_path(root, "a/b", "x"), None);
    }

    #[test]
    fn blob_urls_map_to_local_copies() {
        let root = Path::new("/ws");
        assert_eq!(
            blob_copy_path(
                root,
                "http://127.0.0.1:10000/devstoreaccount1/c0de/src?sig=x"
            ),
            Some(PathBuf::from("/ws/blobs/devstoreaccount1/c0de/src"))
        );
        assert_eq!(
            blob_copy_path(root, "https://acct.blob.core.windows.net/cont/a%20b/x.csv"),
            Some(PathBuf::from("/ws/blobs/acct/cont/a b/x.csv"))
        );
        assert_eq!(
            blob_copy_path(root, "http://127.0.0.1:1/acct/../../etc"),
            None
        );
        assert_eq!(blob_copy_path(root, "http://127.0.0.1:1/acct"), None);
        assert_eq!(blob_copy_path(root, "azureml://datastores/x/paths/y"), None);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/a/b.csv"), "/a/b.csv");
        assert_eq!(shell_word("it's here"), "'it'\\''s here'");
        assert_eq!(shell_word(""), "''");
    }
}
