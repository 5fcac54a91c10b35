//! One HTTP call to Azure Resource Manager or to blob storage: the bearer token, the global
//! cap on concurrent requests, retries as [`retry`](super::retry) decides them, and errors that
//! carry method, path, status, the service's error code and message and `x-ms-request-id`.
//!
//! Nothing here ever writes a token or a query string into an error or a log line: requests
//! are named by method and path only, and transport errors are stripped of their URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::retry::{Failure, RetryKind, RetryPolicy, Verdict, parse_retry_after};
use crate::auth::Tokens;
use crate::backend::BackendError;

/// What a call sends as its body.
#[derive(Clone, Default)]
pub enum Payload {
    #[default]
    None,
    Json(Value),
    /// Raw bytes with their content type.
    Bytes(Bytes, &'static str),
}

/// One request, attempted until it succeeds or fails for good. Its `Debug` shows method and
/// path only: the query may hold a SAS and the body a password.
#[derive(Clone)]
pub struct Call {
    pub method: Method,
    pub url: Url,
    pub payload: Payload,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Repeating the request has the effect of sending it once (GET, PUT, DELETE, and POSTs
    /// known to be so): it may be retried after a reset or a server error.
    pub idempotent: bool,
    /// Send the ARM bearer token (blob requests carry a SAS instead).
    pub bearer: bool,
    /// The longest wait for an answer, when not the client's default (large uploads).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (method, path) = self.describe();
        f.debug_struct("Call")
            .field("method", &method)
            .field("path", &path)
            .finish_non_exhaustive()
    }
}

impl Call {
    pub fn new(method: Method, url: Url) -> Self {
        let idempotent = method != Method::POST;
        Self {
            method,
            url,
            payload: Payload::None,
            headers: Vec::new(),
            idempotent,
            bearer: true,
            timeout: None,
        }
    }

    pub fn json(mut self, body: Value) -> Self {
        self.payload = Payload::Json(body);
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    /// The request as errors and logs name it: method and path, never the query.
    pub fn describe(&self) -> (String, String) {
        (self.method.to_string(), self.url.path().to_owned())
    }
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; `Null` when empty or not JSON.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after").and_then(parse_retry_after)
    }
}

/// Counts of what a client sent, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Attempts sent, retries included.
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    /// Requests other than GET and HEAD that succeeded.
    pub writes: AtomicU64,
}

/// Settings of an [`Http`] client.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Requests in flight at once, across every task of this client.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Longest wait for one attempt's answer.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// An HTTP client with ARM's manners.
pub struct Http {
    client: reqwest::Client,
    tokens: Option<Arc<Tokens>>,
    limit: Semaphore,
    options: HttpOptions,
    pub counters: Counters,
}

/// How one attempt ended.
enum Attempt {
    Answered(Reply),
    Failed(Failure, AttemptError),
}

/// What the last failed attempt said, for the final error.
enum AttemptError {
    Status {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    Transport(String),
    /// No connection was made; the cause in words ("connection refused").
    Unreachable(String),
    /// The TLS handshake failed; `untrusted` when the certificate's issuer is unknown.
    Tls {
        untrusted: bool,
        detail: String,
    },
}

impl Http {
    pub fn new(client: reqwest::Client, tokens: Option<Arc<Tokens>>, options: HttpOptions) -> Self {
        Self {
            client,
            tokens,
            limit: Semaphore::new(options.concurrency.max(1)),
            options,
            counters: Counters::default(),
        }
    }

    pub fn concurrency(&self) -> usize {
        self.options.concurrency.max(1)
    }

    /// Sends `call`, retrying as the policy says; a non-success answer is an error.
    pub async fn send(&self, call: &Call) -> Result<Reply, BackendError> {
        let policy = &self.options.retry;
        let mut tally = Tally::new();
        loop {
            let (failure, error) = match self.attempt(call).await? {
                Attempt::Answered(reply) => {
                    if !matches!(call.method, Method::GET | Method::HEAD) {
                        self.counters.writes.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(reply);
                }
                Attempt::Failed(failure, error) => (failure, error),
            };
            let Verdict::Retry {
                reason,
                after,
                refresh_token,
                kind,
            } = policy.classify(&failure, call.idempotent, tally.retries)
            else {
                return Err(final_error(call, error, &tally, None));
            };
            let wait = policy.delay(tally.retries + 1, after);
            if !tally.admit(policy, kind, wait) {
                return Err(final_error(call, error, &tally, Some(reason)));
            }
            let (method, path) = call.describe();
            tracing::debug!(%method, %path, reason, wait_ms = wait.as_millis() as u64, "retrying");
            if refresh_token && let Some(tokens) = &self.tokens {
                tokens.invalidate().await;
            }
            tokio::time::sleep(wait).await;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One attempt, within the cap on requests in flight.
    async fn attempt(&self, call: &Call) -> Result<Attempt, BackendError> {
        let request = self.request(call).await?;
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let (method, path) = call.describe();
        tracing::trace!(%method, %path, "request");
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Ok(transport_failure(&e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return Ok(transport_failure(&e)),
        };
        tracing::trace!(%method, %path, status, "response");
        let reply = Reply {
            status,
            headers,
            body,
        };
        if (200..300).contains(&status) {
            return Ok(Attempt::Answered(reply));
        }
        Ok(failed_answer(reply))
    }

    /// The request of one attempt, with a token valid for it.
    async fn request(&self, call: &Call) -> Result<reqwest::RequestBuilder, BackendError> {
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .timeout(call.timeout.unwrap_or(self.options.timeout));
        if call.bearer
            && let Some(tokens) = &self.tokens
        {
            let token = tokens
                .token()
                .await
                .map_err(|e| BackendError::Auth(e.to_string()))?;
            request = request.bearer_auth(token.secret());
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        Ok(match &call.payload {
            Payload::None => request,
            Payload::Json(body) => request.json(body),
            Payload::Bytes(bytes, content_type) => request
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(bytes.clone()),
        })
    }
}

/// The retries of one call so far.
struct Tally {
    started: Instant,
    retries: u32,
    throttled: u32,
    failed: u32,
    unreachable: u32,
}

impl Tally {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            retries: 0,
            throttled: 0,
            failed: 0,
            unreachable: 0,
        }
    }

    /// Counts one more retry, if the policy allows it after `wait`.
    fn admit(&mut self, policy: &RetryPolicy, kind: RetryKind, wait: Duration) -> bool {
        let (count, limit) = match kind {
            RetryKind::Failure => (&mut self.failed, policy.max_retries),
            RetryKind::Throttled => (&mut self.throttled, policy.max_throttled),
            RetryKind::Unreachable => (&mut self.unreachable, policy.max_unreachable),
        };
        *count += 1;
        let within_count = *count <= limit;
        if !within_count || self.started.elapsed() + wait > policy.budget {
            return false;
        }
        self.retries += 1;
        true
    }
}

/// A non-success answer as a failed attempt.
fn failed_answer(reply: Reply) -> Attempt {
    let (code, message) = service_error(&reply);
    Attempt::Failed(
        Failure::Status {
            status: reply.status,
            retry_after: reply.retry_after(),
        },
        AttemptError::Status {
            status: reply.status,
            code,
            message,
            request_id: reply.header("x-ms-request-id").map(str::to_owned),
        },
    )
}

/// The error of a call whose last attempt failed with `error`.
fn final_error(
    call: &Call,
    error: AttemptError,
    tally: &Tally,
    gave_up_on: Option<&'static str>,
) -> BackendError {
    let (method, path) = call.describe();
    let error = match error {
        AttemptError::Status {
            status,
            code,
            message,
            request_id,
        } => BackendError::Api {
            method,
            path,
            status,
            code,
            message,
            request_id,
        },
        AttemptError::Transport(message) => BackendError::Transport {
            method,
            path,
            message,
        },
        // The request does not matter when the host cannot be reached: the host does.
        AttemptError::Unreachable(cause) => BackendError::Unreachable {
            origin: origin(&call.url),
            cause,
        },
        AttemptError::Tls {
            untrusted: true,
            detail,
        } => BackendError::UntrustedCertificate {
            origin: origin(&call.url),
            detail,
        },
        AttemptError::Tls {
            untrusted: false,
            detail,
        } => BackendError::Tls {
            origin: origin(&call.url),
            detail,
        },
    };
    if tally.retries == 0 {
        return error;
    }
    BackendError::Retried {
        source: Box::new(error),
        retries: tally.retries,
        elapsed: tally.started.elapsed(),
        reason: gave_up_on.unwrap_or("the last answer was final"),
    }
}

/// Scheme, host and port of `url`: how errors name a host, never with a path or a query.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn transport_failure(error: &reqwest::Error) -> Attempt {
    if let Some(tls) = causes(error).find_map(|e| e.downcast_ref::<rustls::Error>()) {
        let untrusted = matches!(
            tls,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        );
        let detail = match tls {
            rustls::Error::InvalidMessage(_) => format!("{tls} (does it serve HTTPS?)"),
            _ => tls.to_string(),
        };
        return Attempt::Failed(Failure::Tls, AttemptError::Tls { untrusted, detail });
    }
    if error.is_connect() && !error.is_timeout() {
        return Attempt::Failed(
            Failure::Connect,
            AttemptError::Unreachable(describe_unreachable(error)),
        );
    }
    let failure = if error.is_connect() {
        Failure::ConnectTimeout
    } else {
        Failure::Interrupted
    };
    Attempt::Failed(failure, AttemptError::Transport(describe_transport(error)))
}

/// `error` and its causes, the errors that I/O errors wrap included (an `io::Error`'s
/// `source` skips the error it wraps, where hyper and rustls put theirs).
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            return Some(inner as &(dyn std::error::Error + 'static));
        }
        error.source()
    })
}

/// Why no connection was made, in words, without the URL.
fn describe_unreachable(error: &reqwest::Error) -> String {
    let io_kind = |kind| {
        causes(error).any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == kind)
        })
    };
    if io_kind(std::io::ErrorKind::ConnectionRefused) {
        return "connection refused".into();
    }
    let cause = causes(error)
        .last()
        .map(|e| e.to_string())
        .filter(|cause| !cause.is_empty() && !cause.contains('?'));
    let kind = if error.is_dns() {
        "the host name does not resolve"
    } else if io_kind(std::io::ErrorKind::HostUnreachable)
        || io_kind(std::io::ErrorKind::NetworkUnreachable)
    {
        "the host cannot be reached"
    } else {
        "the connection failed"
    };
    match cause {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind.to_owned(),
    }
}

/// A transport error in words, without the URL (which may carry a SAS).
fn describe_transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the response was cut"
    } else {
        "the connection failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() || cause.contains('?') {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// The error code and message of a failed answer: ARM's JSON error body (with Azure ML's
/// more precise first detail), or blob storage's `x-ms-error-code` and XML message.
pub fn service_error(reply: &Reply) -> (String, String) {
    let json = reply.json();
    if let Some(error) = json.get("error") {
        let text =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut code = text(error, "code");
        let mut message = text(error, "message");
        if let Some(detail) = error.pointer("/details/0") {
            let (detail_code, detail_message) = (text(detail, "code"), text(detail, "message"));
            if !detail_message.is_empty() && detail_message != message {
                message = format!("{message} ({detail_code}: {detail_message})");
            }
            if code.is_empty() {
                code = detail_code;
            }
        }
        return (code, message);
    }
    let code = reply
        .header("x-ms-error-code")
        .unwrap_or_default()
        .to_owned();
    let text = String::from_utf8_lossy(&reply.body);
    let message = xml_element(&text, "Message")
        .map(|m| m.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| status_text(reply.status).to_owned());
    let code = if code.is_empty() {
        xml_element(&text, "Code").unwrap_or_default().to_owned()
    } else {
        code
    };
    (code, message)
}

fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(&text[start..end])
}

fn status_text(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Reply {
            status,
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn reads_service_errors() {
        let arm = reply(
            404,
            &[],
            r#"{"error": {"code": "UserError", "message": "not found", "details": [{"code": "NotFound", "message": "data iris:3 does not exist"}]}}"#,
        );
        assert_eq!(
            service_error(&arm),
            (
                "UserError".into(),
                "not found (NotFound: data iris:3 does not exist)".into()
            )
        );
        let blob = reply(
            403,
            &[("x-ms-error-code", "AuthenticationFailed")],
            "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.\nRequestId:1</Message></Error>",
        );
        assert_eq!(
            service_error(&blob),
            (
                "AuthenticationFailed".into(),
                "Server failed to authenticate the request.".into()
            )
        );
        assert_eq!(
            service_error(&reply(502, &[], "")),
            ("".into(), "Bad Gateway".into())
        );
    }

    #[test]
    fn causes_include_what_io_errors_wrap() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert!(
            std::error::Error::source(&io).is_none(),
            "an io::Error's source skips the error it wraps"
        );
        let found = causes(&io).find_map(|e| e.downcast_ref::<rustls::Error>());
        assert!(
            matches!(
                found,
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{found:?}"
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(causes(&refused).count(), 1);
    }

    #[test]
    fn errors_name_an_origin_without_path_or_query() {
        let url = Url::parse("https://acct.blob.core.windows.net:8443/c/a.csv?sig=SECRET").unwrap();
        assert_eq!(origin(&url), "https://acct.blob.core.windows.net:8443");
        let url = Url::parse("https://arm.example/subscriptions/s?x=1").unwrap();
        assert_eq!(origin(&url), "https://arm.example");
    }

    #[test]
    fn calls_are_described_without_their_query() {
        let call = Call::new(
            Method::PUT,
            Url::parse("https://acct.blob.core.windows.net/c/a.csv?sv=1&sig=SECRET").unwrap(),
        );
        assert_eq!(call.describe(), ("PUT".to_owned(), "/c/a.csv".to_owned()));
        assert!(!Call::new(Method::POST, call.url.clone()).idempotent);
        assert!(call.idempotent);
    }
}
