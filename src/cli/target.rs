//! Choosing the backend a command talks to.

use std::path::{Path, PathBuf};

use amlops::backend::Backend;
use amlops::backend::local::{LocalWorkspace, Runs};
use amlops::scope::Scope;
use anyhow::Context as _;
use clap::Args;

#[derive(Args, Clone, Debug, Default)]
pub struct TargetArgs {
    /// Data directory of the local workspace [default: DIR/.amlops]
    #[arg(long, env = "AMLOPS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
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

/// Opens the target of `args` for manifests in `dir`. `detached_runs` makes local jobs outlive
/// this process.
pub fn open(
    args: &TargetArgs,
    dir: &Path,
    detached_runs: bool,
) -> anyhow::Result<Box<dyn Backend>> {
    let data_dir = amlops::manifest::normalize(&args.data_dir(dir));
    let mut workspace = LocalWorkspace::open(&data_dir, Scope::local())
        .with_context(|| format!("cannot open the local workspace in {}", data_dir.display()))?;
    if detached_runs {
        let exe =
            std::env::current_exe().context("cannot find the amlops executable to run jobs")?;
        workspace = workspace.with_runs(Runs::Detached { exe });
    }
    Ok(Box::new(workspace))
}
