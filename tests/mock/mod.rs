//! Helpers shared by the integration tests: servers on 127.0.0.1 and fake credentials.
//!
//! Nothing here reaches another host: every server binds 127.0.0.1 on a free port, and the
//! credentials are fakes that hand out fixed tokens.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

pub mod tls;

/// Serves `router` on a free port of 127.0.0.1 until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    address
}

/// A credential that hands out `token-N` tokens with the given prefix, valid for an hour.
#[derive(Debug)]
pub struct FakeCredential {
    pub prefix: String,
    pub calls: AtomicUsize,
}

impl FakeCredential {
    pub fn new(prefix: &str) -> Arc<Self> {
        Arc::new(Self {
            prefix: prefix.to_owned(),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(
            format!("{}-{n}", self.prefix),
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

/// One request a mock server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// A shared log of requests.
#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn push(&self, seen: Seen) {
        self.0.lock().unwrap().push(seen);
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    /// `METHOD path` of every request, in order.
    pub fn lines(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

/// Records a request into `log`.
pub fn record(log: &Log, request: &axum::extract::Request, body: &[u8]) {
    log.push(Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    });
}
