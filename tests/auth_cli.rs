//! Authentication end to end through the binary: `amlops plan` against a mock ARM on
//! 127.0.0.1, with the Azure CLI credential running a fake `az` from `PATH`, and the managed
//! identity credential asking an identity endpoint on 127.0.0.1 (as App Service announces
//! one). The child's environment is cleared first, so no real credential or host is used.

mod mock;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use axum::response::{IntoResponse, Response};
use mock::Log;
use serde_json::json;

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000d1";
const CLI_TOKEN: &str = "fake-cli-token-5d2c8e";
const MSI_TOKEN: &str = "fake-msi-token-91b0aa";
const IDENTITY_HEADER: &str = "fake-identity-header-77";

fn workspace_path() -> String {
    amlops::scope::Scope::workspace(SUBSCRIPTION, "rg", "ws").id()
}

/// A mock ARM for an empty workspace, plus an App Service style identity endpoint.
async fn mock() -> (SocketAddr, Log) {
    let log = Log::default();
    let router = axum::Router::new()
        .fallback(
            |axum::extract::State(log): axum::extract::State<Log>,
             request: axum::extract::Request| async move {
                mock::record(&log, &request, &[]);
                respond(&request)
            },
        )
        .with_state(log.clone());
    (mock::serve(router).await, log)
}

fn respond(request: &axum::extract::Request) -> Response {
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or_default();
    if path == "/msi/token" {
        let header = request.headers().get("x-identity-header");
        if header.and_then(|h| h.to_str().ok()) != Some(IDENTITY_HEADER)
            || !query.contains("resource=https%3A%2F%2Fmanagement.azure.com")
        {
            return (axum::http::StatusCode::BAD_REQUEST, "bad identity request").into_response();
        }
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        return axum::Json(json!({
            "access_token": MSI_TOKEN,
            "expires_on": expires.to_string(),
            "token_type": "Bearer",
            "resource": "https://management.azure.com",
        }))
        .into_response();
    }
    if path == workspace_path() {
        return axum::Json(json!({"name": "ws", "location": "westeurope"})).into_response();
    }
    if path.ends_with("/versions") {
        return axum::Json(json!({"value": []})).into_response();
    }
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"code": "ResourceNotFound", "message": "not found"}})),
    )
        .into_response()
}

fn manifest(dir: &Path) {
    std::fs::write(
        dir.join("iris.yml"),
        "name: iris\nversion: 1\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/iris/iris.csv\n",
    )
    .unwrap();
}

/// A fake `az` that logs its arguments and prints a token, or fails like a logged-out CLI.
fn fake_az(bin: &Path, logged_in: bool) {
    let script = if logged_in {
        format!(
            "#!/bin/sh\necho \"$@\" >> \"$FAKE_AZ_LOG\"\nnow=$(date +%s)\nprintf '{{\"accessToken\": \"{CLI_TOKEN}\", \"expires_on\": %s, \"subscription\": \"{SUBSCRIPTION}\", \"tenant\": \"t\", \"tokenType\": \"Bearer\"}}\\n' $((now + 3600))\n"
        )
    } else {
        "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".into()
    };
    let path = bin.join("az");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `amlops plan` on `dir` against the mock with a cleared environment plus `env`.
async fn plan(
    address: SocketAddr,
    dir: &Path,
    args: &[&str],
    env: Vec<(String, String)>,
) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_amlops"));
    command
        .env_clear()
        .envs(env)
        .env("NO_COLOR", "1")
        .arg("plan")
        .arg(dir)
        .args([
            "--subscription",
            SUBSCRIPTION,
            "--resource-group",
            "rg",
            "--workspace",
            "ws",
        ])
        .arg("--endpoint")
        .arg(format!("http://{address}"))
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("run amlops"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_credential_runs_az_once_per_run() {
    let (address, log) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let bin = tempfile::tempdir().unwrap();
    fake_az(bin.path(), true);
    let az_log = bin.path().join("az.log");
    let env = vec![
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", bin.path().display()),
        ),
        ("FAKE_AZ_LOG".into(), az_log.display().to_string()),
    ];
    let output = plan(address, dir.path(), &["--auth", "cli"], env).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("data.iris:1"), "{stdout}");
    assert!(
        stderr.contains("credentials: cli, because --auth asks for it"),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(&az_log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["account get-access-token -o json --scope https://management.azure.com/.default"]
    );
    let seen = log.all();
    assert!(seen.len() >= 2, "{:?}", log.lines());
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {CLI_TOKEN}"))
        );
    }
    assert!(!stdout.contains(CLI_TOKEN) && !stderr.contains(CLI_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_other_credentials_the_cli_is_chosen() {
    let (address, log) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let bin = tempfile::tempdir().unwrap();
    fake_az(bin.path(), true);
    let env = vec![
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", bin.path().display()),
        ),
        ("FAKE_AZ_LOG".into(), "/dev/null".into()),
    ];
    let output = plan(address, dir.path(), &[], env).await;
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("credentials: cli, because no other credentials are configured"),
        "{stderr}"
    );
    assert!(!log.all().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_out_cli_is_reported_and_nothing_is_sent() {
    let (address, log) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let bin = tempfile::tempdir().unwrap();
    fake_az(bin.path(), false);
    let env = vec![(
        "PATH".into(),
        format!("{}:/usr/bin:/bin", bin.path().display()),
    )];
    let output = plan(address, dir.path(), &["--auth", "cli"], env).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cli authentication failed"), "{stderr}");
    assert!(stderr.contains("az login"), "{stderr}");
    assert!(log.all().is_empty(), "no request went out without a token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_identity_announced_by_the_environment_is_used() {
    let (address, log) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        (
            "IDENTITY_ENDPOINT".into(),
            format!("http://{address}/msi/token"),
        ),
        ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
    ];
    let output = plan(address, dir.path(), &[], env).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "credentials: managed-identity, because the environment announces a managed identity"
        ),
        "{stderr}"
    );
    let seen = log.all();
    assert_eq!(seen[0].path, "/msi/token");
    assert_eq!(seen.iter().filter(|s| s.path == "/msi/token").count(), 1);
    for request in seen.iter().filter(|s| s.path != "/msi/token") {
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {MSI_TOKEN}"))
        );
    }
    assert!(!stdout.contains(MSI_TOKEN) && !stderr.contains(MSI_TOKEN));
    assert!(!stdout.contains(IDENTITY_HEADER) && !stderr.contains(IDENTITY_HEADER));
}

#[tokio::test(flavor = "multi_thread")]
async fn target_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_amlops"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("plan")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&["--workspace", "ws"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("--workspace needs --subscription and --resource-group"));
    let output = run(&["--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("--endpoint, --ca-cert and --auth need an Azure target"));
    let output = run(&[
        "--subscription",
        SUBSCRIPTION,
        "--resource-group",
        "rg",
        "--workspace",
        "ws",
        "--endpoint",
        "http://192.0.2.1:9",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("refusing to send credentials over plain HTTP to 192.0.2.1")
    );
    let output = run(&[
        "--subscription",
        SUBSCRIPTION,
        "--resource-group",
        "rg",
        "--workspace",
        "ws",
        "--auth",
        "none",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains(
        "--auth none sends no credentials and is meant for an emulator: it needs --endpoint"
    ));
    let output = run(&["--auth", "password", "--workspace", "ws"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap rejects unknown methods"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emulator_can_be_used_without_credentials() {
    let (address, log) = mock().await;
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let env = vec![("PATH".into(), "/usr/bin:/bin".into())];
    let output = plan(address, dir.path(), &["--auth", "none"], env).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    for request in log.all() {
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {}", amlops::auth::PLACEHOLDER_TOKEN))
        );
    }
}
