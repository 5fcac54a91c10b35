//! Target options shared by plan, apply, show and logs: they name a [`TargetSpec`], which the
//! library opens.

use std::path::{Path, PathBuf};

use amlops::backend::{self, Backend, OpenOptions};
use amlops::target::{AuthMethod, Connection, TargetSpec};
use anyhow::Context as _;
use clap::Args;

use super::ui;

#[derive(Args, Clone, Debug, Default)]
pub struct TargetArgs {
    /// Data directory of the local workspace [default: DIR/.amlops]
    #[arg(long, env = "AMLOPS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Azure subscription (id) of the workspace or registry
    #[arg(long, env = "AMLOPS_SUBSCRIPTION", value_name = "ID")]
    pub subscription: Option<String>,
    /// Resource group of the workspace or registry
    #[arg(long, env = "AMLOPS_RESOURCE_GROUP", value_name = "NAME")]
    pub resource_group: Option<String>,
    /// Target this Azure ML workspace instead of the local one
    #[arg(
        long,
        env = "AMLOPS_WORKSPACE",
        value_name = "NAME",
        conflicts_with = "registry"
    )]
    pub workspace: Option<String>,
    /// Target this Azure ML registry (assets only)
    #[arg(long, env = "AMLOPS_REGISTRY", value_name = "NAME")]
    pub registry: Option<String>,
    /// Azure Resource Manager's URL; the emulator's to test against it [default: https://management.azure.com]
    #[arg(long, env = "AMLOPS_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// A PEM certificate to trust besides the system's (the emulator's own)
    #[arg(long, env = "AMLOPS_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// How to authenticate: env, workload-identity, managed-identity or cli [default: the first the environment is set up for, in that order]; none sends a placeholder token to an emulator
    #[arg(long, env = "AMLOPS_AUTH", value_name = "METHOD", value_parser = parse_auth)]
    pub auth: Option<AuthMethod>,
}

fn parse_auth(text: &str) -> Result<AuthMethod, String> {
    match text {
        "env" => Ok(AuthMethod::Env),
        "workload-identity" => Ok(AuthMethod::WorkloadIdentity),
        "managed-identity" => Ok(AuthMethod::ManagedIdentity),
        "cli" => Ok(AuthMethod::Cli),
        "none" => Ok(AuthMethod::None),
        other => Err(format!(
            "unknown method `{other}` (expected env, workload-identity, managed-identity, cli or none)"
        )),
    }
}

impl TargetArgs {
    /// The target these options name.
    pub fn spec(&self) -> anyhow::Result<TargetSpec> {
        let connection = Connection {
            endpoint: self.endpoint.clone(),
            ca_cert: self.ca_cert.clone(),
            auth: self.auth,
        };
        if let Some(workspace) = &self.workspace {
            let (Some(subscription), Some(resource_group)) =
                (&self.subscription, &self.resource_group)
            else {
                anyhow::bail!("--workspace needs --subscription and --resource-group");
            };
            return Ok(TargetSpec::Workspace {
                subscription: subscription.clone(),
                resource_group: resource_group.clone(),
                workspace: workspace.clone(),
                connection,
            });
        }
        if let Some(registry) = &self.registry {
            return Ok(TargetSpec::Registry {
                name: registry.clone(),
                subscription: self.subscription.clone(),
                resource_group: self.resource_group.clone(),
                location: None,
                connection,
            });
        }
        if connection != Connection::default() {
            anyhow::bail!("--endpoint, --ca-cert and --auth need --workspace or --registry");
        }
        Ok(TargetSpec::Local {
            data_dir: self.data_dir.clone(),
        })
    }
}

/// Opens the target of `args` for manifests in `dir`. `detached_runs` makes local jobs outlive
/// this process.
pub async fn open(
    args: &TargetArgs,
    dir: &Path,
    detached_runs: bool,
) -> anyhow::Result<Box<dyn Backend>> {
    let spec = args.spec()?;
    let mut options = OpenOptions::default();
    if detached_runs {
        let exe =
            std::env::current_exe().context("cannot find the amlops executable to run jobs")?;
        options.detached_runs = Some(exe);
    }
    let opened = backend::open(&spec, dir, options).await?;
    if let Some(auth) = &opened.auth {
        ui::status(&ui::paint(
            ui::MUTED,
            &format!(
                "{} (credentials: {}, because {})",
                opened.backend.target().scope,
                auth.method,
                auth.reason
            ),
        ));
    }
    Ok(opened.backend)
}
