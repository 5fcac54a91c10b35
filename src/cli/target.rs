//! Target options shared by plan, apply, show and logs. With the target `amlops.kdl` selects
//! (the local workspace without one), they name a [`TargetSpec`], which the library opens.
//!
//! `--workspace` or `--registry` names an Azure target outright; `--endpoint`, `--ca-cert` and
//! `--auth` change how any Azure target is reached, including the project file's (pointing a
//! `prod` target at the emulator, say).

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
    #[command(flatten)]
    pub project: super::targets::ProjectArgs,
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
    /// The target to open: the one these options name, else `selected` (the project file's)
    /// reached as these options say.
    pub fn spec(&self, selected: &TargetSpec) -> anyhow::Result<TargetSpec> {
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
                connection: self.connection(&Connection::default()),
            });
        }
        if let Some(registry) = &self.registry {
            return Ok(TargetSpec::Registry {
                name: registry.clone(),
                subscription: self.subscription.clone(),
                resource_group: self.resource_group.clone(),
                location: None,
                connection: self.connection(&Connection::default()),
            });
        }
        let mut spec = selected.clone();
        match &mut spec {
            TargetSpec::Local { data_dir } => {
                if self.connection(&Connection::default()) != Connection::default() {
                    anyhow::bail!(
                        "--endpoint, --ca-cert and --auth need an Azure target: --workspace, --registry, or a target of amlops.kdl"
                    );
                }
                if self.data_dir.is_some() {
                    data_dir.clone_from(&self.data_dir);
                }
            }
            TargetSpec::Workspace { connection, .. } | TargetSpec::Registry { connection, .. } => {
                *connection = self.connection(connection);
            }
        }
        Ok(spec)
    }

    /// `base` with what these options say instead.
    fn connection(&self, base: &Connection) -> Connection {
        Connection {
            endpoint: self.endpoint.clone().or_else(|| base.endpoint.clone()),
            ca_cert: self.ca_cert.clone().or_else(|| base.ca_cert.clone()),
            auth: self.auth.or(base.auth),
        }
    }
}

/// How a command opens its target.
#[derive(Clone, Copy, Debug)]
pub struct Opening {
    /// Run local jobs in detached processes, so they outlive this one (`--no-wait`).
    pub detached_runs: bool,
    /// Requests to Azure in flight at once (at least as many as changes applied at once).
    pub requests: usize,
}

impl Default for Opening {
    fn default() -> Self {
        Self {
            detached_runs: false,
            requests: 10,
        }
    }
}

/// Opens the target for manifests in `dir`: the one `args` name, else `selected`.
pub async fn open(
    args: &TargetArgs,
    selected: &TargetSpec,
    dir: &Path,
    opening: Opening,
) -> anyhow::Result<Box<dyn Backend>> {
    let spec = args.spec(selected)?;
    let mut options = OpenOptions::default();
    let mut tuning = backend::ArmTuning::default();
    tuning.http.concurrency = opening.requests.max(1);
    options.arm = Some(tuning);
    if opening.detached_runs {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(endpoint: Option<&str>) -> TargetSpec {
        TargetSpec::Workspace {
            subscription: "s".into(),
            resource_group: "rg".into(),
            workspace: "prod".into(),
            connection: Connection {
                endpoint: endpoint.map(str::to_owned),
                ca_cert: None,
                auth: Some(AuthMethod::Cli),
            },
        }
    }

    #[test]
    fn options_point_the_selected_target_elsewhere() {
        let args = TargetArgs {
            endpoint: Some("https://127.0.0.1:8443".into()),
            auth: Some(AuthMethod::None),
            ..TargetArgs::default()
        };
        let TargetSpec::Workspace {
            workspace,
            connection,
            ..
        } = args.spec(&azure(None)).unwrap()
        else {
            panic!("a workspace");
        };
        assert_eq!(workspace, "prod");
        assert_eq!(
            connection.endpoint.as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(connection.auth, Some(AuthMethod::None));
        // Without options the project's own connection stays.
        let kept = TargetArgs::default()
            .spec(&azure(Some("https://e")))
            .unwrap();
        assert_eq!(kept, azure(Some("https://e")));
    }

    #[test]
    fn named_targets_win_and_local_ones_take_no_connection() {
        let args = TargetArgs {
            subscription: Some("s2".into()),
            resource_group: Some("rg2".into()),
            registry: Some("shared".into()),
            ..TargetArgs::default()
        };
        assert!(matches!(
            args.spec(&azure(None)).unwrap(),
            TargetSpec::Registry { ref name, .. } if name == "shared"
        ));
        let local = TargetSpec::Local { data_dir: None };
        let args = TargetArgs {
            auth: Some(AuthMethod::Cli),
            ..TargetArgs::default()
        };
        assert!(args.spec(&local).is_err());
        let args = TargetArgs {
            data_dir: Some("/d".into()),
            ..TargetArgs::default()
        };
        assert_eq!(
            args.spec(&local).unwrap(),
            TargetSpec::Local {
                data_dir: Some("/d".into())
            }
        );
    }
}
