//! azure_identity's credentials against an Entra ID token endpoint on 127.0.0.1 (over HTTPS,
//! as the crate requires, with a certificate made for the test): the client secret, the
//! client certificate, a federated token file and GitHub Actions' OIDC token service. The
//! authority is moved with `AZURE_AUTHORITY_HOST`, given in an [`AuthEnv`], so nothing
//! depends on this process's environment and nothing reaches a real host.

mod mock;

use std::collections::BTreeMap;

use amlops::auth::{self, ARM_SCOPE, AuthEnv, AuthMethod, CredentialOptions, Tokens};
use amlops::backend::http_client;
use axum::response::IntoResponse as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock::Seen;
use serde_json::{Value, json};

const TENANT: &str = "00000000-0000-0000-0000-0000000000e1";
const CLIENT: &str = "00000000-0000-0000-0000-0000000000e2";
const SECRET: &str = "client-secret-4b7d1a";
const ACCESS_TOKEN: &str = "fake-entra-token-c03e";

fn form(seen: &Seen) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&seen.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An Entra ID token endpoint that accepts `check`ed requests.
async fn entra(
    check: impl Fn(&BTreeMap<String, String>) -> bool + Send + Sync + 'static,
) -> mock::tls::TlsServer {
    mock::tls::serve(move |seen| {
        let form = form(seen);
        if seen.path != format!("/{TENANT}/oauth2/v2.0/token") || !check(&form) {
            let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]});
            return (401, "application/json", body.to_string());
        }
        let body = json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS_TOKEN});
        (200, "application/json", body.to_string())
    })
    .await
}

fn env(server: &mock::tls::TlsServer, extra: &[(&str, String)]) -> AuthEnv {
    let mut pairs: Vec<(String, String)> = vec![
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), CLIENT.into()),
        ("AZURE_AUTHORITY_HOST".into(), server.url()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    AuthEnv::from_pairs(pairs)
}

fn options(server: &mock::tls::TlsServer) -> CredentialOptions {
    CredentialOptions {
        http: Some(http_client(Some(&server.ca_cert), true).expect("client")),
        cli_executor: None,
    }
}

async fn token(
    method: AuthMethod,
    env: &AuthEnv,
    options: &CredentialOptions,
) -> Result<String, String> {
    let credential = auth::credential(method, env, options).map_err(|e| e.to_string())?;
    let tokens = Tokens::new(method, credential, ARM_SCOPE);
    tokens
        .token()
        .await
        .map(|t| t.secret().to_owned())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_client_secret_gets_a_token_for_arm() {
    let server = entra(|form| form.get("client_secret").map(String::as_str) == Some(SECRET)).await;
    let env = env(&server, &[("AZURE_CLIENT_SECRET", SECRET.into())]);
    assert_eq!(auth::choose(&env).method, AuthMethod::Env);
    assert_eq!(
        token(AuthMethod::Env, &env, &options(&server))
            .await
            .unwrap(),
        ACCESS_TOKEN
    );
    let seen = form(&server.log.all()[0]);
    assert_eq!(seen["grant_type"], "client_credentials");
    assert_eq!(seen["client_id"], CLIENT);
    assert_eq!(seen["scope"], ARM_SCOPE);
}

#[tokio::test]
async fn a_refused_secret_is_reported_without_the_secret() {
    let server = entra(|_| false).await;
    let env = env(&server, &[("AZURE_CLIENT_SECRET", SECRET.into())]);
    let error = token(AuthMethod::Env, &env, &options(&server))
        .await
        .unwrap_err();
    assert!(error.starts_with("env authentication failed:"), "{error}");
    assert!(error.contains("AADSTS7000215"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
}

#[tokio::test]
async fn a_certificate_signs_an_assertion_entra_can_verify() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["amlops".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let public_key = key.public_key_raw().to_vec();
    let server = entra(move |form| {
        form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && form
                .get("client_assertion")
                .is_some_and(|jwt| verifies(jwt, &public_key))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("sp.pem");
    std::fs::write(
        &pem,
        format!("{}{}", certificate.pem(), key.serialize_pem()),
    )
    .unwrap();
    let env = env(
        &server,
        &[("AZURE_CLIENT_CERTIFICATE_PATH", pem.display().to_string())],
    );
    assert_eq!(auth::choose(&env).method, AuthMethod::Env);
    assert_eq!(
        token(AuthMethod::Env, &env, &options(&server))
            .await
            .unwrap(),
        ACCESS_TOKEN
    );
    let jwt = form(&server.log.all()[0])["client_assertion"].clone();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT}/oauth2/v2.0/token", server.url())
    );
    assert_eq!(claims["iss"], CLIENT);
}

fn verifies(jwt: &str, public_key: &[u8]) -> bool {
    let Some((input, signature)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(input.as_bytes(), &signature)
    .is_ok()
}

#[tokio::test]
async fn a_federated_token_file_is_exchanged() {
    let server = entra(|form| {
        form.get("client_assertion").map(String::as_str) == Some("federated-jwt-from-file")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "federated-jwt-from-file").unwrap();
    let env = env(
        &server,
        &[("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string())],
    );
    assert_eq!(auth::choose(&env).method, AuthMethod::WorkloadIdentity);
    assert_eq!(
        token(AuthMethod::WorkloadIdentity, &env, &options(&server))
            .await
            .unwrap(),
        ACCESS_TOKEN
    );
}

#[tokio::test]
async fn github_actions_oidc_is_exchanged() {
    let server =
        entra(|form| form.get("client_assertion").map(String::as_str) == Some("github-oidc-jwt"))
            .await;
    let github = mock::Log::default();
    let github_log = github.clone();
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = github_log.clone();
        async move {
            mock::record(&log, &request, &[]);
            let authorized = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                == Some("Bearer github-request-token");
            let query = request.uri().query().unwrap_or_default();
            if authorized && query.contains("audience=api%3A%2F%2FAzureADTokenExchange") {
                axum::Json(json!({"value": "github-oidc-jwt", "count": 1})).into_response()
            } else {
                axum::http::StatusCode::FORBIDDEN.into_response()
            }
        }
    });
    let address = mock::serve(router).await;
    let env = env(
        &server,
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("http://{address}/_apis/token?api-version=2.0"),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "github-request-token".into(),
            ),
        ],
    );
    assert_eq!(auth::choose(&env).method, AuthMethod::WorkloadIdentity);
    assert_eq!(
        token(AuthMethod::WorkloadIdentity, &env, &options(&server))
            .await
            .unwrap(),
        ACCESS_TOKEN
    );
    let asked = &github.all()[0];
    assert!(
        asked.query.starts_with("api-version=2.0&audience="),
        "{}",
        asked.query
    );
}

#[tokio::test]
async fn the_token_endpoint_serves_an_arm_backend() {
    let server = entra(|form| form.get("client_secret").map(String::as_str) == Some(SECRET)).await;
    let arm = mock::tls::serve(|seen| {
        if seen.authorization.as_deref() != Some(&*format!("Bearer {ACCESS_TOKEN}")) {
            return (
                401,
                "application/json",
                json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}})
                    .to_string(),
            );
        }
        (
            200,
            "application/json",
            json!({"name": "ws", "location": "westeurope"}).to_string(),
        )
    })
    .await;
    // One CA file trusted for both servers: the backend's client serves the credential too.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&server.ca_cert).unwrap(),
        std::fs::read_to_string(&arm.ca_cert).unwrap()
    );
    std::fs::write(&bundle, both).unwrap();
    let spec = amlops::target::TargetSpec::Workspace {
        subscription: "00000000-0000-0000-0000-0000000000e3".into(),
        resource_group: "rg".into(),
        workspace: "ws".into(),
        connection: amlops::target::Connection {
            endpoint: Some(arm.url()),
            ca_cert: Some(bundle),
            auth: None,
        },
    };
    let options = amlops::backend::OpenOptions {
        auth_env: Some(env(&server, &[("AZURE_CLIENT_SECRET", SECRET.into())])),
        ..Default::default()
    };
    let (backend, choice) = amlops::backend::open_arm(&spec, options)
        .await
        .expect("open");
    assert_eq!(choice.method, AuthMethod::Env);
    assert_eq!(
        amlops::backend::Backend::target(&backend).location,
        "westeurope"
    );
    assert_eq!(server.log.all().len(), 1);
}
