//! Shared by the emulator's integration tests: an HTTP client for the emulator, and the
//! look-ups for Azurite and the Python SDK, which tests skip without (saying so).

#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// The local workspace's ARM id, as the emulator serves it by default.
pub const WORKSPACE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlops-local/providers/Microsoft.MachineLearningServices/workspaces/local";
pub const API: &str = "api-version=2025-12-01";

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ARM error code, asserting the error body has the ARM shape and a request id came
    /// with it.
    pub fn error_code(&self) -> &str {
        assert!(
            self.status >= 400,
            "not an error: {} {}",
            self.status,
            self.body
        );
        assert!(
            self.header("x-ms-request-id").is_some(),
            "no x-ms-request-id"
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.body
        );
        self.body["error"]["code"].as_str().expect("an error code")
    }
}

/// A client of one emulator, with a bearer token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(base: &str, ca: Option<&Path>) -> Self {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).expect("the emulator's certificate");
            let certificate = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
            builder = builder.tls_certs_only([certificate]);
        }
        Client {
            http: builder.build().expect("a client"),
            base: base.to_owned(),
        }
    }

    /// `path` is relative to the local workspace unless it starts with `/`; `api-version` is
    /// added unless the path has a query.
    pub fn url(&self, path: &str) -> String {
        let absolute = if path.starts_with('/') {
            path.to_owned()
        } else if path.is_empty() {
            WORKSPACE.to_owned()
        } else {
            format!("{WORKSPACE}/{path}")
        };
        if absolute.contains('?') {
            format!("{}{absolute}", self.base)
        } else {
            format!("{}{absolute}?{API}", self.base)
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut request = self
            .http
            .request(method.parse().expect("a method"), url)
            .bearer_auth("test-token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the emulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send("PUT", path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> Answer {
        self.send("POST", path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None).await
    }

    /// Every item of a list, following `nextLink`; also returns how many pages it took.
    pub async fn list_all(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut next = Some(path.to_owned());
        while let Some(url) = next {
            let answer = self.get(&url).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            pages += 1;
            items.extend(answer.body["value"].as_array().cloned().unwrap_or_default());
            next = answer.body["nextLink"].as_str().map(str::to_owned);
        }
        (items, pages)
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Skips a test (printing why), or fails it when `AMLOPS_REQUIRE_EMULATOR_TOOLS` is set, as
/// `scripts/test` does once it has installed the tools.
fn missing(test: &str, why: String) {
    if std::env::var_os("AMLOPS_REQUIRE_EMULATOR_TOOLS").is_some() {
        panic!("{test}: {why}");
    }
    eprintln!("skipping {test}: {why}");
}

/// Azurite's `azurite-blob` (`AMLOPS_AZURITE`, or `tools/azurite` after `npm ci`), or `None`
/// after printing why the test is skipped.
pub fn azurite(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("AMLOPS_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tools/azurite/node_modules/.bin/azurite-blob"));
    if path.exists() {
        Some(path)
    } else {
        missing(
            test,
            format!(
                "Azurite is not installed at {} (run `npm ci --prefix tools/azurite` or set AMLOPS_AZURITE)",
                path.display()
            ),
        );
        None
    }
}

/// The Python of a virtual environment with azure-ai-ml 1.35.2 (`AMLOPS_SDK_VENV`, or
/// `../oracle-venv` beside the repository), or `None` after printing why the test is skipped.
pub fn sdk_python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("AMLOPS_SDK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../oracle-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        Some(python)
    } else {
        missing(
            test,
            format!(
                "no Python virtual environment with azure-ai-ml at {} (run scripts/test-tools, or set AMLOPS_SDK_VENV)",
                venv.display()
            ),
        );
        None
    }
}

/// Waits until `check` holds, polling for up to `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
