//! Targets: where a plan applies.
//!
//! A target is the embedded local workspace (the default), an Azure ML workspace, or an Azure
//! ML registry. Targets come from the command line or from the project file (`amlops.kdl`),
//! and every backend is opened from a [`TargetSpec`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How to get Azure AD tokens for Azure Resource Manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// A service principal from `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and a secret or certificate.
    Env,
    /// Workload identity federation (GitHub Actions, Azure Pipelines, Kubernetes).
    WorkloadIdentity,
    /// The managed identity of the machine.
    ManagedIdentity,
    /// The Azure CLI's logged-in account (`az account get-access-token`).
    Cli,
    /// No credentials: a placeholder token, for an emulator at an explicit endpoint.
    None,
}

/// Where to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSpec {
    /// The embedded local workspace in `data_dir` (default: `.amlops/` beside the manifests).
    Local { data_dir: Option<PathBuf> },
    /// An Azure ML workspace.
    Workspace {
        subscription: String,
        resource_group: String,
        workspace: String,
        #[serde(default)]
        connection: Connection,
    },
    /// An Azure ML registry.
    Registry {
        name: String,
        /// Needed to create assets in a registry.
        #[serde(default)]
        subscription: Option<String>,
        #[serde(default)]
        resource_group: Option<String>,
        #[serde(default)]
        location: Option<String>,
        #[serde(default)]
        connection: Connection,
    },
}

/// How to reach Azure Resource Manager.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Base URL of ARM (default `https://management.azure.com`); the emulator's URL in tests.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A PEM certificate to trust in addition to the system's (the emulator's own).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// How to authenticate; the default tries each method in order.
    #[serde(default)]
    pub auth: Option<AuthMethod>,
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec::Local { data_dir: None }
    }
}
