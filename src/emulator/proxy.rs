//! The storage proxy: blob traffic addressed the way Azure addresses it, carried to Azurite.
//!
//! Clients such as the Python SDK build a datastore's blob URL from the account name and the
//! cloud's storage suffix (`https://devstoreaccount1.blob.storage.emulator.invalid`), a host
//! name no resolver knows. Pointed at the emulator as their HTTPS proxy (`HTTPS_PROXY`), they
//! send `CONNECT <account>.blob.<suffix>:443` instead of resolving it. The emulator accepts
//! that one host only (any other is refused with 403, so nothing is ever tunnelled off the
//! machine), answers the tunnel with TLS for that name (its certificate covers
//! `*.blob.<suffix>`), and forwards each request inside it to Azurite's path-style URL. SAS
//! signatures do not depend on the URL's style, so they verify unchanged.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::server::{STORAGE_SUFFIX, State};
use super::storage::StorageAccount;

/// Headers that belong to one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
];

/// The only host the proxy tunnels to: the storage account's blob host.
pub fn storage_host(account: &StorageAccount) -> String {
    format!("{}.blob.{STORAGE_SUFFIX}", account.account)
}

/// Whether `authority` (`host:port` of a CONNECT) is the storage account's blob host on 443.
pub fn is_storage_authority(authority: &str, account: &StorageAccount) -> bool {
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "443"));
    port == "443" && host.eq_ignore_ascii_case(&storage_host(account))
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

/// Answers a CONNECT: opens the tunnel to the storage host, or refuses.
pub fn connect(state: Arc<State>, mut request: Request<Incoming>) -> Response<Full<Bytes>> {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let (Some(blobs), Some(acceptor)) = (state.blobs.clone(), state.acceptor.clone()) else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the storage proxy needs blob storage (--storage or --azurite) and --tls",
        );
    };
    if !is_storage_authority(&authority, blobs.account()) {
        return plain(
            StatusCode::FORBIDDEN,
            &format!(
                "the emulator tunnels to {} only",
                storage_host(blobs.account())
            ),
        );
    }
    let upgrade = hyper::upgrade::on(&mut request);
    let account = blobs.account().clone();
    tokio::spawn(async move {
        let tunnel = match upgrade.await {
            Ok(tunnel) => tunnel,
            Err(e) => return tracing::debug!(error = %e, "storage tunnel not opened"),
        };
        let tls = match acceptor.accept(TokioIo::new(tunnel)).await {
            Ok(tls) => tls,
            Err(e) => return tracing::debug!(error = %e, "storage tunnel TLS failed"),
        };
        let http = match forwarding_client() {
            Ok(http) => http,
            Err(e) => return tracing::warn!(error = %e, "cannot make the storage proxy's client"),
        };
        let service = hyper::service::service_fn(move |request| {
            let (http, account) = (http.clone(), account.clone());
            async move { Ok::<_, Infallible>(forward(&http, &account, request).await) }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            tracing::debug!(error = %e, "storage tunnel ended");
        }
    });
    Response::new(Full::new(Bytes::new()))
}

fn forwarding_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .no_deflate()
        .build()
}

/// Sends one request of the tunnel to Azurite and returns its answer as it is.
async fn forward(
    http: &reqwest::Client,
    account: &StorageAccount,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{path_and_query}", account.endpoint);
    let mut outgoing = http.request(parts.method.clone(), url);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(_) => return plain(StatusCode::BAD_GATEWAY, "blob storage is unreachable"),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    let head = parts.method == hyper::Method::HEAD;
    for (name, value) in &headers {
        let length = name == "content-length";
        if !HOP_BY_HOP.contains(&name.as_str()) && (!length || head) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_storage_host_is_tunnelled() {
        let account = StorageAccount::azurite("http://127.0.0.1:10000");
        let host = "devstoreaccount1.blob.storage.emulator.invalid";
        assert!(is_storage_authority(&format!("{host}:443"), &account));
        assert!(is_storage_authority(&host.to_uppercase(), &account));
        assert!(!is_storage_authority(&format!("{host}:80"), &account));
        assert!(!is_storage_authority(
            "devstoreaccount1.blob.core.windows.net:443",
            &account
        ));
        assert!(!is_storage_authority("169.254.169.254:443", &account));
    }
}
