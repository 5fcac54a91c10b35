//! Opening the backend a [`TargetSpec`] names.
//!
//! The local workspace opens from its data directory. An Azure target gets an HTTP client
//! (trusting `--ca-cert` in addition to the system's roots), a credential (chosen from the
//! environment unless the caller injects one, as tests do), and a first request that reads
//! the workspace or registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use reqwest::Url;

use super::arm::{ArmBackend, ArmOptions, PUBLIC_ENDPOINT};
use super::local::{LocalWorkspace, Runs};
use super::{Backend, BackendError};
use crate::auth::{self, AuthEnv, AuthError, Choice, CredentialOptions, Tokens};
use crate::scope::Scope;
use crate::target::{Connection, TargetSpec};

/// Why a target could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the local workspace in {}: {error}", .data_dir.display())]
    Local {
        data_dir: PathBuf,
        error: BackendError,
    },
    #[error("{0}")]
    Target(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot reach {target}: {error}")]
    Connect { target: String, error: BackendError },
}

/// Choices a caller makes about how a target is opened.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// Run local jobs in detached processes of this executable, so they outlive this one.
    pub detached_runs: Option<PathBuf>,
    /// The credential to use instead of one chosen from the environment.
    pub credential: Option<Arc<dyn TokenCredential>>,
    /// The environment credentials read; this process's when `None`.
    pub auth_env: Option<AuthEnv>,
    /// Tuning of the ARM client (retries, polling, uploads); the defaults when `None`.
    pub arm: Option<ArmTuning>,
}

/// The parts of [`ArmOptions`] besides the endpoint.
#[derive(Clone, Debug, Default)]
pub struct ArmTuning {
    pub http: super::arm::http::HttpOptions,
    pub poll: super::arm::lro::PollOptions,
    pub blob: super::arm::blob::BlobOptions,
}

/// An opened target.
pub struct Opened {
    pub backend: Box<dyn Backend>,
    /// How an Azure target authenticates, and why.
    pub auth: Option<Choice>,
}

/// Opens the target `spec` for the manifests in `manifest_dir`.
pub async fn open(
    spec: &TargetSpec,
    manifest_dir: &Path,
    options: OpenOptions,
) -> Result<Opened, OpenError> {
    match spec {
        TargetSpec::Local { data_dir } => {
            let backend = open_local(data_dir.as_deref(), manifest_dir, &options)?;
            Ok(Opened {
                backend: Box::new(backend),
                auth: None,
            })
        }
        _ => {
            let (backend, auth) = open_arm(spec, options).await?;
            Ok(Opened {
                backend: Box::new(backend),
                auth: Some(auth),
            })
        }
    }
}

/// The local workspace's data directory: `data_dir`, or `.amlops/` beside the manifests.
pub fn local_data_dir(data_dir: Option<&Path>, manifest_dir: &Path) -> PathBuf {
    let dir = data_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        let root = if manifest_dir.is_file() {
            manifest_dir.parent().unwrap_or(Path::new("."))
        } else {
            manifest_dir
        };
        root.join(".amlops")
    });
    crate::manifest::normalize(&dir)
}

fn open_local(
    data_dir: Option<&Path>,
    manifest_dir: &Path,
    options: &OpenOptions,
) -> Result<LocalWorkspace, OpenError> {
    let data_dir = local_data_dir(data_dir, manifest_dir);
    let mut workspace =
        LocalWorkspace::open(&data_dir, Scope::local()).map_err(|error| OpenError::Local {
            data_dir: data_dir.clone(),
            error,
        })?;
    if let Some(exe) = &options.detached_runs {
        workspace = workspace.with_runs(Runs::Detached { exe: exe.clone() });
    }
    Ok(workspace)
}

/// Opens an Azure workspace or registry target.
pub async fn open_arm(
    spec: &TargetSpec,
    options: OpenOptions,
) -> Result<(ArmBackend, Choice), OpenError> {
    let (scope, connection) = arm_scope(spec)?;
    if connection.auth == Some(auth::AuthMethod::None) && connection.endpoint.is_none() {
        return Err(OpenError::Target(
            "--auth none sends no credentials and is meant for an emulator: it needs --endpoint"
                .into(),
        ));
    }
    let endpoint = endpoint(connection)?;
    let client = http_client(connection.ca_cert.as_deref(), is_loopback(&endpoint))?;
    let env = options
        .auth_env
        .clone()
        .unwrap_or_else(AuthEnv::from_process);
    let (choice, credential) = match options.credential.clone() {
        Some(credential) => (
            Choice {
                method: connection.auth.unwrap_or(auth::AuthMethod::Cli),
                reason: "the credential was given".into(),
            },
            credential,
        ),
        None => {
            let choice = match connection.auth {
                Some(method) => Choice {
                    method,
                    reason: "--auth asks for it".into(),
                },
                None => auth::choose(&env),
            };
            let credential_options = CredentialOptions {
                http: Some(client.clone()),
                cli_executor: None,
            };
            let credential = auth::credential(choice.method, &env, &credential_options)?;
            (choice, credential)
        }
    };
    let tokens = Arc::new(Tokens::new(choice.method, credential, auth::ARM_SCOPE));
    let tuning = options.arm.unwrap_or_default();
    let arm_options = ArmOptions {
        endpoint,
        http: tuning.http,
        poll: tuning.poll,
        blob: tuning.blob,
    };
    let target = scope.to_string();
    let backend = ArmBackend::connect(scope, client, tokens, arm_options)
        .await
        .map_err(|error| OpenError::Connect { target, error })?;
    Ok((backend, choice))
}

fn arm_scope(spec: &TargetSpec) -> Result<(Scope, &Connection), OpenError> {
    match spec {
        TargetSpec::Local { .. } => Err(OpenError::Target(
            "the local workspace is not an Azure target".into(),
        )),
        TargetSpec::Workspace {
            subscription,
            resource_group,
            workspace,
            connection,
        } => Ok((
            Scope::workspace(subscription, resource_group, workspace),
            connection,
        )),
        TargetSpec::Registry {
            name,
            subscription,
            resource_group,
            connection,
            ..
        } => {
            let (Some(subscription), Some(resource_group)) = (subscription, resource_group) else {
                return Err(OpenError::Target(format!(
                    "registry {name} needs a subscription and a resource group (--subscription, --resource-group)"
                )));
            };
            Ok((
                Scope::Registry {
                    subscription: subscription.clone(),
                    resource_group: resource_group.clone(),
                    registry: name.clone(),
                },
                connection,
            ))
        }
    }
}

/// The endpoint URL. Tokens travel over HTTPS, or over plain HTTP to this machine only.
fn endpoint(connection: &Connection) -> Result<Url, OpenError> {
    let text = connection.endpoint.as_deref().unwrap_or(PUBLIC_ENDPOINT);
    let url =
        Url::parse(text).map_err(|e| OpenError::Target(format!("invalid endpoint {text}: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(OpenError::Target(format!(
            "refusing to send credentials over plain HTTP to {}: use https (plain http is allowed for 127.0.0.1 and localhost only)",
            url.host_str().unwrap_or_default()
        ))),
        other => Err(OpenError::Target(format!(
            "invalid endpoint {text}: the scheme must be https, not {other}"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The HTTP client of an Azure target, trusting `ca_cert` besides the system's roots. A
/// `local` one (an emulator on this machine) ignores proxy settings: this machine's own
/// addresses are reached directly, never through another host.
pub fn http_client(ca_cert: Option<&Path>, local: bool) -> Result<reqwest::Client, OpenError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("amlops/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30));
    if local {
        builder = builder.no_proxy();
    }
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            OpenError::Target(format!(
                "cannot read the CA certificate {}: {e}",
                path.display()
            ))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            OpenError::Target(format!("invalid CA certificate {}: {e}", path.display()))
        })?;
        if certificates.is_empty() {
            return Err(OpenError::Target(format!(
                "no certificate in {}",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|e| OpenError::Target(format!("cannot set up HTTPS: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(endpoint: &str) -> Connection {
        Connection {
            endpoint: Some(endpoint.into()),
            ..Connection::default()
        }
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(endpoint(&connection("http://127.0.0.1:8080")).is_ok());
        assert!(endpoint(&connection("http://localhost:8080")).is_ok());
        assert!(endpoint(&connection("http://[::1]:8080")).is_ok());
        assert!(endpoint(&connection("https://emulator.example")).is_ok());
        let error = endpoint(&connection("http://10.0.0.1")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("refusing to send credentials over plain HTTP")
        );
        assert!(endpoint(&connection("ftp://127.0.0.1")).is_err());
        assert_eq!(
            endpoint(&Connection::default()).unwrap().as_str(),
            "https://management.azure.com/"
        );
    }

    #[test]
    fn registries_need_their_resource_group() {
        let spec = TargetSpec::Registry {
            name: "shared".into(),
            subscription: Some("s".into()),
            resource_group: None,
            location: None,
            connection: Connection::default(),
        };
        let error = arm_scope(&spec).err().unwrap();
        assert_eq!(
            error.to_string(),
            "registry shared needs a subscription and a resource group (--subscription, --resource-group)"
        );
    }

    #[test]
    fn local_data_dir_defaults_beside_the_manifests() {
        assert_eq!(
            local_data_dir(None, Path::new("/work/examples/q")),
            PathBuf::from("/work/examples/q/.amlops")
        );
        assert_eq!(
            local_data_dir(Some(Path::new("/d")), Path::new("/x")),
            PathBuf::from("/d")
        );
    }
}
