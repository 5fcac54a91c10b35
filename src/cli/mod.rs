//! Command-line glue: each command loads, plans, renders and applies through the library.
//! Handlers only orchestrate; the work happens in the library's stages.

mod convert;
mod emulator;
mod fmt;
mod notebook;
mod plan;
mod progress;
mod show;
mod target;
mod targets;
mod ui;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Terraform-style GitOps for Azure Machine Learning: plan and apply the Azure ML CLI v2 YAML
/// you already have, against the embedded local workspace (the default) or Azure.
#[derive(Parser)]
#[command(name = "amlops", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what `apply` would change, field by field, without changing anything.
    Plan(plan::PlanArgs),
    /// Make the planned changes, in dependency order, and follow the jobs it submits.
    Apply(plan::ApplyArgs),
    /// Tell changes made to the workspace out of band from changes in the manifests; never
    /// writes. Exits 0 clean, 2 with manifest changes, 3 with drift, 4 on a conflict, 1 on error.
    Drift(plan::DriftArgs),
    /// Check manifest files or directories without reading any workspace.
    Validate(validate::ValidateArgs),
    /// List the workspace's resources and the state of its jobs.
    Show(show::ShowArgs),
    /// Print the log of a job.
    Logs(show::LogsArgs),
    /// Serve local workspaces over the Azure ML REST API on 127.0.0.1 until interrupted.
    Emulator(emulator::EmulatorArgs),
    /// Turn a Jupyter notebook into a script, its Data and Environment manifests and a job.
    Notebook(notebook::NotebookArgs),
    /// Release the lock of an apply that died; never needed while the holder runs.
    ForceUnlock(show::ForceUnlockArgs),
    /// List the targets of amlops.kdl with their variables and overlays.
    Targets(targets::TargetsArgs),
    /// Lay out KDL files the one way amlops writes them.
    Fmt(fmt::FmtArgs),
    /// Convert a manifest file from YAML to KDL, or back, losing nothing.
    Convert(convert::ConvertArgs),
    /// Run one job of a local workspace (started by apply; not for people).
    #[command(name = "internal-run-job", hide = true)]
    InternalRunJob(show::RunJobArgs),
}

/// Output formats for commands that print data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

/// The manifest directory argument shared by plan, apply and show.
#[derive(Args, Clone, Debug)]
pub struct DirArg {
    /// The manifest directory (searched recursively for *.yml, *.yaml and *.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

impl DirArg {
    /// Says so when the directory does not exist: the local workspace lives in it, so an
    /// empty one would be made up otherwise.
    pub fn missing(&self) -> Option<ExitCode> {
        if self.dir.exists() {
            return None;
        }
        ui::error(&format!(
            "{} does not exist",
            amlops::diag::display_path(&self.dir)
        ));
        Some(ExitCode::from(1))
    }
}

pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            ui::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plan(args) => plan::plan(args).await,
            Command::Apply(args) => plan::apply(args).await,
            Command::Drift(args) => plan::drift(args).await,
            Command::Validate(args) => validate::run(args),
            Command::Show(args) => show::show(args).await,
            Command::Logs(args) => show::logs(args).await,
            Command::Emulator(args) => emulator::run(args).await,
            Command::Notebook(args) => notebook::run(args),
            Command::ForceUnlock(args) => show::force_unlock(args).await,
            Command::Targets(args) => targets::run(args),
            Command::Fmt(args) => fmt::run(args),
            Command::Convert(args) => convert::run(args),
            Command::InternalRunJob(args) => show::run_job(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            ui::error(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

/// `AMLOPS_LOG=debug` shows the planner's decisions; `trace` shows requests. Without it, only
/// amlops' own warnings show: the libraries' logs (rustls' "failed to verify TLS certificate",
/// which amlops reports in its own words) show when `AMLOPS_LOG` asks, e.g. `AMLOPS_LOG=warn`
/// or `AMLOPS_LOG=amlops=debug,rustls=trace`. Logs are coloured only where the rest of
/// stderr is: on a terminal, without `NO_COLOR`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AMLOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let colour = anstream::stderr().current_choice() != anstream::ColorChoice::Never;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

/// What logs show when `AMLOPS_LOG` is not set: amlops' warnings and errors only.
const DEFAULT_LOG: &str = "amlops=warn";
