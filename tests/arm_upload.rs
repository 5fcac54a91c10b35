//! Uploads through `startPendingUpload` and a SAS, against a mock ARM and a mock blob store
//! on 127.0.0.1: Put Blob, parallel Put Block and Put Block List, content found again by its
//! digest, and a SAS that never shows in an error.

mod mock;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amlops::auth::AuthEnv;
use amlops::backend::arm::ArmBackend;
use amlops::backend::{ArmTuning, Backend, OpenOptions, open_arm};
use amlops::plan::Upload;
use amlops::scope::Scope;
use amlops::target::{Connection, TargetSpec};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mock::{FakeCredential, Log};
use serde_json::json;

const SIGNATURE: &str = "sas-signature-9c1e";

#[derive(Default)]
struct Blobs {
    /// Committed blobs: path → (content, digest metadata).
    committed: BTreeMap<String, (Vec<u8>, Option<String>)>,
    /// Uncommitted blocks: (path, block id) → content.
    blocks: BTreeMap<(String, String), Vec<u8>>,
    /// How many block puts fail with 500 before succeeding.
    failing_blocks: usize,
    /// Refuse every SAS.
    refuse: bool,
}

type Store = Arc<Mutex<Blobs>>;

fn scope() -> Scope {
    Scope::workspace("00000000-0000-0000-0000-0000000000bb", "rg", "ws")
}

async fn mock(store: Store) -> (SocketAddr, Log) {
    let log = Log::default();
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let state = (log.clone(), store, origin.clone());
    let router = axum::Router::new()
        .fallback(
            |axum::extract::State((log, store, origin)): axum::extract::State<(
                Log,
                Store,
                Arc<std::sync::OnceLock<String>>,
            )>,
             request: axum::extract::Request| async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 26).await.unwrap_or_default();
                let headers = parts.headers.clone();
                let request = axum::extract::Request::from_parts(parts, Body::empty());
                mock::record(&log, &request, &bytes);
                let path = request.uri().path().to_owned();
                let query = request.uri().query().unwrap_or_default().to_owned();
                let method = request.method().as_str().to_owned();
                if path == scope().id() {
                    return axum::Json(json!({"location": "l"})).into_response();
                }
                if path.ends_with("/startPendingUpload") {
                    let name = path.split('/').rev().nth(3).unwrap();
                    let folder = format!("{}/account/container/LocalUpload/{name}", origin.get().unwrap());
                    return axum::Json(json!({
                        "blobReferenceForConsumption": {
                            "blobUri": folder,
                            "credential": {"credentialType": "SAS", "sasUri": format!("{folder}?sv=2023-11-03&sr=c&sig={SIGNATURE}")}
                        },
                        "pendingUploadId": name,
                        "pendingUploadType": "TemporaryBlobReference"
                    }))
                    .into_response();
                }
                blob(&store, &method, &path, &query, &headers, bytes.to_vec())
            },
        )
        .with_state(state);
    let address = mock::serve(router).await;
    origin.set(format!("http://{address}")).unwrap();
    (address, log)
}

fn blob(
    store: &Store,
    method: &str,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
    body: Vec<u8>,
) -> Response {
    let refused = store.lock().unwrap().refuse;
    if refused
        || !query.contains(&format!("sig={SIGNATURE}"))
        || headers.get("authorization").is_some()
    {
        return (
            StatusCode::FORBIDDEN,
            [("x-ms-error-code", "AuthenticationFailed")],
            "<Error><Code>AuthenticationFailed</Code><Message>no</Message></Error>",
        )
            .into_response();
    }
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{key}=")))
            .map(|v| v.replace("%3D", "="))
    };
    let mut blobs = store.lock().unwrap();
    match (method, param("comp").as_deref()) {
        ("HEAD", _) => match blobs.committed.get(path) {
            Some((content, digest)) => {
                let mut response = (
                    StatusCode::OK,
                    [("content-length", content.len().to_string())],
                )
                    .into_response();
                if let Some(digest) = digest {
                    response
                        .headers_mut()
                        .insert("x-ms-meta-amlops_digest", digest.parse().unwrap());
                }
                response
            }
            None => StatusCode::NOT_FOUND.into_response(),
        },
        ("PUT", Some("block")) => {
            if blobs.failing_blocks > 0 {
                blobs.failing_blocks -= 1;
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let id = param("blockid").unwrap();
            blobs.blocks.insert((path.to_owned(), id), body);
            StatusCode::CREATED.into_response()
        }
        ("PUT", Some("blocklist")) => {
            let xml = String::from_utf8(body).unwrap();
            let mut content = Vec::new();
            for part in xml.split("<Latest>").skip(1) {
                let id = part.split("</Latest>").next().unwrap().to_owned();
                let Some(block) = blobs.blocks.remove(&(path.to_owned(), id)) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                content.extend(block);
            }
            let digest = metadata(headers);
            blobs.committed.insert(path.to_owned(), (content, digest));
            StatusCode::CREATED.into_response()
        }
        ("PUT", None) => {
            assert_eq!(headers.get("x-ms-blob-type").unwrap(), "BlockBlob");
            let digest = metadata(headers);
            blobs.committed.insert(path.to_owned(), (body, digest));
            StatusCode::CREATED.into_response()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn metadata(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("x-ms-meta-amlops_digest")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn connect(address: SocketAddr) -> ArmBackend {
    let spec = TargetSpec::Workspace {
        subscription: "00000000-0000-0000-0000-0000000000bb".into(),
        resource_group: "rg".into(),
        workspace: "ws".into(),
        connection: Connection {
            endpoint: Some(format!("http://{address}")),
            ..Connection::default()
        },
    };
    let mut tuning = ArmTuning::default();
    tuning.http.retry.base_backoff = Duration::from_millis(5);
    tuning.blob.single_put_limit = 1000;
    tuning.blob.block_size = 300;
    tuning.blob.parallel = 3;
    let options = OpenOptions {
        credential: Some(FakeCredential::new("fake-token")),
        auth_env: Some(AuthEnv::default()),
        arm: Some(tuning),
        ..OpenOptions::default()
    };
    open_arm(&spec, options).await.expect("connect").0
}

fn planned(path: &Path, written: &str) -> Upload {
    let set = amlops::content::list(path).unwrap();
    let digest = amlops::content::tree_digest(&set).unwrap();
    Upload {
        source: written.into(),
        local_path: path.to_path_buf(),
        destination: format!(
            "azureml://datastores/workspaceblobstore/paths/LocalUpload/{}/{written}",
            &digest.hex[..32]
        ),
        digest: digest.hex.clone(),
        files: digest.files,
        bytes: digest.bytes,
        includes: Vec::new(),
    }
}

fn folder_with_a_large_file(root: &Path) -> Vec<u8> {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("pkg")).unwrap();
    std::fs::write(src.join("a.py"), "print('a')\n").unwrap();
    std::fs::write(src.join("pkg/b.py"), "print('b')\n").unwrap();
    let large: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("weights.bin"), &large).unwrap();
    large
}

#[tokio::test]
async fn folders_go_up_file_by_file_and_large_files_in_blocks() {
    let store = Store::default();
    let (address, log) = mock(store.clone()).await;
    let backend = connect(address).await;
    let dir = tempfile::tempdir().unwrap();
    let large = folder_with_a_large_file(dir.path());
    let upload = planned(&dir.path().join("src"), "src");

    let uri = backend
        .upload(&upload)
        .await
        .expect("upload")
        .expect("a uri");
    let folder = format!(
        "/account/container/LocalUpload/{}",
        uuid_shape(&upload.digest)
    );
    let base = format!("{folder}/{}/src", &upload.digest[..32]);
    assert_eq!(uri, format!("http://{address}{base}"));
    {
        let blobs = store.lock().unwrap();
        let committed: Vec<&str> = blobs.committed.keys().map(String::as_str).collect();
        assert_eq!(
            committed,
            [
                format!("{base}/a.py"),
                format!("{base}/pkg/b.py"),
                format!("{base}/weights.bin")
            ]
        );
        assert_eq!(blobs.committed[&format!("{base}/weights.bin")].0, large);
        assert_eq!(blobs.committed[&format!("{base}/a.py")].0, b"print('a')\n");
        // The first file seals the folder, and is written last.
        assert_eq!(
            blobs.committed[&format!("{base}/a.py")].1.as_deref(),
            Some(upload.digest.as_str())
        );
        assert_eq!(blobs.committed[&format!("{base}/pkg/b.py")].1, None);
        let writes: Vec<String> = log
            .all()
            .iter()
            .filter(|s| s.method == "PUT")
            .map(|s| s.path.clone())
            .collect();
        assert_eq!(writes.last().unwrap(), &format!("{base}/a.py"));
        let blocks = log
            .all()
            .iter()
            .filter(|s| s.query.contains("comp=block&"))
            .count();
        assert_eq!(blocks, 9, "2500 bytes in blocks of 300");
        // No blob request carries the ARM token; every one carries the SAS.
        for seen in log.all().iter().filter(|s| s.path.starts_with("/account/")) {
            assert_eq!(seen.authorization, None);
            assert!(seen.query.contains(SIGNATURE));
        }
    }

    // The same content again: one look at the seal, nothing written.
    let before = log.all().len();
    let again = backend
        .upload(&upload)
        .await
        .expect("upload")
        .expect("a uri");
    assert_eq!(again, uri);
    let lines = log.lines();
    assert_eq!(lines.len() - before, 2, "{:?}", &lines[before..]);
    assert!(lines[before].ends_with("/startPendingUpload"));
    assert_eq!(lines[before + 1], format!("HEAD {base}/a.py"));
    assert_eq!(backend.uploads.sent.load(Ordering::Relaxed), 1);
    assert_eq!(backend.uploads.skipped.load(Ordering::Relaxed), 1);
}

fn uuid_shape(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[tokio::test]
async fn a_single_file_is_one_blob() {
    let store = Store::default();
    let (address, _) = mock(store.clone()).await;
    let backend = connect(address).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iris.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let upload = planned(&file, "iris.csv");
    let uri = backend.upload(&upload).await.unwrap().unwrap();
    assert!(
        uri.ends_with(&format!("/{}/iris.csv", &upload.digest[..32])),
        "{uri}"
    );
    let blobs = store.lock().unwrap();
    assert_eq!(blobs.committed.len(), 1);
    let (content, digest) = blobs.committed.values().next().unwrap();
    assert_eq!(content, b"a,b\n1,2\n");
    assert_eq!(digest.as_deref(), Some(upload.digest.as_str()));
}

#[tokio::test]
async fn failed_blocks_are_put_again() {
    let store = Store::default();
    store.lock().unwrap().failing_blocks = 2;
    let (address, _) = mock(store.clone()).await;
    let backend = connect(address).await;
    let dir = tempfile::tempdir().unwrap();
    let large = folder_with_a_large_file(dir.path());
    let upload = planned(&dir.path().join("src"), "src");
    backend.upload(&upload).await.expect("retried");
    let blobs = store.lock().unwrap();
    let weights = blobs
        .committed
        .iter()
        .find(|(k, _)| k.ends_with("weights.bin"))
        .unwrap();
    assert_eq!(weights.1.0, large);
    assert_eq!(backend.counters().retries.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn content_changed_since_the_plan_is_refused() {
    let store = Store::default();
    let (address, log) = mock(store).await;
    let backend = connect(address).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iris.csv");
    std::fs::write(&file, "a\n").unwrap();
    let upload = planned(&file, "iris.csv");
    std::fs::write(&file, "b\n").unwrap();
    let error = backend.upload(&upload).await.unwrap_err().to_string();
    assert!(
        error.ends_with("changed since it was planned; plan again"),
        "{error}"
    );
    assert_eq!(log.all().len(), 1, "nothing was uploaded");
}

#[tokio::test]
async fn a_refused_sas_never_shows_in_the_error() {
    let store = Store::default();
    store.lock().unwrap().refuse = true;
    let (address, _) = mock(store).await;
    let backend = connect(address).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.csv");
    std::fs::write(&file, "x\n").unwrap();
    let upload = planned(&file, "data.csv");
    let error = backend.upload(&upload).await.unwrap_err();
    let text = error.to_string();
    assert_eq!(error.status(), Some(403));
    assert!(
        text.starts_with("HEAD /account/container/LocalUpload/"),
        "{text}"
    );
    assert!(text.contains("403 AuthenticationFailed"), "{text}");
    assert!(!text.contains(SIGNATURE), "{text}");
    assert!(!format!("{error:?}").contains(SIGNATURE));
}
