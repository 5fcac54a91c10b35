//! Workload identity federation in GitHub Actions.
//!
//! GitHub writes no token file: a job with `permissions: id-token: write` gets a URL and a
//! bearer token in `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, and
//! asks that URL for an OIDC token with Entra ID's audience. That token is the client
//! assertion; it is asked for again for every Entra ID token, so its short life never matters.

use std::fmt;

use azure_core::credentials::Secret;
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;

/// The audience Entra ID expects of federated tokens.
pub const AUDIENCE: &str = "api://AzureADTokenExchange";

pub struct GithubOidc {
    url: String,
    token: Secret,
    http: reqwest::Client,
}

impl fmt::Debug for GithubOidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubOidc").finish_non_exhaustive()
    }
}

impl GithubOidc {
    pub fn new(url: &str, token: Secret, http: reqwest::Client) -> Self {
        Self {
            url: url.to_owned(),
            token,
            http,
        }
    }

    async fn fetch(&self) -> Result<String, String> {
        let response = self
            .http
            .get(&self.url)
            .query(&[("audience", AUDIENCE)])
            .bearer_auth(self.token.secret())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach GitHub's OIDC token service: {}",
                    e.without_url()
                )
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GitHub's OIDC token service answered {status}"));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| {
            format!(
                "unreadable answer from GitHub's OIDC token service: {}",
                e.without_url()
            )
        })?;
        body.get("value")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "GitHub's OIDC token service returned no token".to_owned())
    }
}

#[async_trait::async_trait]
impl ClientAssertion for GithubOidc {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.fetch()
            .await
            .map_err(|message| azure_core::Error::with_message(ErrorKind::Credential, message))
    }
}
