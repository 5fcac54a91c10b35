//! The ARM client against mock servers on 127.0.0.1: long-running operations, paging,
//! retries, the cap on requests in flight, tokens, errors that name the request but never
//! the token, and endpoints that cannot be used (a certificate not trusted, nothing
//! listening), through the library and through the binary.

mod mock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amlops::auth::AuthEnv;
use amlops::backend::arm::ArmBackend;
use amlops::backend::arm::http::{Call, Http, HttpOptions};
use amlops::backend::{ArmTuning, Backend, OpenError, OpenOptions, http_client, open_arm};
use amlops::model::Kind;
use amlops::plan::{Query, Request, Snapshot};
use amlops::scope::Scope;
use amlops::target::{Connection, TargetSpec};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mock::{FakeCredential, Log, Seen};
use serde_json::{Value, json};

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000aa";
const TOKEN_PREFIX: &str = "fake-arm-token-7f3a";

fn scope() -> Scope {
    Scope::workspace(SUBSCRIPTION, "rg", "ws")
}

type Responder = Arc<dyn Fn(&Seen, usize) -> Response + Send + Sync>;

/// A mock ARM: the workspace answers GET; everything else goes to `respond`, which gets the
/// request and how many requests before it had the same method and path.
async fn mock(
    respond: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
) -> (SocketAddr, Log) {
    let log = Log::default();
    let responder: Responder = Arc::new(respond);
    let state = (log.clone(), responder);
    let router = axum::Router::new()
        .fallback(
            |axum::extract::State((log, respond)): axum::extract::State<(Log, Responder)>,
             request: axum::extract::Request| async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 26)
                    .await
                    .unwrap_or_default();
                let request = axum::extract::Request::from_parts(parts, Body::empty());
                mock::record(&log, &request, &bytes);
                let seen = log.all().last().cloned().expect("just recorded");
                if seen.method == "GET" && seen.path == scope().id() {
                    return json_reply(200, json!({"name": "ws", "location": "westeurope"}));
                }
                let before = log
                    .all()
                    .iter()
                    .filter(|s| s.method == seen.method && s.path == seen.path)
                    .count()
                    - 1;
                respond(&seen, before)
            },
        )
        .with_state(state);
    (mock::serve(router).await, log)
}

fn json_reply(status: u16, body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("x-ms-request-id", HeaderValue::from_static("req-1234"));
    response
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_str(value).unwrap());
    response
}

fn arm_error(status: u16, code: &str, message: &str) -> Response {
    json_reply(status, json!({"error": {"code": code, "message": message}}))
}

fn tuning(concurrency: usize) -> ArmTuning {
    let mut tuning = ArmTuning::default();
    tuning.http.concurrency = concurrency;
    tuning.http.retry.base_backoff = Duration::from_millis(5);
    tuning.http.retry.max_backoff = Duration::from_millis(20);
    tuning.http.retry.max_retries = 4;
    tuning.http.retry.max_throttled = 6;
    tuning.poll.interval = Duration::from_millis(5);
    tuning.poll.max_interval = Duration::from_millis(50);
    tuning.poll.job_min = Duration::from_millis(20);
    tuning.poll.job_max = Duration::from_millis(80);
    tuning
}

async fn connect(address: SocketAddr, concurrency: usize) -> (ArmBackend, Arc<FakeCredential>) {
    let credential = FakeCredential::new(TOKEN_PREFIX);
    let backend = open_endpoint(
        &format!("http://{address}"),
        None,
        credential.clone(),
        concurrency,
    )
    .await
    .expect("connect");
    (backend, credential)
}

/// Opens the workspace at `endpoint`, trusting `ca_cert`, with fast retries.
async fn open_endpoint(
    endpoint: &str,
    ca_cert: Option<PathBuf>,
    credential: Arc<FakeCredential>,
    concurrency: usize,
) -> Result<ArmBackend, OpenError> {
    let spec = TargetSpec::Workspace {
        subscription: SUBSCRIPTION.into(),
        resource_group: "rg".into(),
        workspace: "ws".into(),
        connection: Connection {
            endpoint: Some(endpoint.to_owned()),
            ca_cert,
            ..Connection::default()
        },
    };
    let options = OpenOptions {
        credential: Some(credential),
        auth_env: Some(AuthEnv::default()),
        arm: Some(tuning(concurrency)),
        ..OpenOptions::default()
    };
    open_arm(&spec, options).await.map(|(backend, _)| backend)
}

fn request(method: &str, relative: &str, body: Option<Value>) -> Request {
    Request {
        method: method.into(),
        path: scope().resource_id(relative),
        api_version: "2023-08-01-preview".into(),
        body,
        secret_body: None,
    }
}

#[tokio::test]
async fn connecting_reads_the_workspace_region_with_the_token() {
    let (address, log) = mock(|_, _| arm_error(404, "NotFound", "nothing")).await;
    let (backend, credential) = connect(address, 4).await;
    assert_eq!(backend.target().location, "westeurope");
    assert_eq!(backend.target().kind, "workspace");
    let seen = &log.all()[0];
    assert_eq!(
        seen.authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN_PREFIX}-0"))
    );
    assert!(seen.query.contains("api-version="), "{}", seen.query);
    assert_eq!(credential.calls(), 1);
    assert_eq!(backend.get("computes/none").await.unwrap(), None);
    assert_eq!(credential.calls(), 1, "the token is cached");
}

#[tokio::test]
async fn operation_links_to_another_host_are_refused() {
    let (address, log) = mock(move |seen, before| {
        let operation = "http://host.invalid/operations/op-1?api-version=x";
        match (seen.method.as_str(), seen.path.as_str()) {
            ("PUT", _) => with_header(
                with_header(
                    json_reply(
                        201,
                        json!({"properties": {"provisioningState": "Creating"}}),
                    ),
                    "azure-asyncoperation",
                    operation,
                ),
                "retry-after",
                "0",
            ),
            _ => {
                let _ = before;
                arm_error(400, "BadRequest", "unexpected")
            }
        }
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    let result = backend
        .send(&request(
            "PUT",
            "computes/cpu",
            Some(json!({"properties": {}})),
        ))
        .await;
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("refusing to follow the operation status link to host.invalid"),
        "{error}"
    );
    assert_eq!(log.all().len(), 2, "the token went to the endpoint only");
}

/// A mock whose operation links point at itself.
async fn lro_mock(final_status: &'static str) -> (SocketAddr, Log) {
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let origin_for_server = origin.clone();
    let (address, log) = mock(move |seen, before| {
        let origin = origin_for_server.get().cloned().unwrap_or_default();
        match (seen.method.as_str(), seen.path.as_str()) {
            ("PUT", _) | ("PATCH", _) => with_header(
                with_header(
                    json_reply(201, json!({"properties": {"provisioningState": "Creating"}})),
                    "azure-asyncoperation",
                    &format!("{origin}/operations/op-1?api-version=x"),
                ),
                "retry-after",
                "0",
            ),
            ("DELETE", _) => with_header(
                with_header(json_reply(202, Value::Null), "location", &format!("{origin}/results/op-2")),
                "retry-after",
                "0",
            ),
            ("GET", "/results/op-2") if before < 2 => json_reply(202, Value::Null),
            ("GET", "/results/op-2") => json_reply(200, Value::Null),
            ("GET", "/operations/op-1") if before < 2 => json_reply(200, json!({"status": "InProgress"})),
            ("GET", "/operations/op-1") => json_reply(
                200,
                json!({"status": final_status, "error": {"code": "QuotaExceeded", "message": "not enough cores"}}),
            ),
            ("GET", _) => json_reply(200, json!({"name": "cpu", "properties": {"provisioningState": "Succeeded"}})),
            _ => arm_error(400, "BadRequest", "unexpected"),
        }
    })
    .await;
    origin.set(format!("http://{address}")).unwrap();
    (address, log)
}

#[tokio::test]
async fn long_running_operations_are_followed_to_the_end() {
    let (address, log) = lro_mock("Succeeded").await;
    let (backend, _) = connect(address, 4).await;
    let compute = scope().resource_id("computes/cpu");
    let body = backend
        .send(&request(
            "PUT",
            "computes/cpu",
            Some(json!({"properties": {}})),
        ))
        .await
        .expect("put");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    let lines = log.lines();
    assert_eq!(
        lines[1..],
        [
            format!("PUT {compute}"),
            "GET /operations/op-1".into(),
            "GET /operations/op-1".into(),
            "GET /operations/op-1".into(),
            format!("GET {compute}"),
        ]
    );
    // Every poll carries the token too.
    assert!(log.all().iter().all(|s| s.authorization.is_some()));

    let before = log.all().len();
    let deleted = backend
        .send(&request(
            "DELETE",
            "computes/cpu?underlyingResourceAction=Delete",
            None,
        ))
        .await
        .expect("delete");
    assert_eq!(deleted, Value::Null);
    let lines = log.lines();
    assert_eq!(
        lines[before..],
        [
            format!("DELETE {compute}"),
            "GET /results/op-2".into(),
            "GET /results/op-2".into(),
            "GET /results/op-2".into(),
        ]
    );
    assert!(
        log.all()[before]
            .query
            .contains("underlyingResourceAction=Delete")
    );
}

#[tokio::test]
async fn a_failed_operation_reports_its_code_and_message() {
    let (address, _) = lro_mock("Failed").await;
    let (backend, _) = connect(address, 4).await;
    let error = backend
        .send(&request(
            "PUT",
            "computes/cpu",
            Some(json!({"properties": {}})),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "PUT {}: 200 QuotaExceeded: the operation ended Failed: not enough cores (request id req-1234)",
            scope().resource_id("computes/cpu")
        )
    );
}

#[tokio::test]
async fn lists_follow_next_links() {
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let for_server = origin.clone();
    let (address, log) = mock(move |seen, _| {
        let origin = for_server.get().cloned().unwrap();
        let page = seen
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("$skip="))
            .unwrap_or("0")
            .parse::<usize>()
            .unwrap();
        let next = if page < 2 {
            json!(format!("{origin}{}?api-version=x&$skip={}", seen.path, page + 1))
        } else {
            Value::Null
        };
        json_reply(
            200,
            json!({"value": [{"name": format!("v{page}a")}, {"name": format!("v{page}b")}], "nextLink": next}),
        )
    })
    .await;
    origin.set(format!("http://{address}")).unwrap();
    let (backend, _) = connect(address, 4).await;
    let items = backend
        .list("data/iris/versions", &[("listViewType", "All")])
        .await
        .expect("list");
    let names: Vec<&str> = items.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["v0a", "v0b", "v1a", "v1b", "v2a", "v2b"]);
    assert_eq!(log.all().len(), 1 + 3);
    assert!(log.all()[1].query.contains("listViewType=All"));
}

#[tokio::test]
async fn next_links_to_another_host_are_refused() {
    let (address, log) = mock(|_, _| {
        json_reply(
            200,
            json!({"value": [], "nextLink": "https://elsewhere.invalid/steal?x=1"}),
        )
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    let error = backend.list("data", &[]).await.unwrap_err().to_string();
    assert!(
        error.contains("refusing to follow the next page link to elsewhere.invalid"),
        "{error}"
    );
    assert_eq!(log.all().len(), 2, "nothing was sent elsewhere");
}

#[tokio::test]
async fn throttled_requests_wait_for_retry_after() {
    let (address, log) = mock(|_, before| {
        if before == 0 {
            with_header(
                arm_error(429, "TooManyRequests", "slow down"),
                "retry-after",
                "1",
            )
        } else {
            json_reply(200, json!({"name": "cpu"}))
        }
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    let started = Instant::now();
    let found = backend.get("computes/cpu").await.expect("get");
    assert_eq!(found.unwrap()["name"], "cpu");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(log.all().len(), 1 + 2);
    assert_eq!(backend.counters().retries.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn server_errors_are_retried_for_idempotent_requests_only() {
    let (address, log) = mock(|seen, before| match seen.method.as_str() {
        "PUT" if before == 0 => arm_error(500, "InternalServerError", "oops"),
        "PUT" => json_reply(200, json!({"name": "1"})),
        _ => arm_error(500, "InternalServerError", "oops"),
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    backend
        .send(&request(
            "PUT",
            "data/iris/versions/1",
            Some(json!({"properties": {}})),
        ))
        .await
        .expect("the PUT is retried");
    let before = log.all().len();
    let error = backend
        .send(&request("POST", "datastores/d/listSecrets", None))
        .await
        .unwrap_err();
    assert_eq!(
        log.all().len(),
        before + 1,
        "a POST is not repeated after a 500"
    );
    assert_eq!(error.status(), Some(500));
}

#[tokio::test]
async fn giving_up_says_how_often_and_how_long() {
    let (address, log) = mock(|seen, _| {
        if seen.path.ends_with("/busy") {
            with_header(
                arm_error(503, "ServiceUnavailable", "busy"),
                "retry-after",
                "0",
            )
        } else {
            arm_error(500, "InternalServerError", "broken")
        }
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    // Throttling is retried up to `max_throttled` times.
    let error = backend.get("computes/busy").await.unwrap_err().to_string();
    let path = scope().resource_id("computes/busy");
    assert!(
        error.starts_with(&format!(
            "GET {path}: 503 ServiceUnavailable: busy (request id req-1234) (gave up after 6 retries over "
        )),
        "{error}"
    );
    assert!(error.ends_with("s: service unavailable (503))"), "{error}");
    assert_eq!(log.all().len(), 1 + 7);
    // Other failures up to `max_retries` times.
    let error = backend
        .get("computes/broken")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("(gave up after 4 retries over "), "{error}");
    assert!(error.ends_with("s: server error (500))"), "{error}");
    assert_eq!(log.all().len(), 1 + 7 + 5);
}

#[tokio::test]
async fn errors_name_the_request_and_never_the_token() {
    let (address, _) = mock(|_, _| {
        json_reply(
            409,
            json!({"error": {"code": "UserError", "message": "conflict", "details": [{"code": "Immutable", "message": "version 1 exists"}]}}),
        )
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    let error = backend
        .send(&request(
            "PUT",
            "data/iris/versions/1",
            Some(json!({"properties": {}})),
        ))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "PUT {}: 409 UserError: conflict (Immutable: version 1 exists) (request id req-1234)",
            scope().resource_id("data/iris/versions/1")
        )
    );
    assert!(!text.contains(TOKEN_PREFIX));
    assert!(!format!("{error:?}").contains(TOKEN_PREFIX));
}

#[tokio::test]
async fn requests_in_flight_are_capped_and_fill_the_cap() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (in_flight.clone(), most.clone());
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (now, peak) = (now.clone(), peak.clone());
        async move {
            if request.uri().path() == scope().id() {
                return json_reply(200, json!({"location": "x"}));
            }
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            json_reply(200, json!({"value": []}))
        }
    });
    let address = mock::serve(router).await;
    let (backend, _) = connect(address, 3).await;
    let backend = Arc::new(backend);
    let calls: Vec<_> = (0..24)
        .map(|i| {
            let backend = backend.clone();
            tokio::spawn(async move { backend.list(&format!("data/d{i}/versions"), &[]).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("list");
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);

    // The planner's questions are answered as many at a time as the cap allows.
    most.store(0, Ordering::SeqCst);
    let queries: Vec<Query> = (0..12)
        .map(|i| Query::Versions {
            kind: Kind::Data,
            name: format!("d{i}"),
        })
        .chain([Query::Get("computes/cpu".into())])
        .collect();
    let mut snapshot = Snapshot::default();
    let started = Instant::now();
    backend
        .answer(&queries, &mut snapshot)
        .await
        .expect("answers");
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() < Duration::from_millis(13 * 30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(snapshot.versions.len(), 12);
    assert!(snapshot.objects.contains_key("computes/cpu"));
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let (address, log) = mock(|seen, _| {
        if seen.authorization.as_deref() == Some(&*format!("Bearer {TOKEN_PREFIX}-0")) {
            arm_error(401, "InvalidAuthenticationToken", "the token expired")
        } else {
            json_reply(200, json!({"name": "cpu"}))
        }
    })
    .await;
    let (backend, credential) = connect(address, 4).await;
    backend
        .get("computes/cpu")
        .await
        .expect("retried with a new token");
    assert_eq!(credential.calls(), 2);
    let authorizations: Vec<_> = log
        .all()
        .iter()
        .map(|s| s.authorization.clone().unwrap())
        .collect();
    assert_eq!(
        authorizations[1..],
        [
            format!("Bearer {TOKEN_PREFIX}-0"),
            format!("Bearer {TOKEN_PREFIX}-1")
        ]
    );
}

/// A server that drops the first `drops` connections without answering, then answers 200.
async fn dropping_server(drops: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let read = stream.read(&mut buffer).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..read]).to_string();
                let is_workspace = head.starts_with(&format!("GET {}?", scope().id()));
                if !is_workspace && counter.fetch_add(1, Ordering::SeqCst) < drops {
                    return; // dropped without an answer
                }
                let body = r#"{"name": "x", "location": "l"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    (address, seen)
}

#[tokio::test]
async fn dropped_connections_are_retried_for_idempotent_requests_only() {
    let (address, seen) = dropping_server(2).await;
    let (backend, _) = connect(address, 4).await;
    let found = backend.get("computes/cpu").await.expect("retried");
    assert_eq!(found.unwrap()["name"], "x");
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    let (address, seen) = dropping_server(1).await;
    let (backend, _) = connect(address, 4).await;
    let error = backend
        .send(&request("POST", "datastores/d/listSecrets", None))
        .await
        .unwrap_err();
    assert_eq!(seen.load(Ordering::SeqCst), 1, "a POST is sent once");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "POST {}: ",
            scope().resource_id("datastores/d/listSecrets")
        )),
        "{text}"
    );
}

#[tokio::test]
async fn requests_outside_the_target_are_refused() {
    let (address, log) = mock(|_, _| json_reply(200, json!({}))).await;
    let (backend, _) = connect(address, 4).await;
    let mut other = request("PUT", "data/iris/versions/1", Some(json!({})));
    other.path = Scope::workspace(SUBSCRIPTION, "rg", "other").resource_id("data/iris/versions/1");
    let error = backend.send(&other).await.unwrap_err().to_string();
    assert!(error.contains("is outside the target"), "{error}");
    assert_eq!(log.all().len(), 1, "only the workspace was read");
}

#[tokio::test]
async fn following_a_job_reads_it_less_often_while_it_does_not_change() {
    let (address, log) = mock(|_, before| {
        let status = if before < 3 { "Running" } else { "Completed" };
        json_reply(
            200,
            json!({"name": "train-1", "properties": {"status": status}}),
        )
    })
    .await;
    let (backend, _) = connect(address, 4).await;
    let started = Instant::now();
    let mut asked = 0;
    let mut last = String::new();
    while started.elapsed() < Duration::from_millis(600) {
        last = backend.job_state("train-1").await.expect("state").status;
        asked += 1;
        if last == "Completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(last, "Completed");
    let reads = log.all().len() - 1;
    assert_eq!(
        reads, 4,
        "three reads while running (20, 40, 80 ms apart), then the change"
    );
    assert!(asked > 3 * reads, "asked {asked} times, read {reads} times");
}

/// An HTTPS mock ARM whose certificate no system trusts: the test's own.
async fn tls_workspace() -> mock::tls::TlsServer {
    mock::tls::serve(|_| {
        (
            200,
            "application/json",
            json!({"name": "ws", "location": "westeurope"}).to_string(),
        )
    })
    .await
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_once_and_names_ca_cert() {
    let server = tls_workspace().await;
    let error = open_endpoint(&server.url(), None, FakeCredential::new(TOKEN_PREFIX), 4)
        .await
        .err()
        .expect("the certificate is not trusted")
        .to_string();
    assert_eq!(server.connections(), 1, "a certificate is not retried");
    assert!(server.log.all().is_empty(), "no request was sent");
    assert!(
        error.contains(&format!(
            "the TLS certificate of {} is not trusted (invalid peer certificate: UnknownIssuer)",
            server.url()
        )),
        "{error}"
    );
    assert!(error.contains("--ca-cert PATH"), "{error}");
    assert!(error.contains("`certificate`"), "{error}");
    for wrong in ["connection refused", "gave up", "retr", TOKEN_PREFIX] {
        assert!(!error.contains(wrong), "{wrong}: {error}");
    }

    // Trusting the certificate is all it takes.
    let backend = open_endpoint(
        &server.url(),
        Some(server.ca_cert.clone()),
        FakeCredential::new(TOKEN_PREFIX),
        4,
    )
    .await
    .expect("the certificate is trusted");
    assert_eq!(backend.target().location, "westeurope");
}

/// A client of `http_client`'s making, without a token, retrying as `tuning` says.
fn bare_client(options: HttpOptions) -> Http {
    Http::new(http_client(None, true).expect("client"), None, options)
}

#[tokio::test]
async fn a_plain_http_server_behind_https_is_a_tls_failure_not_retried() {
    let (address, log) = mock(|_, _| json_reply(200, json!({}))).await;
    let http = bare_client(tuning(4).http);
    let url = reqwest::Url::parse(&format!("https://{address}/x?sig=SECRET")).unwrap();
    let error = http
        .send(&Call::new(reqwest::Method::GET, url))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "TLS handshake with https://{address} failed: received corrupt message of type InvalidContentType (does it serve HTTPS?)"
        )
    );
    assert_eq!(http.counters.attempts.load(Ordering::Relaxed), 1);
    assert!(log.all().is_empty());
}

/// A port of 127.0.0.1 that nothing listens on: connecting is refused.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_refused_connection_is_retried_a_few_times_and_names_the_endpoint() {
    let address = closed_port().await;
    let mut options = tuning(4).http;
    options.retry.max_unreachable = 2;
    let http = bare_client(options);
    let url = format!("http://{address}/subscriptions/s/x?api-version=1&sig=SECRET");
    // Nothing was sent: a POST is tried again too.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let call = Call::new(method, reqwest::Url::parse(&url).unwrap());
        let error = http.send(&call).await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "could not connect to http://{address}: connection refused (gave up after 2 retries over "
            )),
            "{error}"
        );
        assert!(error.ends_with("s: could not connect)"), "{error}");
        assert!(!error.contains("SECRET") && !error.contains("/subscriptions"));
    }
    assert_eq!(http.counters.attempts.load(Ordering::Relaxed), 2 * 3);
}

#[tokio::test]
async fn by_default_a_refused_connection_is_given_up_within_seconds() {
    let address = closed_port().await;
    let options = HttpOptions::default();
    let unreachable = options.retry.max_unreachable;
    assert!(
        unreachable < options.retry.max_retries,
        "tighter than other failures"
    );
    let http = bare_client(options);
    let started = Instant::now();
    let url = reqwest::Url::parse(&format!("http://{address}/")).unwrap();
    http.send(&Call::new(reqwest::Method::GET, url))
        .await
        .unwrap_err();
    assert_eq!(
        http.counters.attempts.load(Ordering::Relaxed),
        1 + u64::from(unreachable)
    );
    // About 3.5 seconds of backoff; generous for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Runs `amlops plan` on a one-manifest project against `endpoint` without credentials,
/// with a cleared environment plus `env` (no `NO_COLOR` unless given).
async fn plan_through_the_binary(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> BinaryRun {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path());
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_amlops"));
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .arg("plan")
        .arg(dir.path())
        .args([
            "--subscription",
            SUBSCRIPTION,
            "--resource-group",
            "rg",
            "--workspace",
            "ws",
        ])
        .args(["--endpoint", endpoint, "--auth", "none"])
        .args(args)
        .stdin(std::process::Stdio::null());
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output().expect("run amlops"))
        .await
        .unwrap();
    drop(dir);
    BinaryRun {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn write_manifest(dir: &Path) {
    std::fs::write(
        dir.join("iris.yml"),
        "name: iris\nversion: 1\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/iris/iris.csv\n",
    )
    .unwrap();
}

/// What a run of the binary left.
struct BinaryRun {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_reports_an_untrusted_certificate_once_in_plain_words() {
    let server = tls_workspace().await;
    let run = plan_through_the_binary(&server.url(), &[], &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(server.connections(), 1, "not retried");
    let stderr = &run.stderr;
    assert!(
        !stderr.contains('\x1b'),
        "stderr is not a terminal: {stderr:?}"
    );
    // rustls' own log line is not shown: amlops says it, once.
    assert!(!stderr.contains("failed to verify"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach workspace {SUBSCRIPTION}/rg/ws: the TLS certificate of {} is not trusted",
            server.url()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--ca-cert PATH"), "{stderr}");
    assert!(!stderr.contains("connection refused"), "{stderr}");

    // AMLOPS_LOG shows the libraries' logs, still plain.
    let run = plan_through_the_binary(&server.url(), &[], &[("AMLOPS_LOG", "warn")]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("failed to verify TLS certificate"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);

    // With the certificate trusted, the plan is made.
    let ca_cert = server.ca_cert.to_str().unwrap();
    let run = plan_through_the_binary(&server.url(), &["--ca-cert", ca_cert], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_names_an_endpoint_that_refuses_within_seconds() {
    let address = closed_port().await;
    let endpoint = format!("http://{address}");
    let run = plan_through_the_binary(&endpoint, &[], &[("NO_COLOR", "1")]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "error: cannot reach workspace {SUBSCRIPTION}/rg/ws: could not connect to {endpoint}: connection refused (gave up after 3 retries over "
        )),
        "{}",
        run.stderr
    );
    // Three short waits; the limit is generous for a busy machine (it was 76 seconds).
    assert!(run.elapsed < Duration::from_secs(30), "{:?}", run.elapsed);
}
