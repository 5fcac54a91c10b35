//! `amlops show`, `amlops logs` and the hidden job runner.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use amlops::backend::Backend;
use amlops::scope::Scope;
use clap::Args;
use serde_json::{Value, json};

use super::target::{self, TargetArgs};
use super::{DirArg, targets, ui};

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    /// The job's name (as `amlops show` lists it) or address (`job.train`)
    job: String,
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Args)]
pub struct ForceUnlockArgs {
    /// The lock id an apply that holds the lock reports
    id: String,
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Args)]
pub struct RunJobArgs {
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    workspace: String,
    job: String,
}

const ASSETS: &[(&str, &str)] = &[
    ("data", "data"),
    ("environments", "environment"),
    ("components", "component"),
];

/// The backend of the target `args` select for the manifests in `dir`, or the exit code of
/// a run that cannot have one (a missing directory, an unknown target).
async fn open(
    dir: &DirArg,
    args: &TargetArgs,
) -> anyhow::Result<Result<Box<dyn amlops::backend::Backend>, ExitCode>> {
    if let Some(code) = dir.missing() {
        return Ok(Err(code));
    }
    let selection = match targets::select(&args.project, &dir.dir, true) {
        Ok(selection) => selection,
        Err(code) => return Ok(Err(code)),
    };
    let backend = target::open(args, &selection.spec, &dir.dir, target::Opening::default());
    Ok(Ok(backend.await?))
}

pub async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let backend = match open(&args.dir, &args.target).await? {
        Ok(backend) => backend,
        Err(code) => return Ok(code),
    };
    let inventory = inventory(backend.as_ref()).await?;
    if args.json {
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&inventory)?));
        return Ok(ExitCode::SUCCESS);
    }
    ui::out(&render_inventory(&inventory));
    Ok(ExitCode::SUCCESS)
}

async fn inventory(backend: &dyn Backend) -> anyhow::Result<Value> {
    let mut computes = Vec::new();
    for compute in backend.list("computes", &[]).await? {
        computes.push(json!({
            "name": compute["name"],
            "type": compute.pointer("/properties/computeType"),
            "size": compute.pointer("/properties/properties/vmSize"),
            "min_instances": compute.pointer("/properties/properties/scaleSettings/minNodeCount"),
            "max_instances": compute.pointer("/properties/properties/scaleSettings/maxNodeCount"),
            "state": compute.pointer("/properties/provisioningState"),
        }));
    }
    let mut assets = serde_json::Map::new();
    for (collection, kind) in ASSETS {
        let mut entries = Vec::new();
        for container in backend.list(collection, &[("listViewType", "All")]).await? {
            let name = container["name"].as_str().unwrap_or_default().to_owned();
            if *collection == "data" && name == amlops::lock::LOCK_ASSET {
                continue;
            }
            let versions = backend
                .list(
                    &format!("{collection}/{name}/versions"),
                    &[("listViewType", "All")],
                )
                .await?;
            let mut versions = versions;
            // Versions in number order where they are numbers, then by name.
            versions.sort_by(|a, b| {
                let key = |v: &Value| {
                    let name = v["name"].as_str().unwrap_or_default().to_owned();
                    (name.parse::<u64>().map_or(u64::MAX, |n| n), name)
                };
                key(a).cmp(&key(b))
            });
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v["name"],
                        "archived": v.pointer("/properties/isArchived").and_then(Value::as_bool).unwrap_or(false),
                        "anonymous": v.pointer("/properties/isAnonymous").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect();
            entries.push(json!({ "name": name, "versions": versions }));
        }
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        assets.insert((*kind).to_owned(), Value::Array(entries));
    }
    let mut jobs = Vec::new();
    for job in backend.list("jobs", &[("listViewType", "All")]).await? {
        jobs.push(json!({
            "name": job["name"],
            "address": job.pointer("/properties/tags/amlops.address"),
            "status": job.pointer("/properties/status"),
            "created": job.pointer("/systemData/createdAt"),
        }));
    }
    computes.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    jobs.sort_by(|a, b| a["created"].as_str().cmp(&b["created"].as_str()));
    let lock = amlops::lock::current(backend).await?;
    Ok(json!({
        "target": backend.target().scope.id(),
        "computes": computes,
        "assets": assets,
        "jobs": jobs,
        "lock": lock,
    }))
}

fn render_inventory(inventory: &Value) -> String {
    let mut out = String::new();
    let text = |v: Option<&Value>| {
        v.map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .unwrap_or_default()
    };
    let computes = inventory["computes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(out, "{}", ui::paint(ui::STRONG, "Computes"));
    if computes.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for compute in &computes {
        let _ = writeln!(
            out,
            "  {:<24} {:<12} {:<18} {}..{} nodes  {}",
            text(compute.get("name")),
            text(compute.get("type")),
            text(compute.get("size")),
            text(compute.get("min_instances")),
            text(compute.get("max_instances")),
            text(compute.get("state"))
        );
    }
    for (_, kind) in ASSETS {
        let entries = inventory["assets"][*kind]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if entries.is_empty() && *kind == "component" {
            continue;
        }
        let title = match *kind {
            "data" => "Data",
            "environment" => "Environments",
            _ => "Components",
        };
        let _ = writeln!(out, "\n{}", ui::paint(ui::STRONG, title));
        if entries.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for entry in &entries {
            let versions: Vec<String> = entry["versions"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            let mut version = text(v.get("version"));
                            if v["archived"] == json!(true) {
                                version.push_str(" (archived)");
                            }
                            if version.len() > 20 {
                                version = format!("{}…", &version[..12]);
                            }
                            version
                        })
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<32} {}",
                text(entry.get("name")),
                versions.join(", ")
            );
        }
    }
    if let Some(lock) = inventory.get("lock").filter(|l| !l.is_null()) {
        let _ = writeln!(
            out,
            "\n{} by {}@{} (pid {}, {} since {}), lock id {}",
            ui::paint(ui::WARNING, "Locked"),
            text(lock.get("holder")),
            text(lock.get("host")),
            text(lock.get("pid")),
            text(lock.get("operation")),
            text(lock.get("created")),
            text(lock.get("id"))
        );
    }
    let jobs = inventory["jobs"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "\n{}", ui::paint(ui::STRONG, "Jobs"));
    if jobs.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for job in &jobs {
        let status = text(job.get("status"));
        let style = match status.as_str() {
            "Completed" => ui::GOOD,
            "Failed" | "Canceled" => ui::ERROR,
            _ => ui::MUTED,
        };
        let _ = writeln!(
            out,
            "  {:<36} {:<20} {}  {}",
            text(job.get("name")),
            text(job.get("address")),
            ui::paint(style, &format!("{status:<10}")),
            text(job.get("created"))
        );
    }
    out
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let backend = match open(&args.dir, &args.target).await? {
        Ok(backend) => backend,
        Err(code) => return Ok(code),
    };
    let mut name = args.job.clone();
    if args.job.starts_with("job.") {
        let jobs = backend
            .list("jobs", &[("tag", &format!("amlops.address={}", args.job))])
            .await?;
        match jobs.last().and_then(|j| j["name"].as_str()) {
            Some(found) => name = found.to_owned(),
            None => {
                ui::error(&format!("no job has run for {}", args.job));
                return Ok(ExitCode::from(1));
            }
        }
    }
    if backend.get(&format!("jobs/{name}")).await?.is_none() {
        ui::error(&format!(
            "job {name} does not exist in the {}",
            backend.target().scope
        ));
        return Ok(ExitCode::from(1));
    }
    match backend.job_log(&name).await? {
        Some(log) => {
            ui::out(&log);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            ui::error(&format!("job {name} has no log yet"));
            Ok(ExitCode::from(1))
        }
    }
}

pub async fn force_unlock(args: ForceUnlockArgs) -> anyhow::Result<ExitCode> {
    let selection = match targets::select(&args.target.project, &args.dir.dir, true) {
        Ok(selection) => selection,
        Err(code) => return Ok(code),
    };
    let backend = target::open(
        &args.target,
        &selection.spec,
        &args.dir.dir,
        target::Opening::default(),
    )
    .await?;
    match amlops::lock::force_unlock(backend.as_ref(), &args.id).await {
        Ok(info) => {
            ui::status(&format!(
                "released lock {} held by {}@{} (pid {}, {} since {})",
                info.id, info.holder, info.host, info.pid, info.operation, info.created
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            ui::error(&e.to_string());
            Ok(ExitCode::from(1))
        }
    }
}

pub fn run_job(args: RunJobArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::parse_workspace(&args.workspace)
        .ok_or_else(|| anyhow::anyhow!("--workspace must be SUBSCRIPTION/RESOURCE_GROUP/NAME"))?;
    let status = amlops::backend::local::runner::run(&args.data_dir, &scope, &args.job)?;
    Ok(if status == "Completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
