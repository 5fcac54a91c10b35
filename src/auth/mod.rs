//! Azure AD tokens for Azure Resource Manager.
//!
//! azure_identity 1.x has no default credential chain, so amlops chooses one itself, in the
//! order a CI pipeline expects:
//!
//! 1. `env`: a service principal from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and either
//!    `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file holding the
//!    certificate and its private key);
//! 2. `workload-identity`: federation with a token file (`AZURE_FEDERATED_TOKEN_FILE`, as
//!    Kubernetes and most CI systems write it) or GitHub Actions' OIDC token service
//!    (`ACTIONS_ID_TOKEN_REQUEST_URL`);
//! 3. `managed-identity`: chosen automatically only where the environment announces one
//!    (`IDENTITY_ENDPOINT` or `MSI_ENDPOINT`); on a virtual machine, whose instance metadata
//!    service announces nothing, pass `--auth managed-identity`;
//! 4. `cli`: the Azure CLI's logged-in account (`az account get-access-token`).
//!
//! `none` is never chosen by itself: it sends a fixed placeholder token, which an emulator
//! accepts and Azure refuses, so a pipeline can run against the emulator with no account.
//!
//! The environment is read once into an [`AuthEnv`], so tests pass their own variables and
//! no default path can reach a real identity service. [`Tokens`] caches the token and gets a
//! new one five minutes before it expires (the CLI credential itself caches nothing).

mod certificate;
mod github;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use time::OffsetDateTime;
use tokio::sync::Mutex;

pub use crate::target::AuthMethod;

/// The scope of Azure Resource Manager tokens.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The public cloud's authority, used unless `AZURE_AUTHORITY_HOST` names another.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{method} authentication needs {missing}")]
    NotConfigured {
        method: AuthMethod,
        missing: &'static str,
    },
    #[error("cannot set up {method} authentication: {message}")]
    Setup { method: AuthMethod, message: String },
    #[error("{method} authentication failed: {message}{}", hint(*.method))]
    Token { method: AuthMethod, message: String },
}

/// What to try when a method fails.
fn hint(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Cli => " (sign in with `az login`, or choose another method with --auth)",
        AuthMethod::Env => {
            " (check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate)"
        }
        AuthMethod::WorkloadIdentity => {
            " (check the federated credential of the application and its subject)"
        }
        AuthMethod::ManagedIdentity => {
            " (is a managed identity assigned here, with access to the target?)"
        }
        AuthMethod::None => "",
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Env => "env",
            AuthMethod::WorkloadIdentity => "workload-identity",
            AuthMethod::ManagedIdentity => "managed-identity",
            AuthMethod::Cli => "cli",
            AuthMethod::None => "none",
        })
    }
}

/// The environment variables credentials read, captured once.
#[derive(Clone, Debug, Default)]
pub struct AuthEnv {
    vars: BTreeMap<String, String>,
}

/// Every variable any credential here reads.
const VARIABLES: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
];

impl AuthEnv {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self::from_pairs(
            VARIABLES
                .iter()
                .filter_map(|name| Some((*name, std::env::var(name).ok()?))),
        )
    }

    /// Given variables (tests).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn require(&self, method: AuthMethod, name: &'static str) -> Result<String, AuthError> {
        self.get(name)
            .map(str::to_owned)
            .ok_or(AuthError::NotConfigured {
                method,
                missing: name,
            })
    }

    /// The authority host: `AZURE_AUTHORITY_HOST`, or the public cloud's.
    pub fn authority(&self) -> &str {
        self.get("AZURE_AUTHORITY_HOST")
            .unwrap_or(PUBLIC_AUTHORITY)
            .trim_end_matches('/')
    }
}

/// The method chosen, and why, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub method: AuthMethod,
    pub reason: String,
}

/// The first method the environment is set up for, in the order of the module documentation.
pub fn choose(env: &AuthEnv) -> Choice {
    let choice = |method, reason: &str| Choice {
        method,
        reason: reason.to_owned(),
    };
    let service_principal = env.has("AZURE_TENANT_ID") && env.has("AZURE_CLIENT_ID");
    if service_principal && env.has("AZURE_CLIENT_SECRET") {
        return choice(AuthMethod::Env, "AZURE_CLIENT_SECRET is set");
    }
    if service_principal && env.has("AZURE_CLIENT_CERTIFICATE_PATH") {
        return choice(AuthMethod::Env, "AZURE_CLIENT_CERTIFICATE_PATH is set");
    }
    if env.has("AZURE_FEDERATED_TOKEN_FILE") {
        return choice(
            AuthMethod::WorkloadIdentity,
            "AZURE_FEDERATED_TOKEN_FILE is set",
        );
    }
    if service_principal && env.has("ACTIONS_ID_TOKEN_REQUEST_URL") {
        return choice(
            AuthMethod::WorkloadIdentity,
            "GitHub Actions offers an OIDC token",
        );
    }
    if env.has("IDENTITY_ENDPOINT") || env.has("MSI_ENDPOINT") {
        return choice(
            AuthMethod::ManagedIdentity,
            "the environment announces a managed identity",
        );
    }
    choice(AuthMethod::Cli, "no other credentials are configured")
}

/// What credentials need besides the environment.
#[derive(Clone, Debug, Default)]
pub struct CredentialOptions {
    /// The HTTP client for token requests (it trusts `--ca-cert`); azure_core's own when
    /// `None`.
    pub http: Option<reqwest::Client>,
    /// Runs `az` for the CLI credential; a process on `PATH` when `None`.
    pub cli_executor: Option<Arc<dyn azure_identity::Executor>>,
}

impl CredentialOptions {
    fn client_options(&self, env: &AuthEnv) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = env.authority().to_owned();
        ClientOptions {
            transport: self
                .http
                .clone()
                .map(|client| Transport::new(Arc::new(client))),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            ..ClientOptions::default()
        }
    }
}

/// The credential of `method`, configured from `env`.
pub fn credential(
    method: AuthMethod,
    env: &AuthEnv,
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let setup = |e: azure_core::Error| AuthError::Setup {
        method,
        message: e.to_string(),
    };
    let credential: Arc<dyn TokenCredential> = match method {
        AuthMethod::Env => service_principal(env, options)?,
        AuthMethod::WorkloadIdentity => workload_identity(env, options)?,
        AuthMethod::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: env
                    .get("AZURE_CLIENT_ID")
                    .map(|id| UserAssignedId::ClientId(id.to_owned())),
                client_options: options.client_options(env),
            };
            ManagedIdentityCredential::new(Some(options)).map_err(setup)?
        }
        AuthMethod::Cli => {
            let options = AzureCliCredentialOptions {
                tenant_id: env.get("AZURE_TENANT_ID").map(str::to_owned),
                executor: options.cli_executor.clone(),
                ..AzureCliCredentialOptions::default()
            };
            AzureCliCredential::new(Some(options)).map_err(setup)?
        }
        AuthMethod::None => Arc::new(Placeholder),
    };
    Ok(credential)
}

/// The token `--auth none` sends: it opens an emulator, and nothing else.
pub const PLACEHOLDER_TOKEN: &str = "amlops-placeholder-token";

/// Hands out [`PLACEHOLDER_TOKEN`].
#[derive(Debug)]
struct Placeholder;

#[async_trait::async_trait]
impl TokenCredential for Placeholder {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            PLACEHOLDER_TOKEN,
            OffsetDateTime::now_utc() + time::Duration::days(1),
        ))
    }
}

fn service_principal(
    env: &AuthEnv,
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let method = AuthMethod::Env;
    let tenant = env.require(method, "AZURE_TENANT_ID")?;
    let client = env.require(method, "AZURE_CLIENT_ID")?;
    let setup = |e: azure_core::Error| AuthError::Setup {
        method,
        message: e.to_string(),
    };
    if let Some(secret) = env.get("AZURE_CLIENT_SECRET") {
        let options = ClientSecretCredentialOptions {
            client_options: options.client_options(env),
        };
        return Ok(ClientSecretCredential::new(
            &tenant,
            client,
            Secret::new(secret.to_owned()),
            Some(options),
        )
        .map_err(setup)?);
    }
    let Some(path) = env.get("AZURE_CLIENT_CERTIFICATE_PATH") else {
        return Err(AuthError::NotConfigured {
            method,
            missing: "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
        });
    };
    let assertion = certificate::CertificateAssertion::from_pem_file(
        std::path::Path::new(path),
        &format!("{}/{tenant}/oauth2/v2.0/token", env.authority()),
        &client,
    )
    .map_err(|message| AuthError::Setup { method, message })?;
    let options = ClientAssertionCredentialOptions {
        client_options: options.client_options(env),
    };
    Ok(ClientAssertionCredential::new(tenant, client, assertion, Some(options)).map_err(setup)?)
}

fn workload_identity(
    env: &AuthEnv,
    options: &CredentialOptions,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let method = AuthMethod::WorkloadIdentity;
    let tenant = env.require(method, "AZURE_TENANT_ID")?;
    let client = env.require(method, "AZURE_CLIENT_ID")?;
    let setup = |e: azure_core::Error| AuthError::Setup {
        method,
        message: e.to_string(),
    };
    let credential_options = ClientAssertionCredentialOptions {
        client_options: options.client_options(env),
    };
    if let Some(file) = env.get("AZURE_FEDERATED_TOKEN_FILE") {
        let options = WorkloadIdentityCredentialOptions {
            credential_options,
            client_id: Some(client),
            tenant_id: Some(tenant),
            token_file_path: Some(file.into()),
        };
        return Ok(WorkloadIdentityCredential::new(Some(options)).map_err(setup)?);
    }
    let (Some(url), Some(token)) = (
        env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Err(AuthError::NotConfigured {
            method,
            missing: "AZURE_FEDERATED_TOKEN_FILE (or GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN)",
        });
    };
    let assertion = github::GithubOidc::new(
        url,
        Secret::new(token.to_owned()),
        options.http.clone().unwrap_or_default(),
    );
    Ok(
        ClientAssertionCredential::new(tenant, client, assertion, Some(credential_options))
            .map_err(setup)?,
    )
}

/// A credential's tokens for one scope, cached until shortly before they expire.
pub struct Tokens {
    method: AuthMethod,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    current: Mutex<Option<AccessToken>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("method", &self.method)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(method: AuthMethod, credential: Arc<dyn TokenCredential>, scope: &str) -> Self {
        Self {
            method,
            credential,
            scope: scope.to_owned(),
            current: Mutex::new(None),
        }
    }

    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// A token valid for at least [`REFRESH_MARGIN`]. Concurrent callers wait for one
    /// request rather than each making their own.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let mut current = self.current.lock().await;
        let fresh = |t: &AccessToken| t.expires_on - OffsetDateTime::now_utc() > REFRESH_MARGIN;
        if let Some(token) = current.as_ref().filter(|t| fresh(t)) {
            return Ok(token.token.clone());
        }
        tracing::debug!(method = %self.method, "getting a new token");
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| AuthError::Token {
                method: self.method,
                message: first_line(&e.to_string()),
            })?;
        let secret = token.token.clone();
        *current = Some(token);
        Ok(secret)
    }

    /// Forgets the cached token (the service refused it).
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }
}

/// The first line of a credential's error: the rest is troubleshooting boilerplate.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn env(pairs: &[(&str, &str)]) -> AuthEnv {
        AuthEnv::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn chooses_in_the_order_ci_expects() {
        let sp = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")];
        let table: &[(&[(&str, &str)], AuthMethod)] = &[
            (&[], AuthMethod::Cli),
            (
                &[sp[0], sp[1], ("AZURE_CLIENT_SECRET", "s")],
                AuthMethod::Env,
            ),
            (
                &[sp[0], sp[1], ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem")],
                AuthMethod::Env,
            ),
            (
                &[
                    sp[0],
                    sp[1],
                    ("AZURE_CLIENT_SECRET", "s"),
                    ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
                ],
                AuthMethod::Env,
            ),
            (
                &[sp[0], sp[1], ("AZURE_FEDERATED_TOKEN_FILE", "/t")],
                AuthMethod::WorkloadIdentity,
            ),
            (
                &[sp[0], sp[1], ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x")],
                AuthMethod::WorkloadIdentity,
            ),
            (
                &[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")],
                AuthMethod::ManagedIdentity,
            ),
            (&[("MSI_ENDPOINT", "http://x")], AuthMethod::ManagedIdentity),
            // A secret without the ids is not a service principal; an empty value is unset.
            (&[("AZURE_CLIENT_SECRET", "s")], AuthMethod::Cli),
            (
                &[sp[0], sp[1], ("AZURE_CLIENT_SECRET", "")],
                AuthMethod::Cli,
            ),
        ];
        for (pairs, expected) in table {
            assert_eq!(choose(&env(pairs)).method, *expected, "{pairs:?}");
        }
    }

    #[test]
    fn missing_settings_are_named() {
        let options = CredentialOptions::default();
        let error = credential(AuthMethod::Env, &env(&[("AZURE_TENANT_ID", "t")]), &options)
            .expect_err("no client id");
        assert_eq!(
            error.to_string(),
            "env authentication needs AZURE_CLIENT_ID"
        );
        let error = credential(
            AuthMethod::WorkloadIdentity,
            &env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]),
            &options,
        )
        .expect_err("no token file");
        assert!(error.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"));
    }

    #[test]
    fn the_authority_can_be_moved() {
        assert_eq!(AuthEnv::default().authority(), PUBLIC_AUTHORITY);
        assert_eq!(
            env(&[("AZURE_AUTHORITY_HOST", "https://127.0.0.1:9/")]).authority(),
            "https://127.0.0.1:9"
        );
    }

    /// Counts its calls; each token lives `lifetime`.
    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: time::Duration,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, [ARM_SCOPE]);
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new(
                format!("token-{n}"),
                OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
    }

    #[tokio::test]
    async fn caches_tokens_until_shortly_before_expiry() {
        let long = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::hours(1),
        });
        let tokens = Tokens::new(AuthMethod::Cli, long.clone(), ARM_SCOPE);
        assert_eq!(tokens.token().await.unwrap().secret(), "token-0");
        assert_eq!(tokens.token().await.unwrap().secret(), "token-0");
        assert_eq!(long.calls.load(Ordering::SeqCst), 1);
        tokens.invalidate().await;
        assert_eq!(tokens.token().await.unwrap().secret(), "token-1");

        // A token that expires within the margin is replaced at once.
        let short = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::minutes(4),
        });
        let tokens = Tokens::new(AuthMethod::Cli, short.clone(), ARM_SCOPE);
        assert_eq!(tokens.token().await.unwrap().secret(), "token-0");
        assert_eq!(tokens.token().await.unwrap().secret(), "token-1");
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let credential = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::hours(1),
        });
        let tokens = Arc::new(Tokens::new(AuthMethod::Cli, credential.clone(), ARM_SCOPE));
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.token().await.map(|t| t.secret().to_owned()) })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), "token-0");
        }
        assert_eq!(credential.calls.load(Ordering::SeqCst), 1);
    }
}
