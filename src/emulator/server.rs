//! The HTTP(S) server: connections, the shared state, faults, headers, the request log and
//! the admin endpoints.
//!
//! Admin endpoints live under `/_emulator/` on the same loopback server; they need no token,
//! are never logged and never get faults:
//! - `GET /_emulator/requests` → `{"requests": [...]}`; `DELETE` empties the log.
//! - `GET /_emulator/faults` → `{"faults": [...]}`; `PUT` replaces the rules (same JSON as
//!   the fault file).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::arm::{self, ArmRequest};
use super::faults::{Fault, FaultFile, Faults};
use super::operations::{self, Effect, Operation, Operations};
use super::reply::Reply;
use super::requests::{self, LoggedRequest, RequestLog};
use super::storage::BlobClient;
use super::{Config, EmulatorError, Result, jobs};
use crate::backend::local::store::Store;
use crate::backend::local::{DEFAULT_DATASTORE, service};
use crate::scope::Scope;

/// The largest request body accepted (uploads go to Azurite, not here).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The storage suffix of the emulator's cloud metadata (`.invalid` never resolves).
pub const STORAGE_SUFFIX: &str = "storage.emulator.invalid";

/// Everything requests share.
pub struct State {
    pub config: Config,
    /// The URL clients reach this emulator at.
    pub base_url: String,
    store: Arc<Mutex<Store>>,
    pub faults: Faults,
    pub log: RequestLog,
    operations: Mutex<Operations>,
    pub blobs: Option<BlobClient>,
    pub jobs: jobs::Jobs,
    /// TLS for HTTPS and for the storage proxy's tunnels.
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl State {
    /// Opens the store, creates what every served workspace has (its default datastore) and
    /// settles what a previous run left half-done.
    pub async fn open(
        config: Config,
        base_url: String,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) -> Result<Self> {
        let mut store = Store::open(&config.data_dir)?;
        let blobs = config.storage.clone().map(BlobClient::new).transpose()?;
        for scope in &config.workspaces {
            create_default_datastore(&mut store, scope)?;
        }
        for scope in config.scopes() {
            operations::settle_leftovers(&mut store, scope)?;
        }
        if let Some(blobs) = &blobs {
            for scope in &config.workspaces {
                blobs
                    .create_container(&default_container(scope))
                    .await
                    .map_err(EmulatorError::Config)?;
            }
        }
        let store = Arc::new(Mutex::new(store));
        let faults = Faults::new(config.faults.clone()).map_err(EmulatorError::Config)?;
        let jobs = jobs::Jobs::new(
            config.data_dir.clone(),
            store.clone(),
            blobs.clone(),
            config.run_jobs,
        );
        Ok(State {
            operations: Mutex::new(Operations::new(config.lro.polls, config.lro.retry_after)),
            log: RequestLog::new(config.request_log.clone()),
            config,
            base_url,
            store,
            faults,
            blobs,
            jobs,
            acceptor,
        })
    }

    /// Picks up the jobs a previous run left waiting.
    pub fn resume_jobs(&self) {
        for scope in &self.config.workspaces {
            if let Err(e) = self.jobs.resume(scope) {
                tracing::warn!(scope = %scope, error = %e, "cannot resume jobs");
            }
        }
    }

    pub fn read<T>(
        &self,
        read: impl FnOnce(&Store) -> crate::backend::Result<T>,
    ) -> crate::backend::Result<T> {
        read(&self.store.lock().expect("store lock"))
    }

    pub fn write<T>(
        &self,
        write: impl FnOnce(&mut Store) -> crate::backend::Result<T>,
    ) -> crate::backend::Result<T> {
        write(&mut self.store.lock().expect("store lock"))
    }

    /// Finishes operations whose time has come, before a request reads their objects.
    pub fn settle_operations(&self) -> std::result::Result<(), Reply> {
        let mut operations = self.operations.lock().expect("operations lock");
        self.write(|store| operations.finish_due(store))
            .map_err(Reply::from)
    }

    pub fn start_operation(&self, scope: &Scope, path: &str, effect: Effect, fail: bool) -> String {
        self.operations
            .lock()
            .expect("operations lock")
            .start(scope, path, effect, fail)
    }

    pub fn poll_operation(&self, id: &str) -> crate::backend::Result<Option<Operation>> {
        let mut operations = self.operations.lock().expect("operations lock");
        self.write(|store| operations.poll(store, id))
    }

    pub fn busy(&self, scope: &Scope, path: &str) -> bool {
        self.operations
            .lock()
            .expect("operations lock")
            .busy(scope, path)
    }

    /// The URL of an operation's status (`result` false) or result (`result` true).
    pub fn operation_url(&self, scope: &Scope, id: &str, kind: &str, result: bool) -> String {
        let leaf = if result {
            format!("{kind}OperationResults")
        } else {
            format!("{kind}OperationsStatus")
        };
        format!(
            "{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{}/{leaf}/{id}?api-version=2025-12-01",
            self.base_url,
            scope.subscription(),
            self.config.location
        )
    }

    /// Adds the headers of a long-running operation to its first answer.
    pub fn operation_headers(
        &self,
        reply: Reply,
        scope: &Scope,
        id: &str,
        kind: &str,
        async_operation: bool,
        location: bool,
    ) -> Reply {
        let mut reply = reply.header("Retry-After", self.config.lro.retry_after.to_string());
        if async_operation {
            reply = reply.header(
                "Azure-AsyncOperation",
                self.operation_url(scope, id, kind, false),
            );
        }
        if location {
            reply = reply.header("Location", self.operation_url(scope, id, kind, true));
        }
        reply
    }

    /// One page of a list, with a `nextLink` when more follow. The continuation token is
    /// opaque to clients: they follow `nextLink` as it is.
    pub fn page(&self, request: &ArmRequest, items: Vec<Value>) -> Reply {
        let offset = match request.param("$skip").map(decode_skip) {
            None => 0,
            Some(Some(offset)) => offset,
            Some(None) => {
                return Reply::fail(400, "BadRequest", "the $skip continuation token is invalid");
            }
        };
        let size = self.config.page_size;
        let page: Vec<Value> = items.iter().skip(offset).take(size).cloned().collect();
        let mut body = json!({ "value": page });
        if offset + size < items.len() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (key, value) in request.query.iter().filter(|(k, _)| k != "$skip") {
                query.append_pair(key, value);
            }
            query.append_pair("$skip", &encode_skip(offset + size));
            body["nextLink"] = json!(format!(
                "{}{}?{}",
                self.base_url,
                request.path,
                query.finish()
            ));
        }
        Reply::json(200, body)
    }

    /// The body of `GET` on a workspace or registry.
    pub fn scope_body(&self, scope: &Scope) -> Value {
        let id = scope.id();
        let guid = uuid::Uuid::new_v3(
            &uuid::Uuid::NAMESPACE_URL,
            id.to_ascii_lowercase().as_bytes(),
        );
        let location = &self.config.location;
        let group = format!(
            "/subscriptions/{}/resourceGroups/{}/providers",
            scope.subscription(),
            scope.resource_group()
        );
        let name = scope.name();
        let system = json!({
            "createdAt": "2026-01-01T00:00:00Z", "createdBy": "amlops", "createdByType": "Application",
            "lastModifiedAt": "2026-01-01T00:00:00Z", "lastModifiedBy": "amlops", "lastModifiedByType": "Application",
        });
        if scope.is_registry() {
            return json!({
                "id": id, "name": name, "type": "Microsoft.MachineLearningServices/registries",
                "location": location, "tags": {}, "systemData": system,
                "identity": {"type": "SystemAssigned", "principalId": guid.to_string(), "tenantId": crate::scope::LOCAL_SUBSCRIPTION},
                "properties": {
                    "discoveryUrl": format!("{}/registrymanagement/v1.0/registries/{name}/discovery", self.base_url),
                    "mlFlowRegistryUri": format!("azureml://{location}.api.azureml.ms/mlflow/v1.0{id}"),
                    "intellectualPropertyPublisher": null,
                    "publicNetworkAccess": "Enabled",
                    "regionDetails": [{"location": location, "acrDetails": [], "storageAccountDetails": []}],
                },
            });
        }
        json!({
            "id": id, "name": name, "type": "Microsoft.MachineLearningServices/workspaces",
            "location": location, "kind": "Default", "tags": {}, "systemData": system,
            "sku": {"name": "Basic", "tier": "Basic"},
            "identity": {"type": "SystemAssigned", "principalId": guid.to_string(), "tenantId": crate::scope::LOCAL_SUBSCRIPTION},
            "properties": {
                "friendlyName": name,
                "workspaceId": guid.to_string(),
                "provisioningState": "Succeeded",
                "storageAccount": self.storage_account_id(scope),
                "keyVault": format!("{group}/Microsoft.KeyVault/vaults/{name}-keyvault"),
                "applicationInsights": format!("{group}/Microsoft.insights/components/{name}-insights"),
                "containerRegistry": null,
                "discoveryUrl": format!("{}/discovery", self.base_url),
                "mlFlowTrackingUri": format!("azureml://{location}.api.azureml.ms/mlflow/v1.0{id}"),
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": false,
                "hbiWorkspace": false,
                "enableDataIsolation": false,
            },
        })
    }

    /// The ARM id of the storage account blobs go to.
    pub fn storage_account_id(&self, scope: &Scope) -> String {
        let account = self
            .blobs
            .as_ref()
            .map_or("local", |b| b.account().account.as_str());
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{account}",
            scope.subscription(),
            scope.resource_group()
        )
    }

    pub fn storage_suffix(&self) -> &'static str {
        STORAGE_SUFFIX
    }

    /// A datastore as the emulator serves it (see [`present_datastore`]).
    pub fn present_datastore(&self, scope: &Scope, datastore: Value) -> Value {
        present_datastore(
            scope,
            datastore,
            self.blobs.as_ref().map(BlobClient::account),
        )
    }
}

/// A datastore as the emulator serves it: the default one points at the emulator's storage
/// account, whatever the store recorded (a local workspace records its folder).
pub fn present_datastore(
    scope: &Scope,
    mut datastore: Value,
    account: Option<&super::storage::StorageAccount>,
) -> Value {
    let is_default = datastore
        .pointer("/properties/isDefault")
        .and_then(Value::as_bool)
        == Some(true)
        || datastore.get("name").and_then(Value::as_str) == Some(DEFAULT_DATASTORE);
    if let (true, Some(account)) = (is_default, account)
        && let Some(properties) = datastore
            .get_mut("properties")
            .and_then(Value::as_object_mut)
    {
        properties.insert("accountName".into(), json!(account.account));
        properties.insert("containerName".into(), json!(default_container(scope)));
        properties.insert("endpoint".into(), json!(STORAGE_SUFFIX));
        properties.insert("protocol".into(), json!("https"));
        properties.insert("credentials".into(), json!({"credentialsType": "Sas"}));
    }
    datastore
}

/// The default datastore's container: `azureml-blobstore-<workspace id>`, as Azure names it.
pub fn default_container(scope: &Scope) -> String {
    let guid = uuid::Uuid::new_v3(
        &uuid::Uuid::NAMESPACE_URL,
        scope.id().to_ascii_lowercase().as_bytes(),
    );
    format!("azureml-blobstore-{guid}")
}

fn create_default_datastore(store: &mut Store, scope: &Scope) -> Result<()> {
    let path = format!("datastores/{DEFAULT_DATASTORE}");
    if store.get(&scope.id(), &path)?.is_some() {
        return Ok(());
    }
    let body = json!({"properties": {
        "datastoreType": "AzureBlob",
        "accountName": "local",
        "containerName": default_container(scope),
        "endpoint": "local",
        "protocol": "file",
        "isDefault": true,
        "credentials": {"credentialsType": "None"},
    }});
    service::put(store, scope, &path, &body, &service::now())?;
    Ok(())
}

fn encode_skip(offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_skip(token: &str) -> Option<usize> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

/// Accepts connections until `shutdown` turns true. With TLS on, a connection that does not
/// start with a TLS handshake is plain HTTP, which only the storage proxy's CONNECT may use.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(connection(stream, state.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

async fn connection(stream: tokio::net::TcpStream, state: Arc<State>) {
    let mut first = [0u8; 1];
    let tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == TLS_HANDSHAKE);
    match (&state.acceptor, tls) {
        (Some(acceptor), true) => match acceptor.clone().accept(stream).await {
            Ok(tls) => serve_connection(TokioIo::new(tls), state, true).await,
            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
        },
        _ => serve_connection(TokioIo::new(stream), state, false).await,
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>, secure: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { answer(state, request, secure).await }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// The reason a connection is closed without an answer (the `drop` fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
    secure: bool,
) -> std::result::Result<Response<Full<Bytes>>, Dropped> {
    if request.method() == hyper::Method::CONNECT {
        return Ok(super::proxy::connect(state, request));
    }
    if !secure && state.acceptor.is_some() {
        let refused = Reply::fail(400, "BadRequest", "this emulator speaks HTTPS only");
        return Ok(respond(refused, &new_request_id(), None));
    }
    let request = match read_request(request).await {
        Ok(request) => request,
        Err(reply) => return Ok(respond(reply, &new_request_id(), None)),
    };
    if request.path.starts_with("/_emulator/") {
        return Ok(respond(admin(&state, &request), &new_request_id(), None));
    }
    let started = Instant::now();
    let request_id = new_request_id();
    let fault = state.faults.check(&request.method, &request.path);
    let reply = match &fault {
        Some(Fault::Drop) => None,
        Some(Fault::Latency { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            Some(arm::handle(&state, &request, None).await)
        }
        Some(Fault::Throttle { retry_after }) => Some(
            Reply::fail(
                429,
                "TooManyRequests",
                "the request was throttled (fault injected by the emulator); retry after the Retry-After delay",
            )
            .header("Retry-After", retry_after.to_string()),
        ),
        Some(Fault::Error { status }) => Some(injected_error(*status)),
        Some(Fault::Conflict) => Some(Reply::fail(
            409,
            "Conflict",
            "another operation is in progress on this resource (fault injected by the emulator)",
        )),
        Some(fault @ Fault::LroFailed) => Some(arm::handle(&state, &request, Some(fault)).await),
        None => Some(arm::handle(&state, &request, None).await),
    };
    tracing::trace!(
        method = %request.method,
        path = %request.path,
        status = reply.as_ref().map_or(0, |r| r.status),
        ms = started.elapsed().as_millis() as u64,
        fault = fault.as_ref().map(Fault::label).unwrap_or_default(),
        "request"
    );
    state.log.record(LoggedRequest {
        seq: 0,
        method: request.method.clone(),
        path: request.path.clone(),
        query: requests::redact_query(&request.query),
        status: reply.as_ref().map_or(0, |r| r.status),
        duration_ms: started.elapsed().as_millis() as u64,
        request_id: request_id.clone(),
        fault: fault.as_ref().map(Fault::label),
    });
    match reply {
        Some(reply) => Ok(respond(
            reply,
            &request_id,
            request.header("x-ms-client-request-id"),
        )),
        None => Err(Dropped),
    }
}

fn injected_error(status: u16) -> Reply {
    let (code, retry) = match status {
        503 => ("ServiceUnavailable", true),
        502 => ("BadGateway", true),
        504 => ("GatewayTimeout", false),
        _ => ("InternalServerError", false),
    };
    let reply = Reply::fail(
        status,
        code,
        format!("the service failed with {status} (fault injected by the emulator)"),
    );
    if retry {
        reply.header("Retry-After", "1")
    } else {
        reply
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn read_request(request: Request<Incoming>) -> std::result::Result<ArmRequest, Reply> {
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| {
            Reply::fail(
                400,
                "BadRequest",
                format!("cannot read the request body: {e}"),
            )
        })?
        .to_bytes();
    if bytes.len() > MAX_BODY {
        return Err(Reply::fail(
            413,
            "RequestEntityTooLarge",
            "the request body is too large",
        ));
    }
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    Ok(ArmRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        headers,
        body: bytes.to_vec(),
    })
}

fn respond(
    reply: Reply,
    request_id: &str,
    client_request_id: Option<&str>,
) -> Response<Full<Bytes>> {
    let body = reply
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut response = Response::builder()
        .status(reply.status)
        .header("x-ms-request-id", request_id)
        .header("x-ms-correlation-request-id", request_id);
    if let Some(client) = client_request_id {
        response = response.header("x-ms-client-request-id", client);
    }
    if reply.body.is_some() {
        response = response.header("Content-Type", "application/json; charset=utf-8");
    }
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot build a response");
            let mut fallback = Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

fn admin(state: &State, request: &ArmRequest) -> Reply {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/_emulator/requests") => {
            Reply::json(200, json!({"requests": state.log.entries()}))
        }
        ("DELETE", "/_emulator/requests") => {
            state.log.clear();
            Reply::empty(204)
        }
        ("GET", "/_emulator/faults") => Reply::json(200, json!({"faults": state.faults.rules()})),
        ("PUT", "/_emulator/faults") => {
            let parsed = std::str::from_utf8(&request.body)
                .map_err(|e| e.to_string())
                .and_then(FaultFile::parse);
            match parsed.and_then(|file| state.faults.replace(file.faults)) {
                Ok(()) => Reply::json(200, json!({"faults": state.faults.rules()})),
                Err(message) => Reply::fail(400, "BadRequest", message),
            }
        }
        _ => Reply::fail(
            404,
            "NotFound",
            format!("no admin endpoint {} {}", request.method, request.path),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip_and_refuse_garbage() {
        assert_eq!(decode_skip(&encode_skip(40)), Some(40));
        assert_eq!(decode_skip("40"), None);
        assert_eq!(decode_skip("!!"), None);
    }

    #[test]
    fn injected_errors_look_like_azure() {
        let unavailable = injected_error(503);
        assert_eq!(unavailable.header_value("Retry-After"), Some("1"));
        assert_eq!(
            unavailable.body.unwrap()["error"]["code"],
            "ServiceUnavailable"
        );
        assert_eq!(
            injected_error(500).body.unwrap()["error"]["code"],
            "InternalServerError"
        );
    }
}
