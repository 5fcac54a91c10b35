//! The emulator's ARM contract, route by route: each happy path and its ARM error cases,
//! against an emulator running in this process on a free loopback port.

mod emulator_support;

use amlops::emulator::{self, Config, Fault, FaultRule, LroTiming, Running};
use amlops::scope::Scope;
use emulator_support::{API, Client, WORKSPACE, eventually};
use serde_json::{Value, json};

async fn start(configure: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Running, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"));
    // Operations finish on their second poll; the clock finishes them only after 5 s, so a
    // slow machine does not settle them behind a test's back.
    config.lro = LroTiming {
        polls: 1,
        retry_after: 5,
    };
    configure(&mut config);
    let running = emulator::spawn(config).await.unwrap();
    let client = Client::new(running.url(), running.cert_path());
    (dir, running, client)
}

fn data_version(uri: &str) -> Value {
    json!({"properties": {"dataType": "uri_file", "dataUri": uri, "tags": {}}})
}

fn compute(max: i64) -> Value {
    json!({"location": "local", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "STANDARD_DS3_V2",
        "scaleSettings": {"maxNodeCount": max, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT120S"}}}})
}

fn command_job(command: &str) -> Value {
    json!({"properties": {"jobType": "Command", "command": command, "environmentId": "azureml:env:1",
        "tags": {"team": "a"}, "properties": {"stage": "test"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_need_a_token_an_api_version_and_a_served_scope() {
    let (_dir, running, client) = start(|_| {}).await;
    let anonymous = client.http.get(client.url("")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("www-authenticate").is_some());

    let missing = client
        .get(&format!("{WORKSPACE}/data?listViewType=All"))
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_code(), "MissingApiVersionParameter");
    let malformed = client
        .get(&format!("{WORKSPACE}/data?api-version=latest"))
        .await;
    assert_eq!(malformed.error_code(), "InvalidApiVersionParameter");

    let other = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlops-local/providers/Microsoft.MachineLearningServices/workspaces/other/data";
    let unserved = client.get(other).await;
    assert_eq!(unserved.status, 404);
    assert_eq!(unserved.error_code(), "ResourceNotFound");

    let endpoints = client.get("onlineEndpoints/e").await;
    assert_eq!(
        (endpoints.status, endpoints.error_code()),
        (404, "InvalidResourceType")
    );
    let patch_data = client.patch("data/x", json!({})).await;
    assert_eq!(
        (patch_data.status, patch_data.error_code()),
        (405, "MethodNotAllowed")
    );

    let garbage = client
        .http
        .put(client.url("data/x/versions/1"))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestContent");

    // The workspace itself, with paths compared without regard to case.
    let workspace = client
        .get(&WORKSPACE.to_uppercase().replace("/LOCAL", "/local"))
        .await;
    assert_eq!(workspace.status, 200, "{}", workspace.body);
    assert_eq!(workspace.body["name"], "local");
    assert_eq!(
        workspace.body["properties"]["provisioningState"],
        "Succeeded"
    );
    assert!(workspace.header("x-ms-request-id").is_some());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastores_are_listed_read_and_written() {
    let (_dir, _running, client) = start(|_| {}).await;
    let (defaults, _) = client
        .list_all("datastores?api-version=2024-10-01&isDefault=true")
        .await;
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["name"], "workspaceblobstore");
    let one = client.get("datastores/workspaceblobstore").await;
    assert_eq!(one.body["properties"]["datastoreType"], "AzureBlob");
    let absent = client.get("datastores/nothing").await;
    assert_eq!((absent.status, absent.error_code()), (404, "UserError"));

    let put = client
        .put("datastores/extra", json!({"properties": {"datastoreType": "AzureBlob", "accountName": "a", "containerName": "c"}}))
        .await;
    assert_eq!(put.status, 201);
    let (named, _) = client
        .list_all("datastores?api-version=2024-10-01&names=extra")
        .await;
    assert_eq!(named.len(), 1);
    let no_properties = client.put("datastores/bad", json!({"x": 1})).await;
    assert_eq!(no_properties.status, 400);
    assert_eq!(no_properties.body["error"]["target"], "properties");

    let secrets = client
        .post("datastores/workspaceblobstore/listSecrets", None)
        .await;
    assert_eq!(
        secrets.status, 400,
        "no storage configured: {}",
        secrets.body
    );
    assert!(
        secrets.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("storage")
    );
    assert_eq!(client.delete("datastores/extra").await.status, 200);
    assert_eq!(client.delete("datastores/extra").await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_versions_keep_containers_and_stay_immutable() {
    let (_dir, _running, client) = start(|_| {}).await;
    let first = client
        .put(
            "data/iris/versions/1",
            data_version("azureml://datastores/workspaceblobstore/paths/a.csv"),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["name"], "1");
    assert_eq!(first.body["properties"]["isArchived"], false);
    assert_eq!(
        first.body["id"],
        format!("{WORKSPACE}/data/iris/versions/1")
    );
    let second = client
        .put(
            "data/iris/versions/2",
            data_version("azureml://datastores/workspaceblobstore/paths/b.csv"),
        )
        .await;
    assert_eq!(second.status, 201);
    let container = client.get("data/iris").await;
    assert_eq!(container.body["properties"]["latestVersion"], "2");
    assert_eq!(container.body["properties"]["nextVersion"], "3");

    let mut retagged = data_version("azureml://datastores/workspaceblobstore/paths/a.csv");
    retagged["properties"]["tags"] = json!({"stage": "prod"});
    let updated = client.put("data/iris/versions/1", retagged).await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["properties"]["tags"]["stage"], "prod");

    let moved = client
        .put(
            "data/iris/versions/1",
            data_version("azureml://datastores/workspaceblobstore/paths/c.csv"),
        )
        .await;
    assert_eq!((moved.status, moved.error_code()), (409, "UserError"));
    let kept = client.get("data/iris/versions/1").await;
    assert_eq!(
        kept.body["properties"]["dataUri"],
        "azureml://datastores/workspaceblobstore/paths/a.csv"
    );

    let invalid = client
        .put(
            "data/iris/versions/3",
            json!({"properties": {"dataType": "uri_file"}}),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["error"]["target"], "properties.dataUri");
    assert!(
        invalid.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("properties.dataUri")
    );
    let wrong_type = client
        .put(
            "data/iris/versions/3",
            json!({"properties": {"dataType": "parquet", "dataUri": "x"}}),
        )
        .await;
    assert_eq!(wrong_type.body["error"]["target"], "properties.dataType");

    let absent = client.get("data/iris/versions/9").await;
    assert_eq!((absent.status, absent.error_code()), (404, "UserError"));
    assert_eq!(absent.body["error"]["details"][0]["code"], "NotFound");

    let (tagged, _) = client
        .list_all(&format!("data/iris/versions?{API}&$tags=stage=prod"))
        .await;
    assert_eq!(tagged.len(), 1);
    let (newest, _) = client
        .list_all(&format!(
            "data/iris/versions?{API}&$orderBy=createdtime%20desc&$top=1"
        ))
        .await;
    assert_eq!(newest[0]["name"], "2");

    let retyped = client
        .put(
            "data/iris",
            json!({"properties": {"dataType": "uri_folder"}}),
        )
        .await;
    assert_eq!((retyped.status, retyped.error_code()), (409, "UserError"));
    let untyped = client
        .put("data/new", json!({"properties": {"description": "d"}}))
        .await;
    assert_eq!(untyped.body["error"]["target"], "properties.dataType");
    let described = client
        .put("data/iris", json!({"properties": {"dataType": "uri_file", "description": "flowers", "latestVersion": "7"}}))
        .await;
    assert_eq!(described.status, 200);
    assert_eq!(described.body["properties"]["description"], "flowers");
    assert_eq!(
        described.body["properties"]["latestVersion"], "2",
        "read-only fields stay the service's"
    );
    let no_container = client.get("data/nothing").await;
    assert_eq!(
        (no_container.status, no_container.error_code()),
        (404, "UserError")
    );
    let (containers, _) = client.list_all("data").await;
    assert_eq!(containers.len(), 1);
    let (versions, _) = client.list_all("data/nothing/versions").await;
    assert!(versions.is_empty());

    assert_eq!(client.delete("data/iris/versions/2").await.status, 200);
    assert_eq!(
        client.get("data/iris").await.body["properties"]["latestVersion"],
        "1"
    );
    assert_eq!(client.delete("data/iris/versions/2").await.status, 204);
    assert_eq!(client.delete("data/iris").await.status, 200);
    assert_eq!(client.get("data/iris/versions/1").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_hides_and_restoring_shows() {
    let (_dir, _running, client) = start(|_| {}).await;
    let environment = json!({"properties": {"image": "python:3.11-slim", "tags": {}}});
    assert_eq!(
        client
            .put("environments/py/versions/1", environment.clone())
            .await
            .status,
        201
    );
    let mut archived = environment.clone();
    archived["properties"]["isArchived"] = json!(true);
    assert_eq!(
        client
            .put("environments/py/versions/1", archived)
            .await
            .status,
        200
    );
    let (active, _) = client.list_all("environments/py/versions").await;
    assert!(active.is_empty());
    let (all, _) = client
        .list_all(&format!("environments/py/versions?{API}&listViewType=All"))
        .await;
    assert_eq!(all.len(), 1);
    let (only, _) = client
        .list_all(&format!(
            "environments/py/versions?{API}&listViewType=ArchivedOnly"
        ))
        .await;
    assert_eq!(only.len(), 1);
    assert_eq!(client.get("environments/py/versions/1").await.status, 200);
    assert_eq!(
        client
            .put("environments/py/versions/1", environment)
            .await
            .status,
        200
    );
    let (restored, _) = client.list_all("environments/py/versions").await;
    assert_eq!(restored.len(), 1);

    // A container archived hides its versions; restored, they come back.
    let container = client.get("environments/py").await.body;
    let mut hidden = container.clone();
    hidden["properties"]["isArchived"] = json!(true);
    assert_eq!(client.put("environments/py", hidden).await.status, 200);
    let (containers, _) = client.list_all("environments").await;
    assert!(containers.is_empty());
    assert!(
        client
            .list_all("environments/py/versions")
            .await
            .0
            .is_empty()
    );
    let mut shown = container;
    shown["properties"]["isArchived"] = json!(false);
    assert_eq!(client.put("environments/py", shown).await.status, 200);
    assert_eq!(client.list_all("environments").await.0.len(), 1);
    assert_eq!(
        client.get("environments/py").await.body["properties"]["latestVersion"],
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_next_links() {
    let (_dir, running, client) = start(|config| config.page_size = 2).await;
    for name in ["a", "b", "c", "d", "e"] {
        let body = json!({"properties": {"image": format!("{name}:1")}});
        assert_eq!(
            client
                .put(&format!("environments/{name}/versions/1"), body)
                .await
                .status,
            201
        );
    }
    running.clear_log();
    let (items, pages) = client
        .list_all(&format!("environments?{API}&listViewType=All"))
        .await;
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    let log = running.log();
    assert_eq!(log.len(), 3);
    assert!(log[1].query.contains_key("$skip"));
    assert_eq!(log[1].query["listViewType"], "All");
    let bad = client
        .get(&format!("environments?{API}&$skip=nonsense"))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_found_by_hash_and_components_keep_their_spec() {
    let (_dir, _running, client) = start(|_| {}).await;
    let code = json!({"properties": {"codeUri": "https://acct.blob.core.windows.net/c/src",
        "isAnonymous": true, "properties": {"hash_sha256": "abc123", "hash_version": 202208}}});
    assert_eq!(client.put("codes/5e1f/versions/1", code).await.status, 201);
    let (found, _) = client
        .list_all(&format!(
            "codes/another-name/versions?{API}&hash=abc123&hashVersion=202208"
        ))
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], format!("{WORKSPACE}/codes/5e1f/versions/1"));
    let (none, _) = client
        .list_all(&format!(
            "codes/x/versions?{API}&hash=zzz&hashVersion=202208"
        ))
        .await;
    assert!(none.is_empty());

    let component = |command: &str| json!({"properties": {"componentSpec": {"name": "train", "type": "command", "command": command}}});
    assert_eq!(
        client
            .put("components/train/versions/1", component("python a.py"))
            .await
            .status,
        201
    );
    let changed = client
        .put("components/train/versions/1", component("python b.py"))
        .await;
    assert_eq!((changed.status, changed.error_code()), (409, "UserError"));
    let invalid = client
        .put(
            "components/train/versions/2",
            json!({"properties": {"componentSpec": {}, "isAnonymous": [true]}}),
        )
        .await;
    assert_eq!(invalid.body["error"]["target"], "properties.isAnonymous");
    let container = client.get("components/train").await;
    assert_eq!(container.body["properties"]["latestVersion"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_uploads_need_storage() {
    let (_dir, _running, client) = start(|_| {}).await;
    let refused = client
        .post(
            "codes/c/versions/1/startPendingUpload",
            Some(json!({"pendingUploadType": "TemporaryBlobReference"})),
        )
        .await;
    assert_eq!((refused.status, refused.error_code()), (400, "UserError"));
    let invalid = client
        .post(
            "codes/c/versions/1/startPendingUpload",
            Some(json!({"pendingUploadType": "Permanent"})),
        )
        .await;
    assert_eq!(invalid.body["error"]["target"], "pendingUploadType");
}

/// Polls an `Azure-AsyncOperation` URL until it is terminal; returns the statuses seen.
async fn follow(client: &Client, url: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..50 {
        let status = client.get(url).await;
        assert_eq!(status.status, 200, "{}", status.body);
        let text = status.body["status"].as_str().unwrap().to_owned();
        seen.push(text.clone());
        if text != "InProgress" {
            return seen;
        }
    }
    panic!("the operation never finished: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computes_are_long_running_operations() {
    let (_dir, _running, client) = start(|_| {}).await;
    let created = client.put("computes/cpu-cluster", compute(2)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["properties"]["provisioningState"], "Creating");
    assert_eq!(created.header("retry-after"), Some("5"));
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    assert!(operation.starts_with(&client.base), "{operation}");
    assert_eq!(
        client.get("computes/cpu-cluster").await.body["properties"]["provisioningState"],
        "Creating"
    );
    let busy = client.put("computes/cpu-cluster", compute(2)).await;
    assert_eq!((busy.status, busy.error_code()), (409, "Conflict"));
    assert_eq!(
        follow(&client, &operation).await,
        vec!["InProgress", "Succeeded"]
    );
    let settled = client.get("computes/cpu-cluster").await;
    assert_eq!(settled.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        settled.body["properties"]["properties"]["allocationState"],
        "Steady"
    );

    let mut resized = compute(2);
    resized["properties"]["properties"]["vmSize"] = json!("STANDARD_NC6");
    let refused = client.put("computes/cpu-cluster", resized).await;
    assert_eq!((refused.status, refused.error_code()), (409, "Conflict"));
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vmSize")
    );

    let scale = json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 4, "minNodeCount": 1}}}});
    let patched = client.patch("computes/cpu-cluster", scale.clone()).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["properties"]["provisioningState"], "Updating");
    assert!(patched.header("location").is_some());
    follow(&client, patched.header("azure-asyncoperation").unwrap()).await;
    let scaled = client.get("computes/cpu-cluster").await;
    assert_eq!(
        scaled.body["properties"]["properties"]["scaleSettings"]["maxNodeCount"],
        4
    );
    assert_eq!(scaled.body["properties"]["provisioningState"], "Succeeded");

    let bad_scale = client
        .patch(
            "computes/cpu-cluster",
            json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": "many"}}}}),
        )
        .await;
    assert_eq!(
        bad_scale.body["error"]["target"],
        "properties.properties.scaleSettings.maxNodeCount"
    );
    let missing = client.patch("computes/nothing", scale).await;
    assert_eq!((missing.status, missing.error_code()), (404, "UserError"));
    let bad_name = client.put("computes/x", compute(1)).await;
    assert_eq!(bad_name.status, 400);
    let no_type = client
        .put("computes/gpu-cluster", json!({"properties": {}}))
        .await;
    assert_eq!(no_type.body["error"]["target"], "properties.computeType");

    let no_action = client.delete("computes/cpu-cluster").await;
    assert_eq!(no_action.status, 400);
    assert_eq!(
        no_action.body["error"]["target"],
        "underlyingResourceAction"
    );
    let deleting = client
        .delete(&format!(
            "computes/cpu-cluster?{API}&underlyingResourceAction=Delete"
        ))
        .await;
    assert_eq!(deleting.status, 202);
    let location = deleting.header("location").unwrap().to_owned();
    let first = client.get(&location).await;
    assert_eq!(first.status, 202);
    assert!(first.header("retry-after").is_some());
    let done = client.get(&location).await;
    assert_eq!(done.status, 204);
    assert_eq!(client.get("computes/cpu-cluster").await.status, 404);
    let again = client
        .delete(&format!(
            "computes/cpu-cluster?{API}&underlyingResourceAction=Delete"
        ))
        .await;
    assert_eq!(again.status, 204);
    let unknown = client
        .get(&format!("/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.MachineLearningServices/locations/local/computeOperationsStatus/nope?{API}"))
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computes_settle_without_polls() {
    let (_dir, _running, client) = start(|config| config.lro.retry_after = 0).await;
    assert_eq!(
        client.put("computes/cpu-cluster", compute(2)).await.status,
        201
    );
    let settled = eventually(5, || async {
        client.get("computes/cpu-cluster").await.body["properties"]["provisioningState"]
            == "Succeeded"
    })
    .await;
    assert!(settled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_jobs_run_to_a_terminal_state() {
    let (dir, _running, client) = start(|_| {}).await;
    let created = client
        .put("jobs/hello-1", command_job("echo hello from the emulator"))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["properties"]["status"], "NotStarted");
    let mut statuses: Vec<String> = Vec::new();
    let mut finished = false;
    for _ in 0..400 {
        let status = client.get("jobs/hello-1").await.body["properties"]["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if statuses.last() != Some(&status) {
            statuses.push(status.clone());
        }
        if status == "Completed" {
            finished = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(finished, "statuses seen: {statuses:?}");
    let log = std::fs::read_to_string(dir.path().join("data/runs/hello-1/std_log.txt")).unwrap();
    assert!(log.contains("hello from the emulator"), "{log}");

    let mut changed = command_job("echo other");
    changed["properties"]["tags"] = json!({});
    let refused = client.put("jobs/hello-1", changed).await;
    assert_eq!((refused.status, refused.error_code()), (409, "UserError"));
    let mut retagged = command_job("echo hello from the emulator");
    retagged["properties"]["tags"] = json!({"team": "b"});
    assert_eq!(client.put("jobs/hello-1", retagged).await.status, 200);

    let absent = client.get("jobs/never-submitted").await;
    assert_eq!((absent.status, absent.error_code()), (404, "UserError"));
    let invalid = client
        .put(
            "jobs/bad",
            json!({"properties": {"jobType": "Command", "environmentId": "e"}}),
        )
        .await;
    assert_eq!(invalid.body["error"]["target"], "properties.command");
    let sweep = json!({"properties": {"jobType": "Sweep", "tags": {"team": "a"}}});
    assert_eq!(client.put("jobs/sweep-1", sweep).await.status, 201);

    let (all, _) = client.list_all("jobs").await;
    assert_eq!(all.len(), 2);
    let (commands, _) = client
        .list_all(&format!("jobs?{API}&jobType=Command"))
        .await;
    assert_eq!(commands.len(), 1);
    let (team_b, _) = client.list_all(&format!("jobs?{API}&tag=team=b")).await;
    assert_eq!(team_b.len(), 1);
    let (staged, _) = client
        .list_all(&format!("jobs?{API}&properties=stage=test"))
        .await;
    assert_eq!(staged.len(), 1);
    assert_eq!(
        client.get("jobs/sweep-1").await.body["properties"]["status"],
        "NotStarted"
    );

    let deleted = client.delete("jobs/sweep-1").await;
    assert_eq!(deleted.status, 202);
    let location = deleted.header("location").unwrap().to_owned();
    assert!(eventually(5, || async { client.get(&location).await.status == 204 }).await);
    assert_eq!(client.get("jobs/sweep-1").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_cancel() {
    let (_dir, _running, client) = start(|_| {}).await;
    assert_eq!(
        client
            .put("jobs/sleepy", command_job("sleep 30"))
            .await
            .status,
        201
    );
    assert!(
        eventually(20, || async {
            client.get("jobs/sleepy").await.body["properties"]["status"] == "Running"
        })
        .await
    );
    let cancel = client.post("jobs/sleepy/cancel", None).await;
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    let location = cancel.header("location").unwrap().to_owned();
    assert!(eventually(20, || async { client.get(&location).await.status != 202 }).await);
    assert_eq!(
        client.get("jobs/sleepy").await.body["properties"]["status"],
        "Canceled"
    );

    let missing = client.post("jobs/nothing/cancel", None).await;
    assert_eq!((missing.status, missing.error_code()), (404, "UserError"));
    let sweep = json!({"properties": {"jobType": "Sweep"}});
    assert_eq!(client.put("jobs/waiting", sweep).await.status, 201);
    assert_eq!(client.post("jobs/waiting/cancel", None).await.status, 202);
    assert_eq!(
        client.get("jobs/waiting").await.body["properties"]["status"],
        "Canceled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_and_registries_are_served_apart() {
    let other = Scope::workspace("11111111-1111-1111-1111-111111111111", "rg", "team");
    let registry = Scope::Registry {
        subscription: "11111111-1111-1111-1111-111111111111".into(),
        resource_group: "rg".into(),
        registry: "shared".into(),
    };
    let (_dir, _running, client) = start(|config| {
        config.workspaces.push(other.clone());
        config.registries.push(registry.clone());
    })
    .await;
    let version = data_version("https://example.invalid/a.csv");
    assert_eq!(
        client
            .put("data/d/versions/1", version.clone())
            .await
            .status,
        201
    );
    assert_eq!(
        client
            .get(&format!("{}/data/d/versions/1", other.id()))
            .await
            .status,
        404
    );
    assert_eq!(client.get(&other.id()).await.body["name"], "team");

    let in_registry = client
        .put(&format!("{}/data/d/versions/1", registry.id()), version)
        .await;
    assert_eq!(in_registry.status, 201);
    let operation = in_registry
        .header("azure-asyncoperation")
        .unwrap()
        .to_owned();
    assert_eq!(
        follow(&client, &operation).await.last().unwrap(),
        "Succeeded"
    );
    assert_eq!(
        client.get(&registry.id()).await.body["type"],
        "Microsoft.MachineLearningServices/registries"
    );
    assert_eq!(
        client
            .get(&format!("{}/computes", registry.id()))
            .await
            .status,
        404
    );
    let discovery = client
        .get("/registrymanagement/v1.0/registries/shared/discovery")
        .await;
    assert_eq!(discovery.body["resourceGroup"], "rg");
    let deleting = client
        .delete(&format!("{}/data/d/versions/1", registry.id()))
        .await;
    assert_eq!(deleting.status, 202);
    let location = deleting.header("location").unwrap().to_owned();
    assert!(eventually(5, || async { client.get(&location).await.status == 204 }).await);
    assert_eq!(
        client
            .get(&format!("{}/data/d/versions/1", registry.id()))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_injected_per_request_pattern() {
    let (_dir, running, client) = start(|config| {
        config.faults = vec![
            FaultRule::new(Fault::Throttle { retry_after: 7 })
                .method("PUT")
                .path("/data/")
                .times(1),
        ];
    })
    .await;
    let version = data_version("azureml://datastores/workspaceblobstore/paths/a.csv");
    let throttled = client.put("data/a/versions/1", version.clone()).await;
    assert_eq!(
        (throttled.status, throttled.error_code()),
        (429, "TooManyRequests")
    );
    assert_eq!(throttled.header("retry-after"), Some("7"));
    assert_eq!(
        client
            .put("data/a/versions/1", version.clone())
            .await
            .status,
        201
    );

    running
        .set_faults(vec![
            FaultRule::new(Fault::Error { status: 503 })
                .path("/environments")
                .times(1),
            FaultRule::new(Fault::Error { status: 500 })
                .path("/environments")
                .times(1),
            FaultRule::new(Fault::Conflict)
                .method("PUT")
                .path("/codes/"),
            FaultRule::new(Fault::Latency { ms: 300 }).path("/datastores$"),
            FaultRule::new(Fault::Drop).path("/jobs$").after(1).times(1),
        ])
        .unwrap();
    let unavailable = client.get("environments").await;
    assert_eq!(
        (unavailable.status, unavailable.error_code()),
        (503, "ServiceUnavailable")
    );
    assert!(unavailable.header("retry-after").is_some());
    assert_eq!(
        client.get("environments").await.error_code(),
        "InternalServerError"
    );
    assert_eq!(client.get("environments").await.status, 200);
    let conflict = client
        .put("codes/c/versions/1", json!({"properties": {}}))
        .await;
    assert_eq!((conflict.status, conflict.error_code()), (409, "Conflict"));
    let slow = std::time::Instant::now();
    assert_eq!(client.get("datastores").await.status, 200);
    assert!(slow.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(client.get("jobs").await.status, 200);
    let dropped = client
        .http
        .get(client.url("jobs"))
        .bearer_auth("t")
        .send()
        .await;
    assert!(dropped.is_err(), "the connection should have been dropped");
    assert_eq!(client.get("jobs").await.status, 200);

    let log = running.log();
    let faults: Vec<(String, u16)> = log
        .iter()
        .filter_map(|entry| Some((entry.fault.clone()?, entry.status)))
        .collect();
    assert_eq!(
        faults,
        vec![
            ("throttle".to_owned(), 429),
            ("error-503".to_owned(), 503),
            ("error-500".to_owned(), 500),
            ("conflict".to_owned(), 409),
            ("latency".to_owned(), 200),
            ("drop".to_owned(), 0),
        ]
    );
    assert!(
        log.iter()
            .any(|e| e.fault.as_deref() == Some("latency") && e.duration_ms >= 300)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_running_operations_can_end_failed() {
    let (_dir, _running, client) = start(|config| {
        config.faults = vec![
            FaultRule::new(Fault::LroFailed)
                .method("PUT")
                .path("/computes/"),
        ];
    })
    .await;
    let created = client.put("computes/cpu-cluster", compute(2)).await;
    assert_eq!(created.status, 201);
    let statuses = follow(&client, created.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(statuses.last().unwrap(), "Failed");
    let failed = client.get("computes/cpu-cluster").await;
    assert_eq!(failed.body["properties"]["provisioningState"], "Failed");
    assert!(failed.body["properties"]["provisioningErrors"][0]["error"]["code"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_drive_faults_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("requests.jsonl");
    let (_keep, running, client) =
        start(|config| config.request_log = Some(log_file.clone())).await;
    let admin = |path: &str| format!("{}/_emulator/{path}", running.url());
    let set = client
        .http
        .put(admin("faults"))
        .body(r#"{"faults": [{"fault": "error", "status": 503, "path": "/data$", "times": 1}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let refused = client
        .http
        .put(admin("faults"))
        .body(r#"{"faults": [{"fault": "nap"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(client.get("data").await.status, 503);
    assert_eq!(client.get("data").await.status, 200);
    let listed: Value = client
        .http
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = listed["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["status"], 503);
    assert_eq!(requests[1]["query"]["api-version"], "2025-12-01");
    assert_eq!(
        client
            .http
            .delete(admin("requests"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(running.log().is_empty());
    let file = std::fs::read_to_string(&log_file).unwrap();
    assert_eq!(file.lines().count(), 2);
    let faults: Value = client
        .http
        .get(admin("faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["faults"][0]["status"], 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_restarts_and_local_workspaces_are_served() {
    use amlops::backend::Backend as _;
    use amlops::backend::local::LocalWorkspace;

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join(".amlops");
    let local = LocalWorkspace::open(&data_dir, Scope::local()).unwrap();
    let request = amlops::plan::Request {
        method: "PUT".into(),
        path: Scope::local().resource_id("data/applied/versions/1"),
        api_version: "2023-04-01-preview".into(),
        body: Some(data_version(
            "azureml://datastores/workspaceblobstore/paths/x.csv",
        )),
        secret_body: None,
    };
    local.send(&request).await.unwrap();
    drop(local);

    let mut config = Config::new(&data_dir);
    config.tls = true;
    let running = emulator::spawn(config.clone()).await.unwrap();
    let ca = std::fs::read(running.cert_path().unwrap()).unwrap();
    let client = Client::new(running.url(), running.cert_path());
    assert!(client.url("").starts_with("https://127.0.0.1:"));
    assert_eq!(client.get("data/applied/versions/1").await.status, 200);
    assert_eq!(
        client
            .put(
                "environments/e/versions/1",
                json!({"properties": {"image": "i"}})
            )
            .await
            .status,
        201
    );
    running.shutdown().await;

    let again = emulator::spawn(config).await.unwrap();
    assert_eq!(std::fs::read(again.cert_path().unwrap()).unwrap(), ca);
    let client = Client::new(again.url(), again.cert_path());
    assert_eq!(
        client.get("environments/e/versions/1").await.body["properties"]["image"],
        "i"
    );
}

/// Every request body the official SDK sends for the corpus (the oracle's golden files) passes
/// the emulator's validation: it is no stricter than the service.
#[test]
fn the_sdk_request_bodies_pass_validation() {
    use amlops::emulator::routes::{self, Route};
    use amlops::emulator::validate;

    let golden = emulator_support::root().join("../shared/oracle/golden");
    if !golden.exists() {
        eprintln!("skipping: {} is absent", golden.display());
        return;
    }
    let served = [Scope::workspace(
        "00000000-0000-0000-0000-000000000000",
        "oracle-rg",
        "oracle-ws",
    )];
    let mut files = vec![golden];
    let (mut checked, mut failures) = (0, Vec::new());
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let requests = ["prior_requests", "later_requests"]
            .iter()
            .flat_map(|k| golden[*k].as_array().cloned().unwrap_or_default())
            .chain(golden.get("request").cloned());
        for request in requests {
            let (Some(method), Some(url), Some(body)) = (
                request["method"].as_str(),
                request["path"].as_str(),
                request.get("body").filter(|b| !b.is_null()),
            ) else {
                continue;
            };
            let Route::Scoped { scope, relative } = routes::route(&served, url) else {
                continue;
            };
            let target = routes::target(&scope, &relative);
            let Some(definition) = validate::definition_for(&target, method) else {
                continue;
            };
            checked += 1;
            let preview = request["api_version"]
                .as_str()
                .is_some_and(|v| v.ends_with("-preview"));
            if let Err(invalid) = validate::check_for_version(definition, body, preview) {
                failures.push(format!("{}: {}", path.display(), invalid.message));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked > 400, "only {checked} bodies checked");
}
