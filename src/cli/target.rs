//! Choosing the backend a command talks to.

use std::path::{Path, PathBuf};

use amlops::backend::Backend;
use amlops::backend::local::{LocalWorkspace, Runs};
use amlops::scope::Scope;
use amlops::target::TargetSpec;
use anyhow::Context as _;
use clap::Args;

#[derive(Args, Clone, Debug, Default)]
pub struct TargetArgs {
    /// Data directory of the local workspace [default: DIR/.amlops]
    #[arg(long, env = "AMLOPS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub project: super::targets::ProjectArgs,
}

impl TargetArgs {
    /// The local workspace's data directory for manifests in `dir`.
    pub fn data_dir(&self, dir: &Path) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            let root = if dir.is_file() {
                dir.parent().unwrap_or(Path::new("."))
            } else {
                dir
            };
            root.join(".amlops")
        })
    }
}

/// Opens `spec` (the target the project selected) for manifests in `dir`. `detached_runs`
/// makes local jobs outlive this process.
pub fn open(
    args: &TargetArgs,
    spec: &TargetSpec,
    dir: &Path,
    detached_runs: bool,
) -> anyhow::Result<Box<dyn Backend>> {
    let data_dir = match spec {
        TargetSpec::Local { data_dir } => match (&args.data_dir, data_dir) {
            (None, Some(data_dir)) => data_dir.clone(),
            _ => args.data_dir(dir),
        },
        // TODO(#5): open workspace and registry targets over Azure Resource Manager.
        TargetSpec::Workspace { .. } | TargetSpec::Registry { .. } => anyhow::bail!(
            "workspace and registry targets are not available yet: this build plans and applies against the local workspace only"
        ),
    };
    let data_dir = amlops::manifest::normalize(&data_dir);
    let mut workspace = LocalWorkspace::open(&data_dir, Scope::local())
        .with_context(|| format!("cannot open the local workspace in {}", data_dir.display()))?;
    if detached_runs {
        let exe =
            std::env::current_exe().context("cannot find the amlops executable to run jobs")?;
        workspace = workspace.with_runs(Runs::Detached { exe });
    }
    Ok(Box::new(workspace))
}
