//! `amlops emulator`: serve local workspaces over the Azure ML REST API until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use amlops::emulator::faults::FaultFile;
use amlops::emulator::storage::Azurite;
use amlops::emulator::{Config, FaultRule, LroTiming, StorageAccount};
use amlops::scope::{LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, Scope};
use anyhow::{Context as _, bail};
use clap::Args;

use super::ui;

#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1; 0 picks a free one
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve HTTPS with a self-signed certificate kept in the data directory
    #[arg(long)]
    tls: bool,
    /// Data directory: the workspace database, job runs, the certificate
    #[arg(
        long,
        env = "AMLOPS_DATA_DIR",
        value_name = "DIR",
        default_value = ".amlops"
    )]
    data_dir: PathBuf,
    /// A workspace to serve, SUBSCRIPTION/RESOURCE_GROUP/NAME (repeatable) [default: the local
    /// workspace 00000000-0000-0000-0000-000000000000/amlops-local/local]
    #[arg(long = "workspace", value_name = "SUB/RG/NAME")]
    workspaces: Vec<String>,
    /// A registry to serve, NAME or SUBSCRIPTION/RESOURCE_GROUP/NAME (repeatable)
    #[arg(long = "registry", value_name = "NAME")]
    registries: Vec<String>,
    /// Region reported for workspaces and computes
    #[arg(long, default_value = amlops::scope::LOCAL_LOCATION)]
    location: String,
    /// Azurite's blob endpoint (`http://127.0.0.1:10000`), or URL;ACCOUNT;KEY for another
    /// account
    #[arg(long, value_name = "URL", conflicts_with = "azurite")]
    storage: Option<String>,
    /// Start Azurite from this `azurite-blob` executable, with its data in DIR/azurite
    #[arg(long, value_name = "PATH")]
    azurite: Option<PathBuf>,
    /// A JSON file of fault rules: {"faults": [{"fault": "throttle", "path": "/computes/"}]}
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// A fault rule, KIND[:key=value,...], e.g. `throttle:method=PUT,times=2,retry-after=1`
    /// (repeatable; kinds throttle, error, latency, drop, lro-failed, conflict)
    #[arg(long = "fault", value_name = "RULE")]
    fault_rules: Vec<String>,
    /// Append every request (method, path, status, timing) to this JSON-lines file
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
    /// Items per page of a list
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Polls a long-running operation answers `InProgress` before it finishes
    #[arg(long, default_value_t = 1)]
    lro_polls: u32,
    /// Seconds sent in Retry-After with long-running operations
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
}

pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let azurite = args
        .azurite
        .as_ref()
        .map(|exe| Azurite::start(exe, &args.data_dir.join("azurite")))
        .transpose()
        .context("cannot start Azurite")?;
    let config = config(&args, azurite.as_ref())?;
    let running = amlops::emulator::spawn(config)
        .await
        .context("cannot start the emulator")?;
    ui::out(&format!("listening on {}\n", running.url()));
    if let Some(certificate) = running.cert_path() {
        ui::out(&format!("certificate {}\n", certificate.display()));
    }
    if let Some(azurite) = &azurite {
        ui::status(&format!("azurite blob storage at {}", azurite.blob_host));
    }
    wait_for_interrupt().await?;
    ui::status("stopping");
    running.shutdown().await;
    drop(azurite);
    Ok(ExitCode::SUCCESS)
}

fn config(args: &EmulatorArgs, azurite: Option<&Azurite>) -> anyhow::Result<Config> {
    let mut config = Config::new(amlops::manifest::normalize(&args.data_dir));
    config.port = args.port;
    config.tls = args.tls;
    config.location = args.location.clone();
    config.page_size = args.page_size;
    config.request_log = args.request_log.clone();
    config.lro = LroTiming {
        polls: args.lro_polls,
        retry_after: args.retry_after,
    };
    if !args.workspaces.is_empty() {
        config.workspaces = args
            .workspaces
            .iter()
            .map(|w| {
                Scope::parse_workspace(w).with_context(|| {
                    format!("--workspace `{w}` is not SUBSCRIPTION/RESOURCE_GROUP/NAME")
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    config.registries = args
        .registries
        .iter()
        .map(|r| registry(r))
        .collect::<anyhow::Result<_>>()?;
    config.storage = match (azurite, &args.storage) {
        (Some(azurite), _) => Some(azurite.account()),
        (None, Some(storage)) => Some(StorageAccount::parse(storage)?),
        (None, None) => None,
    };
    config.faults = faults(args)?;
    Ok(config)
}

/// `NAME` (in the local subscription and resource group) or `SUBSCRIPTION/RESOURCE_GROUP/NAME`.
fn registry(text: &str) -> anyhow::Result<Scope> {
    let parts: Vec<&str> = text.split('/').collect();
    let (subscription, resource_group, name) = match parts.as_slice() {
        [name] => (LOCAL_SUBSCRIPTION, LOCAL_RESOURCE_GROUP, *name),
        [s, r, n] => (*s, *r, *n),
        _ => bail!("--registry `{text}` is neither NAME nor SUBSCRIPTION/RESOURCE_GROUP/NAME"),
    };
    if [subscription, resource_group, name]
        .iter()
        .any(|p| p.is_empty())
    {
        bail!("--registry `{text}` has an empty part");
    }
    Ok(Scope::Registry {
        subscription: subscription.into(),
        resource_group: resource_group.into(),
        registry: name.into(),
    })
}

fn faults(args: &EmulatorArgs) -> anyhow::Result<Vec<FaultRule>> {
    let mut rules = Vec::new();
    if let Some(path) = &args.faults {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file = FaultFile::parse(&text)
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())?;
        rules.extend(file.faults);
    }
    for flag in &args.fault_rules {
        rules.push(FaultRule::parse_flag(flag).map_err(anyhow::Error::msg)?);
    }
    Ok(rules)
}

async fn wait_for_interrupt() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
