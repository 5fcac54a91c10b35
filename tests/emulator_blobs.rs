//! The emulator with real blob storage (Azurite): SAS URIs for uploads and datastores, job
//! code and inputs copied out of storage, and the conformance of Microsoft's own SDK.
//!
//! Tests skip, saying why, when Azurite (`npm ci --prefix tools/azurite`) or the SDK's
//! virtual environment is absent; `.ci/run` installs both.

mod emulator_support;

use std::path::Path;
use std::time::Duration;

use amlops::emulator::server::default_container;
use amlops::emulator::storage::{Access, Azurite, StorageAccount};
use amlops::emulator::{self, Config, LroTiming, Running};
use amlops::scope::Scope;
use emulator_support::{Client, WORKSPACE, eventually};
use serde_json::{Value, json};

async fn start(
    azurite_bin: &Path,
    dir: &Path,
    configure: impl FnOnce(&mut Config),
) -> (Azurite, Running, Client) {
    let azurite = Azurite::start(azurite_bin, &dir.join("azurite")).unwrap();
    let mut config = Config::new(dir.join("data"));
    config.storage = Some(azurite.account());
    config.lro = LroTiming {
        polls: 1,
        retry_after: 1,
    };
    configure(&mut config);
    let running = emulator::spawn(config).await.unwrap();
    let client = Client::new(running.url(), running.cert_path());
    (azurite, running, client)
}

/// Writes a blob with a SAS, as a client of the storage would.
async fn put_blob(http: &reqwest::Client, container_sas_uri: &str, path: &str, content: &str) {
    let (container, sas) = container_sas_uri.split_once('?').unwrap();
    let response = http
        .put(format!("{container}/{path}?{sas}"))
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-version", "2021-08-06")
        .body(content.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn get_blob(http: &reqwest::Client, container_sas_uri: &str, path: &str) -> (u16, String) {
    let (container, sas) = container_sas_uri.split_once('?').unwrap();
    let response = http
        .get(format!("{container}/{path}?{sas}"))
        .header("x-ms-version", "2021-08-06")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn storage_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The default datastore's container, with a read-write SAS, as `listSecrets` would give.
fn datastore_sas(account: &StorageAccount) -> String {
    let container = default_container(&Scope::local());
    format!(
        "{}?{}",
        account.container_url(&container),
        account.container_sas(&container, Access::ReadWrite)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_uploads_and_datastore_secrets_are_sas_uris_for_azurite() {
    let Some(azurite_bin) = emulator_support::azurite("pending uploads") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_azurite, running, client) = start(&azurite_bin, dir.path(), |_| {}).await;
    let http = storage_client();

    let body = json!({"pendingUploadId": "1b0c", "pendingUploadType": "TemporaryBlobReference"});
    let upload = client
        .post(
            "codes/train/versions/1/startPendingUpload",
            Some(body.clone()),
        )
        .await;
    assert_eq!(upload.status, 200, "{}", upload.body);
    assert_eq!(upload.body["pendingUploadId"], "1b0c");
    let reference = &upload.body["blobReferenceForConsumption"];
    assert_eq!(reference["credential"]["credentialType"], "SAS");
    let sas_uri = reference["credential"]["sasUri"].as_str().unwrap();
    let blob_uri = reference["blobUri"].as_str().unwrap();
    assert!(sas_uri.starts_with(blob_uri) && sas_uri.contains("sig="));
    put_blob(&http, sas_uri, "src/train.py", "print('hi')\n").await;
    assert_eq!(
        get_blob(&http, sas_uri, "src/train.py").await,
        (200, "print('hi')\n".into())
    );
    let again = client
        .post("codes/train/versions/1/startPendingUpload", Some(body))
        .await;
    assert_eq!(
        again.body["blobReferenceForConsumption"]["blobUri"],
        blob_uri
    );

    let secrets = client
        .post("datastores/workspaceblobstore/listSecrets", None)
        .await;
    assert_eq!(secrets.status, 200, "{}", secrets.body);
    assert_eq!(secrets.body["secretsType"], "Sas");
    let datastore = client.get("datastores/workspaceblobstore").await.body;
    let account = datastore["properties"]["accountName"].as_str().unwrap();
    let container = datastore["properties"]["containerName"].as_str().unwrap();
    let endpoint = running_storage_endpoint(blob_uri, account);
    let sas_uri = format!(
        "{endpoint}/{container}?{}",
        secrets.body["sasToken"].as_str().unwrap()
    );
    put_blob(&http, &sas_uri, "iris/iris.csv", "a,b\n1,2\n").await;
    assert_eq!(get_blob(&http, &sas_uri, "iris/iris.csv").await.0, 200);

    // SAS tokens never reach the request log.
    let logged = serde_json::to_string(&running.log()).unwrap();
    assert!(!logged.contains("sig="), "{logged}");
}

/// The account's endpoint, taken from a blob URI the emulator handed out.
fn running_storage_endpoint(blob_uri: &str, account: &str) -> String {
    let at = blob_uri.find(&format!("/{account}/")).unwrap();
    blob_uri[..at + account.len() + 1].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_read_their_code_and_inputs_out_of_blob_storage() {
    let Some(azurite_bin) = emulator_support::azurite("job staging") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (azurite, _running, client) = start(&azurite_bin, dir.path(), |_| {}).await;
    let http = storage_client();
    put_blob(
        &http,
        &datastore_sas(&azurite.account()),
        "tables/t.csv",
        "x\n1\n2\n",
    )
    .await;

    let upload = client
        .post(
            "codes/c0de/versions/1/startPendingUpload",
            Some(json!({"pendingUploadType": "TemporaryBlobReference"})),
        )
        .await;
    let reference = &upload.body["blobReferenceForConsumption"];
    let sas_uri = reference["credential"]["sasUri"].as_str().unwrap();
    put_blob(
        &http,
        sas_uri,
        "src/count.sh",
        "wc -l < \"$1\" | tr -d ' '\n",
    )
    .await;
    let code_uri = format!("{}/src", reference["blobUri"].as_str().unwrap());
    let code = json!({"properties": {"codeUri": code_uri, "isAnonymous": true}});
    assert_eq!(client.put("codes/c0de/versions/1", code).await.status, 201);
    let data = json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/workspaceblobstore/paths/tables/t.csv"}});
    assert_eq!(client.put("data/table/versions/1", data).await.status, 201);

    let job = json!({"properties": {"jobType": "Command", "environmentId": "azureml:e:1",
        "codeId": format!("{WORKSPACE}/codes/c0de/versions/1"),
        "command": "echo rows=$(sh count.sh ${{inputs.table}})",
        "inputs": {"table": {"jobInputType": "uri_file", "uri": "azureml:table:1"}}}});
    assert_eq!(client.put("jobs/count-rows", job).await.status, 201);
    let finished = eventually(30, || async {
        let status = client.get("jobs/count-rows").await.body["properties"]["status"].clone();
        status == "Completed" || status == "Failed"
    })
    .await;
    assert!(finished);
    let log = std::fs::read_to_string(dir.path().join("data/runs/count-rows/std_log.txt")).unwrap();
    assert_eq!(
        client.get("jobs/count-rows").await.body["properties"]["status"],
        "Completed",
        "{log}"
    );
    assert!(log.contains("rows=3"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_works_unmodified() {
    let Some(python) = emulator_support::sdk_python("the SDK conformance test") else {
        return;
    };
    let Some(azurite_bin) = emulator_support::azurite("the SDK conformance test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (azurite, running, _client) = start(&azurite_bin, dir.path(), |config| {
        config.tls = true;
        config.page_size = 2;
    })
    .await;
    put_blob(
        &storage_client(),
        &datastore_sas(&azurite.account()),
        "iris/iris.csv",
        "a\nb\nc\nd\n",
    )
    .await;
    let workdir = dir.path().join("work");
    std::fs::create_dir_all(&workdir).unwrap();

    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(&python)
            .arg(emulator_support::root().join("tests/sdk/conformance.py"))
            .current_dir(&workdir)
            .env("AMLOPS_EMULATOR_URL", running.url())
            .env("REQUESTS_CA_BUNDLE", running.cert_path().unwrap())
            .env("AMLOPS_WORKDIR", &workdir)
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the conformance script finishes within 10 minutes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("summary").cloned())
        .expect("a summary line");
    assert_eq!(summary["steps"], 9, "{stdout}");

    // What the SDK did, seen from the emulator's side.
    let job = summary["facts"]["job"].as_str().unwrap();
    let log =
        std::fs::read_to_string(dir.path().join(format!("data/runs/{job}/std_log.txt"))).unwrap();
    assert!(log.contains("conformance counted 4 rows"), "{log}");
    let local = summary["facts"]["local data job"].as_str().unwrap();
    let log =
        std::fs::read_to_string(dir.path().join(format!("data/runs/{local}/std_log.txt"))).unwrap();
    assert!(log.contains("local counted 6 rows"), "{log}");
    let requests = running.log();
    let count = |method: &str, needle: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path.contains(needle))
            .count()
    };
    assert_eq!(
        count("POST", "/startPendingUpload"),
        1,
        "the second job reused the code by hash"
    );
    assert!(count("GET", "computeOperationsStatus") >= 3);
    assert!(
        requests.iter().any(|r| r.query.contains_key("$skip")),
        "no list was paged"
    );
    assert!(requests.iter().any(|r| r.query.contains_key("hashVersion")));
    assert!(
        requests.iter().all(|r| r.status != 401 && r.status != 500),
        "{requests:?}"
    );
}

/// Sends raw bytes to the emulator and returns the first line of its answer.
async fn raw_status_line(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let read = stream.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_proxy_carries_the_blob_host_to_azurite_and_nothing_else() {
    let Some(azurite_bin) = emulator_support::azurite("the storage proxy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (azurite, running, client) =
        start(&azurite_bin, dir.path(), |config| config.tls = true).await;
    let account = azurite.account();
    put_blob(
        &storage_client(),
        &datastore_sas(&account),
        "notes/a.txt",
        "through the tunnel",
    )
    .await;

    let secrets = client
        .post("datastores/workspaceblobstore/listSecrets", None)
        .await;
    let sas = secrets.body["sasToken"].as_str().unwrap();
    let container = default_container(&Scope::local());
    let ca = std::fs::read(running.cert_path().unwrap()).unwrap();
    let proxied = reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(running.url().replace("https://", "http://")).unwrap())
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let url = format!(
        "https://devstoreaccount1.blob.storage.emulator.invalid/{container}/notes/a.txt?{sas}"
    );
    let answer = proxied
        .get(&url)
        .header("x-ms-version", "2021-08-06")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "through the tunnel");

    // Any other host is refused, and plain HTTP is for CONNECT only when TLS is on.
    for host in [
        "169.254.169.254:443",
        "devstoreaccount1.blob.core.windows.net:443",
    ] {
        let line = raw_status_line(
            running.address(),
            &format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 403"), "{host}: {line}");
    }
    let line = raw_status_line(
        running.address(),
        &format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", client.url("")),
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 400"), "{line}");
}
