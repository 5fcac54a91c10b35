//! Long-running operations and paging: the two ways one ARM answer leads to more requests.
//!
//! Both follow URLs the service hands out (`Azure-AsyncOperation`, `Location`, `nextLink`).
//! They are followed verbatim, but only on the endpoint's own origin: the bearer token goes to
//! no other host.

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::Value;

use super::http::{Call, Http, Reply};
use crate::backend::BackendError;

/// How operations are waited for.
#[derive(Clone, Debug)]
pub struct PollOptions {
    /// The wait between two looks when the service gives no `Retry-After`.
    pub interval: Duration,
    /// The longest wait between two looks, whatever `Retry-After` says.
    pub max_interval: Duration,
    /// The longest an operation is waited for.
    pub budget: Duration,
    /// A job's state is read again after this long at first, then (while it does not change)
    /// twice as late each time, up to `job_max`.
    pub job_min: Duration,
    pub job_max: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            budget: Duration::from_secs(3600),
            job_min: Duration::from_secs(1),
            job_max: Duration::from_secs(15),
        }
    }
}

/// Terminal states of an `Azure-AsyncOperation` status and of `provisioningState`.
const SUCCEEDED: &str = "Succeeded";
const FAILED: &[&str] = &["Failed", "Canceled", "Cancelled"];

/// Whether `url` is on the origin of `endpoint` (scheme, host and port).
pub fn same_origin(endpoint: &Url, url: &Url) -> bool {
    endpoint.scheme() == url.scheme()
        && endpoint.host_str() == url.host_str()
        && endpoint.port_or_known_default() == url.port_or_known_default()
}

/// Parses a URL the service handed out and checks it stays on the endpoint.
pub fn followable(endpoint: &Url, link: &str, what: &str) -> Result<Url, BackendError> {
    let url = Url::parse(link)
        .or_else(|_| endpoint.join(link))
        .map_err(|_| BackendError::Other(format!("the service returned an invalid {what}")))?;
    if !same_origin(endpoint, &url) {
        return Err(BackendError::Other(format!(
            "refusing to follow the {what} to {} (not the endpoint {}): the token is sent to the endpoint only",
            url.host_str().unwrap_or("another host"),
            endpoint.host_str().unwrap_or_default()
        )));
    }
    Ok(url)
}

/// Every item of a list, following `nextLink`.
pub async fn all_pages(
    http: &Http,
    endpoint: &Url,
    first: Url,
) -> Result<Vec<Value>, BackendError> {
    let mut items = Vec::new();
    let mut next = Some(first);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(url) = next.take() {
        if !seen.insert(url.to_string()) {
            return Err(BackendError::Other(format!(
                "the service repeated a page link while listing {}",
                url.path()
            )));
        }
        let page = http.send(&Call::new(Method::GET, url)).await?.json();
        if let Some(values) = page.get("value").and_then(Value::as_array) {
            items.extend(values.iter().cloned());
        }
        next = match page.get("nextLink").and_then(Value::as_str) {
            Some(link) if !link.is_empty() => Some(followable(endpoint, link, "next page link")?),
            _ => None,
        };
    }
    Ok(items)
}

/// Waits for the operation a write started, then returns the resource's final body (for PUT
/// and PATCH), or the operation's result.
pub async fn settle(
    http: &Http,
    endpoint: &Url,
    options: &PollOptions,
    call: &Call,
    reply: Reply,
) -> Result<Value, BackendError> {
    let poller = Poller {
        http,
        options,
        call,
        started: Instant::now(),
    };
    let polled = if let Some(operation) = reply.header("azure-asyncoperation") {
        let url = followable(endpoint, operation, "operation status link")?;
        poller.operation_status(url, &reply).await?;
        None
    } else if reply.status == 202
        && let Some(location) = reply.header("location")
    {
        let url = followable(endpoint, location, "operation location")?;
        Some(poller.location(url, &reply).await?)
    } else {
        return match call.method {
            Method::DELETE => Ok(Value::Null),
            Method::POST => Ok(reply.json()),
            _ => poller.provisioned(reply).await,
        };
    };
    match call.method {
        Method::DELETE => Ok(Value::Null),
        Method::POST => Ok(polled.unwrap_or_else(|| reply.json())),
        _ => {
            let body = read_back(http, call).await?;
            check_provisioning(call, &body, &reply)?;
            Ok(body)
        }
    }
}

/// Polls what a write started.
struct Poller<'a> {
    http: &'a Http,
    options: &'a PollOptions,
    call: &'a Call,
    started: Instant,
}

impl Poller<'_> {
    /// The wait before the next look: the service's `Retry-After`, within bounds.
    fn wait_after(&self, reply: &Reply) -> Duration {
        reply
            .retry_after()
            .unwrap_or(self.options.interval)
            .min(self.options.max_interval)
    }

    fn check_budget(&self) -> Result<(), BackendError> {
        if self.started.elapsed() > self.options.budget {
            let (method, path) = self.call.describe();
            return Err(BackendError::Other(format!(
                "{method} {path}: the operation did not finish within {}s",
                self.options.budget.as_secs()
            )));
        }
        Ok(())
    }

    /// Follows `Azure-AsyncOperation` until its status is terminal.
    async fn operation_status(&self, url: Url, first: &Reply) -> Result<(), BackendError> {
        let (method, path) = self.call.describe();
        let mut wait = self.wait_after(first);
        loop {
            self.check_budget()?;
            tokio::time::sleep(wait).await;
            let reply = self.http.send(&Call::new(Method::GET, url.clone())).await?;
            let body = reply.json();
            let status = body.get("status").and_then(Value::as_str).unwrap_or("");
            tracing::debug!(%method, %path, status, "operation status");
            if status.eq_ignore_ascii_case(SUCCEEDED) {
                return Ok(());
            }
            if FAILED.iter().any(|f| status.eq_ignore_ascii_case(f)) {
                return Err(operation_failed(
                    &method,
                    &path,
                    status,
                    body.get("error"),
                    &reply,
                ));
            }
            wait = self.wait_after(&reply);
        }
    }

    /// Follows `Location` while it answers 202; returns the final answer's body.
    async fn location(&self, url: Url, first: &Reply) -> Result<Value, BackendError> {
        let mut wait = self.wait_after(first);
        loop {
            self.check_budget()?;
            tokio::time::sleep(wait).await;
            let reply = self.http.send(&Call::new(Method::GET, url.clone())).await?;
            if reply.status != 202 {
                return Ok(reply.json());
            }
            wait = self.wait_after(&reply);
        }
    }

    /// A write answered without operation headers: after a 201 or 202 the resource's own
    /// provisioning state tells when it is done.
    async fn provisioned(&self, reply: Reply) -> Result<Value, BackendError> {
        let mut body = reply.json();
        if matches!(reply.status, 201 | 202) {
            while provisioning(&body).is_some_and(|state| !is_terminal(state)) {
                self.check_budget()?;
                tokio::time::sleep(self.options.interval).await;
                body = read_back(self.http, self.call).await?;
            }
        }
        check_provisioning(self.call, &body, &reply)?;
        Ok(body)
    }
}

/// A resource whose provisioning failed is an error, with the service's first reason.
fn check_provisioning(call: &Call, body: &Value, reply: &Reply) -> Result<(), BackendError> {
    let Some(state) = provisioning(body) else {
        return Ok(());
    };
    if !FAILED.iter().any(|f| state.eq_ignore_ascii_case(f)) {
        return Ok(());
    }
    let (method, path) = call.describe();
    let errors = body
        .pointer("/properties/provisioningErrors/0/error")
        .cloned();
    Err(operation_failed(
        &method,
        &path,
        state,
        errors.as_ref(),
        reply,
    ))
}

/// The resource a PUT or PATCH wrote, read back with the same api-version.
async fn read_back(http: &Http, call: &Call) -> Result<Value, BackendError> {
    let mut url = call.url.clone();
    let api_version: Vec<(String, String)> = call
        .url
        .query_pairs()
        .filter(|(k, _)| k == "api-version")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(api_version);
    Ok(http.send(&Call::new(Method::GET, url)).await?.json())
}

fn provisioning(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

fn is_terminal(state: &str) -> bool {
    state.eq_ignore_ascii_case(SUCCEEDED) || FAILED.iter().any(|f| state.eq_ignore_ascii_case(f))
}

fn operation_failed(
    method: &str,
    path: &str,
    state: &str,
    error: Option<&Value>,
    reply: &Reply,
) -> BackendError {
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let code = text("code");
    let message = text("message");
    BackendError::Api {
        method: method.to_owned(),
        path: path.to_owned(),
        status: reply.status,
        code: if code.is_empty() {
            format!("Operation{state}")
        } else {
            code
        },
        message: if message.is_empty() {
            format!("the operation ended {state}")
        } else {
            format!("the operation ended {state}: {message}")
        },
        request_id: reply.header("x-ms-request-id").map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_links_on_the_endpoint_only() {
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        assert!(followable(&endpoint, "https://management.azure.com/x?$skip=2", "link").is_ok());
        assert!(followable(&endpoint, "https://MANAGEMENT.azure.com:443/x", "link").is_ok());
        assert!(followable(&endpoint, "/subscriptions/s/x", "link").is_ok());
        let error = followable(&endpoint, "https://evil.example/x", "next page link").unwrap_err();
        assert_eq!(
            error.to_string(),
            "refusing to follow the next page link to evil.example (not the endpoint management.azure.com): the token is sent to the endpoint only"
        );
        assert!(followable(&endpoint, "http://management.azure.com/x", "link").is_err());
        let local = Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(followable(&local, "http://127.0.0.1:8081/x", "link").is_err());
    }
}
