//! An HTTPS server on 127.0.0.1 with a self-signed certificate made for the test, for peers
//! that refuse plain HTTP (azure_identity's token endpoints).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{Log, Seen};

/// A running HTTPS server.
pub struct TlsServer {
    pub address: SocketAddr,
    /// The certificate to trust, as a PEM file.
    pub ca_cert: PathBuf,
    pub log: Log,
    /// Connections accepted, whether or not their handshake succeeded.
    pub connections: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// What a handler answers: status, content type, body.
pub type Answer = (u16, &'static str, String);

/// Serves `handler` over HTTPS on a free port of 127.0.0.1.
pub async fn serve<F>(handler: F) -> TlsServer
where
    F: Fn(&Seen) -> Answer + Send + Sync + 'static,
{
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_cert = dir.path().join("server.pem");
    std::fs::write(&ca_cert, certificate.pem()).expect("write certificate");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let log = Log::default();
    let handler = Arc::new(handler);
    let server_log = log.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let (acceptor, handler, log) = (acceptor.clone(), handler.clone(), server_log.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (handler, log) = (handler.clone(), log.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            query: parts.uri.query().unwrap_or_default().to_owned(),
                            authorization: parts
                                .headers
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                            body: body.to_vec(),
                        };
                        log.push(seen.clone());
                        let (status, content_type, text) = handler(&seen);
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", content_type)
                            .body(Full::new(Bytes::from(text)))
                            .expect("response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsServer {
        address,
        ca_cert,
        log,
        connections,
        _dir: dir,
    }
}
