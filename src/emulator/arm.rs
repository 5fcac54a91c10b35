//! The ARM contract: one function per route, answering from the store.
//!
//! Order of checks, as ARM applies them: a bearer token (401), `api-version` (400), the
//! route (404 for scopes not served and unknown resource types), the method (405), the body
//! (400 naming the field), then the resource's own rules, shared with the local workspace in
//! [`crate::backend::local::service`].

use serde_json::{Value, json};

use super::faults::Fault;
use super::operations::{self, Effect};
use super::reply::{ArmError, Reply};
use super::routes::{self, Route, Target};
use super::server::State;
use super::storage::Access;
use super::validate;
use crate::backend::local::DEFAULT_DATASTORE;
use crate::backend::local::service::{self, Written};
use crate::scope::Scope;

/// A request as the handlers see it: the body read, the query split.
#[derive(Clone, Debug, Default)]
pub struct ArmRequest {
    pub method: String,
    /// The path without its query, as sent (percent-encoded).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ArmRequest {
    /// A query parameter, its name compared without regard to case.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn params(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Answers one request. `fault` is an injected fault that lets the request through but
/// changes its outcome (a long-running operation that ends `Failed`).
pub async fn handle(state: &State, request: &ArmRequest, fault: Option<&Fault>) -> Reply {
    let route = routes::route(state.config.scopes(), &request.path);
    match route {
        Route::CloudMetadata => return cloud_metadata(state),
        Route::RegistryDiscovery(name) => return registry_discovery(state, &name),
        _ => {}
    }
    if let Some(refused) = authenticate(request).or_else(|| api_version(request)) {
        return refused;
    }
    let fail_operation = matches!(fault, Some(Fault::LroFailed));
    match route {
        Route::Scoped { scope, relative } => {
            let target = routes::target(&scope, &relative);
            scoped(state, request, &scope, target, fail_operation).await
        }
        Route::Unserved {
            kind,
            resource_group,
            name,
        } => Reply::fail(
            404,
            "ResourceNotFound",
            format!(
                "the resource 'Microsoft.MachineLearningServices/{kind}/{name}' under resource group '{resource_group}' was not found"
            ),
        ),
        Route::Operation { id, result } => operation(state, request, &id, result),
        Route::Unknown | Route::CloudMetadata | Route::RegistryDiscovery(_) => {
            unknown_type(request)
        }
    }
}

fn authenticate(request: &ArmRequest) -> Option<Reply> {
    let bearer = request
        .header("authorization")
        .and_then(|h| h.get(..7).map(|scheme| (scheme, &h[7..])))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer ") && !token.trim().is_empty()
        });
    (!bearer).then(|| {
        Reply::fail(
            401,
            "AuthenticationFailed",
            "authentication failed: the request has no bearer token in its Authorization header",
        )
        .header(
            "WWW-Authenticate",
            "Bearer authorization_uri=\"https://login.invalid/\", error=\"invalid_token\"",
        )
    })
}

fn api_version(request: &ArmRequest) -> Option<Reply> {
    match request.param("api-version") {
        None => Some(Reply::fail(
            400,
            "MissingApiVersionParameter",
            "the api-version query parameter (?api-version=) is required for all requests",
        )),
        Some(version) if !well_formed_api_version(version) => Some(Reply::fail(
            400,
            "InvalidApiVersionParameter",
            format!(
                "the api-version '{version}' is invalid; the supported versions look like 2024-10-01 or 2025-01-01-preview"
            ),
        )),
        Some(_) => None,
    }
}

/// `YYYY-MM-DD` with an optional `-preview` (or other lowercase suffix).
fn well_formed_api_version(version: &str) -> bool {
    let (date, suffix) = version.split_at(version.len().min(10));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = date.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 && digits(y) && digits(m) && digits(d))
        && (suffix.is_empty()
            || suffix
                .strip_prefix('-')
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase())))
}

fn unknown_type(request: &ArmRequest) -> Reply {
    Reply::fail(
        404,
        "InvalidResourceType",
        format!(
            "no resource type of namespace 'Microsoft.MachineLearningServices' is served at {}",
            request.path
        ),
    )
}

fn method_not_allowed(request: &ArmRequest) -> Reply {
    Reply::fail(
        405,
        "MethodNotAllowed",
        format!("{} is not supported on {}", request.method, request.path),
    )
}

async fn scoped(
    state: &State,
    request: &ArmRequest,
    scope: &Scope,
    target: Target,
    fail_operation: bool,
) -> Reply {
    if let Err(reply) = state.settle_operations() {
        return reply;
    }
    let body = match read_body(request, &target) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let method = request.method.as_str();
    match (&target, method) {
        (Target::Root, "GET") => Reply::json(200, state.scope_body(scope)),
        (Target::Datastores, "GET") => datastores(state, request, scope),
        (Target::Datastore(name), "GET") => datastore(state, scope, name),
        (Target::Datastore(_), "PUT") => put_plain(state, scope, &target, &body),
        (Target::Datastore(_), "DELETE") => delete_now(state, scope, &target),
        (Target::DatastoreSecrets(name), "POST") => datastore_secrets(state, scope, name).await,
        (Target::Containers(_) | Target::Versions(..) | Target::Computes | Target::Jobs, "GET") => {
            list(state, request, scope, &target)
        }
        (
            Target::Container(..) | Target::Version(..) | Target::Compute(_) | Target::Job(_),
            "GET",
        ) => get(state, scope, &target),
        (Target::Container(..) | Target::Version(..), "PUT") => {
            put_asset(state, scope, &target, &body, fail_operation)
        }
        (Target::Container(..) | Target::Version(..), "DELETE") => {
            if scope.is_registry() {
                delete_later(state, scope, &target, fail_operation)
            } else {
                delete_now(state, scope, &target)
            }
        }
        (Target::PendingUpload(..), "POST") => pending_upload(state, scope, &target, &body).await,
        (Target::Compute(_), "PUT") => put_compute(state, scope, &target, body, fail_operation),
        (Target::Compute(_), "PATCH") => {
            patch_compute(state, scope, &target, &body, fail_operation)
        }
        (Target::Compute(_), "DELETE") => {
            delete_compute(state, request, scope, &target, fail_operation)
        }
        (Target::ComputeTags(_), "PATCH") => patch_tags(state, scope, &target, &body),
        (Target::ComputeTags(_), "GET") => get_tags(state, scope, &target),
        (Target::Job(name), "PUT") => put_job(state, scope, &target, name, &body),
        (Target::Job(name), "DELETE") => delete_job(state, scope, &target, name),
        (Target::JobCancel(name), "POST") => cancel_job(state, scope, &target, name),
        (Target::Unknown, _) => unknown_type(request),
        _ => method_not_allowed(request),
    }
}

/// Parses and checks the body of a write; reads get `Value::Null`.
fn read_body(request: &ArmRequest, target: &Target) -> Result<Value, Reply> {
    if !matches!(request.method.as_str(), "PUT" | "PATCH" | "POST") {
        return Ok(Value::Null);
    }
    let body = if request.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&request.body).map_err(|e| {
            Reply::fail(
                400,
                "InvalidRequestContent",
                format!("the request content is not valid JSON: {e}"),
            )
        })?
    };
    let Some(definition) = validate::definition_for(target, &request.method) else {
        return Ok(body);
    };
    if body.is_null() && request.method != "POST" {
        return Err(Reply::invalid_body("", "the request has no body"));
    }
    let preview = request
        .param("api-version")
        .is_some_and(|v| v.ends_with("-preview"));
    validate::check_for_version(definition, &body, preview)
        .map_err(|invalid| Reply::invalid_body(&invalid.field, invalid.message))?;
    Ok(body)
}

/// What the object at a target is called in messages: `data iris version 1`.
fn describe(target: &Target) -> String {
    match target {
        Target::Datastore(n) | Target::DatastoreSecrets(n) => format!("datastore {n}"),
        Target::Container(c, n) => format!("{} container {n}", singular(c)),
        Target::Version(c, n, v) | Target::PendingUpload(c, n, v) => {
            format!("{} {n} version {v}", singular(c))
        }
        Target::Compute(n) | Target::ComputeTags(n) => format!("compute {n}"),
        Target::Job(n) | Target::JobCancel(n) => format!("job {n}"),
        _ => "resource".into(),
    }
}

fn singular(collection: &str) -> &str {
    match collection {
        "environments" => "environment",
        "codes" => "code",
        "components" => "component",
        "models" => "model",
        other => other,
    }
}

fn store_path(target: &Target) -> String {
    target.store_path().unwrap_or_default()
}

fn get(state: &State, scope: &Scope, target: &Target) -> Reply {
    match state.read(|store| store.get(&scope.id(), &store_path(target))) {
        Ok(Some(object)) => Reply::json(200, object),
        Ok(None) => Reply::not_found(&describe(target)),
        Err(e) => e.into(),
    }
}

fn list(state: &State, request: &ArmRequest, scope: &Scope, target: &Target) -> Reply {
    let path = store_path(target);
    let params = request.params();
    match state.read(|store| service::list(store, scope, &path, &params)) {
        Ok(items) => state.page(request, items),
        Err(e) => e.into(),
    }
}

fn written_status(written: Written) -> u16 {
    match written {
        Written::Created => 201,
        Written::Updated => 200,
    }
}

fn put_plain(state: &State, scope: &Scope, target: &Target, body: &Value) -> Reply {
    if body.pointer("/properties").is_none_or(|p| !p.is_object()) {
        return Reply::invalid_body("properties", "`properties` is required");
    }
    let path = store_path(target);
    match state.write(|store| service::put(store, scope, &path, body, &service::now())) {
        Ok((written, object)) => Reply::json(written_status(written), object),
        Err(e) => e.into(),
    }
}

fn put_asset(state: &State, scope: &Scope, target: &Target, body: &Value, fail: bool) -> Reply {
    let path = store_path(target);
    let written = state.write(|store| service::put(store, scope, &path, body, &service::now()));
    let (written, object) = match written {
        Ok(done) => done,
        Err(e) => return e.into(),
    };
    let reply = Reply::json(written_status(written), object);
    if !scope.is_registry() {
        return reply;
    }
    // Registry writes are long-running operations, read back from the original URL.
    let id = state.start_operation(scope, &path, Effect::Nothing, fail);
    state
        .operation_headers(reply, scope, &id, "mfe", true, false)
        .header("x-ms-async-operation-timeout", "PT1H")
}

fn delete_now(state: &State, scope: &Scope, target: &Target) -> Reply {
    let path = store_path(target);
    match state.write(|store| service::delete(store, scope, &path)) {
        Ok(true) => Reply::empty(200),
        Ok(false) => Reply::empty(204),
        Err(e) => e.into(),
    }
}

fn delete_later(state: &State, scope: &Scope, target: &Target, fail: bool) -> Reply {
    let path = store_path(target);
    match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(None) => Reply::empty(204),
        Ok(Some(_)) => {
            let id = state.start_operation(scope, &path, Effect::Delete, fail);
            state.operation_headers(Reply::empty(202), scope, &id, "mfe", false, true)
        }
        Err(e) => e.into(),
    }
}

fn datastores(state: &State, request: &ArmRequest, scope: &Scope) -> Reply {
    let params = request.params();
    match state.read(|store| service::list(store, scope, "datastores", &params)) {
        Ok(items) => {
            let items = items
                .into_iter()
                .map(|d| state.present_datastore(scope, d))
                .collect();
            state.page(request, items)
        }
        Err(e) => e.into(),
    }
}

fn datastore(state: &State, scope: &Scope, name: &str) -> Reply {
    let path = format!("datastores/{name}");
    match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(Some(object)) => Reply::json(200, state.present_datastore(scope, object)),
        Ok(None) => Reply::not_found(&format!("datastore {name}")),
        Err(e) => e.into(),
    }
}

/// A SAS for the datastore's container, as `listSecrets` returns for SAS and key datastores.
async fn datastore_secrets(state: &State, scope: &Scope, name: &str) -> Reply {
    let path = format!("datastores/{name}");
    let object = match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(Some(object)) => state.present_datastore(scope, object),
        Ok(None) => return Reply::not_found(&format!("datastore {name}")),
        Err(e) => return e.into(),
    };
    let Some(blobs) = &state.blobs else {
        return no_storage();
    };
    let container = object
        .pointer("/properties/containerName")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_DATASTORE);
    if let Err(e) = blobs.create_container(container).await {
        return Reply::fail(500, "InternalServerError", e);
    }
    let sas = blobs.account().container_sas(container, Access::ReadWrite);
    Reply::json(200, json!({"secretsType": "Sas", "sasToken": sas}))
}

fn no_storage() -> Reply {
    Reply::fail(
        400,
        "UserError",
        "this emulator has no blob storage; start it with --storage URL or --azurite PATH",
    )
}

/// `startPendingUpload`: a fresh Azurite container and a SAS URI to write into it.
async fn pending_upload(state: &State, scope: &Scope, target: &Target, body: &Value) -> Reply {
    let Some(blobs) = &state.blobs else {
        return no_storage();
    };
    let requested = body
        .get("pendingUploadId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    let upload_id = requested.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // The same id always maps to the same container ("create or get").
    let container = format!(
        "upload-{}",
        uuid::Uuid::new_v3(
            &uuid::Uuid::NAMESPACE_URL,
            format!("{}/{upload_id}", scope.id()).as_bytes()
        )
        .simple()
    );
    if let Err(e) = blobs.create_container(&container).await {
        return Reply::fail(500, "InternalServerError", e);
    }
    let account = blobs.account();
    let blob_uri = account.container_url(&container);
    let sas = account.container_sas(&container, Access::ReadWrite);
    tracing::debug!(target = ?target, container = %container, "pending upload");
    Reply::json(
        200,
        json!({
            "pendingUploadId": upload_id,
            "pendingUploadType": "TemporaryBlobReference",
            "blobReferenceForConsumption": {
                "blobUri": blob_uri,
                "storageAccountArmId": state.storage_account_id(scope),
                "credential": {"credentialType": "SAS", "sasUri": format!("{blob_uri}?{sas}")},
            },
        }),
    )
}

fn busy(state: &State, scope: &Scope, target: &Target) -> Option<Reply> {
    state.busy(scope, &store_path(target)).then(|| {
        Reply::fail(
            409,
            "Conflict",
            format!(
                "{} is busy with another operation; retry when it has finished",
                describe(target)
            ),
        )
    })
}

fn put_compute(
    state: &State,
    scope: &Scope,
    target: &Target,
    mut body: Value,
    fail: bool,
) -> Reply {
    if let Some(reply) = busy(state, scope, target) {
        return reply;
    }
    if body.get("location").is_none_or(Value::is_null) {
        body["location"] = json!(state.config.location);
    }
    let path = store_path(target);
    let result = state.write(|store| {
        let stamp = service::now();
        let (written, _) = service::put(store, scope, &path, &body, &stamp)?;
        let provisioning = match written {
            Written::Created => "Creating",
            Written::Updated => "Updating",
        };
        service::set_provisioning_state(store, scope, &path, provisioning, None, &stamp)?;
        let object = store.get(&scope.id(), &path)?.unwrap_or(Value::Null);
        Ok((written, object))
    });
    let (written, object) = match result {
        Ok(done) => done,
        Err(e) => return e.into(),
    };
    let id = state.start_operation(scope, &path, Effect::Provision, fail);
    let reply = Reply::json(written_status(written), object);
    state.operation_headers(reply, scope, &id, "compute", true, false)
}

fn patch_compute(state: &State, scope: &Scope, target: &Target, body: &Value, fail: bool) -> Reply {
    if let Some(reply) = busy(state, scope, target) {
        return reply;
    }
    let path = store_path(target);
    let result = state.write(|store| {
        let stamp = service::now();
        service::patch(store, scope, &path, body, &stamp)?;
        service::set_provisioning_state(store, scope, &path, "Updating", None, &stamp)?;
        Ok(store.get(&scope.id(), &path)?.unwrap_or(Value::Null))
    });
    match result {
        Ok(object) => {
            let id = state.start_operation(scope, &path, Effect::Provision, fail);
            state.operation_headers(Reply::json(200, object), scope, &id, "compute", true, true)
        }
        Err(e) => failed(e.into(), target),
    }
}

/// ARM's Tags API on a compute: synchronous, and refused while an operation runs on it.
fn patch_tags(state: &State, scope: &Scope, target: &Target, body: &Value) -> Reply {
    if let Some(reply) = busy(state, scope, target) {
        return reply;
    }
    let path = store_path(target);
    let result = state.write(|store| {
        let stamp = service::now();
        service::patch_tags(store, scope, &path, body, &stamp)
    });
    match result {
        Ok(tags) => Reply::json(200, tags),
        Err(e) => failed(e.into(), target),
    }
}

/// A store error as ARM words it: a missing object is named as the route names it.
fn failed(reply: Reply, target: &Target) -> Reply {
    if reply.status == 404 {
        Reply::not_found(&describe(target))
    } else {
        reply
    }
}

fn get_tags(state: &State, scope: &Scope, target: &Target) -> Reply {
    let path = store_path(target);
    match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(Some(object)) => Reply::json(
            200,
            json!({
                "id": format!("{}{}", scope.resource_id(&path), service::TAGS_SUFFIX),
                "name": "default",
                "type": "Microsoft.Resources/tags",
                "properties": {"tags": object.get("tags").cloned().unwrap_or_else(|| json!({}))},
            }),
        ),
        Ok(None) => Reply::not_found(&describe(target)),
        Err(e) => e.into(),
    }
}

fn delete_compute(
    state: &State,
    request: &ArmRequest,
    scope: &Scope,
    target: &Target,
    fail: bool,
) -> Reply {
    let action = request.param("underlyingResourceAction");
    if !action.is_some_and(|a| a.eq_ignore_ascii_case("Delete") || a.eq_ignore_ascii_case("Detach"))
    {
        return Reply::error(
            400,
            ArmError::new(
                "BadRequest",
                "the underlyingResourceAction query parameter is required: Delete or Detach",
            )
            .target("underlyingResourceAction"),
        );
    }
    if let Some(reply) = busy(state, scope, target) {
        return reply;
    }
    let path = store_path(target);
    let result = state.write(|store| {
        if store.get(&scope.id(), &path)?.is_none() {
            return Ok(false);
        }
        service::set_provisioning_state(store, scope, &path, "Deleting", None, &service::now())?;
        Ok(true)
    });
    match result {
        Ok(false) => Reply::empty(204),
        Ok(true) => {
            let id = state.start_operation(scope, &path, Effect::Delete, fail);
            state.operation_headers(Reply::empty(202), scope, &id, "compute", true, true)
        }
        Err(e) => e.into(),
    }
}

fn put_job(state: &State, scope: &Scope, target: &Target, name: &str, body: &Value) -> Reply {
    let path = store_path(target);
    match state.write(|store| service::put(store, scope, &path, body, &service::now())) {
        Ok((written, object)) => {
            if written == Written::Created {
                state.jobs.submit(scope, name, &object);
            }
            Reply::json(written_status(written), object)
        }
        Err(e) => e.into(),
    }
}

fn delete_job(state: &State, scope: &Scope, target: &Target, name: &str) -> Reply {
    let path = store_path(target);
    match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(None) => Reply::empty(204),
        Ok(Some(_)) => {
            if let Err(e) = state.jobs.cancel(scope, name) {
                return e.into();
            }
            let id = state.start_operation(scope, &path, Effect::Delete, false);
            state.operation_headers(Reply::empty(202), scope, &id, "mfe", false, true)
        }
        Err(e) => e.into(),
    }
}

fn cancel_job(state: &State, scope: &Scope, target: &Target, name: &str) -> Reply {
    let path = store_path(target);
    match state.read(|store| store.get(&scope.id(), &path)) {
        Ok(None) => Reply::not_found(&describe(target)),
        Ok(Some(_)) => {
            if let Err(e) = state.jobs.cancel(scope, name) {
                return e.into();
            }
            let id = state.start_operation(scope, &path, Effect::AwaitJob, false);
            state.operation_headers(Reply::empty(202), scope, &id, "mfe", false, true)
        }
        Err(e) => e.into(),
    }
}

/// The status (`Azure-AsyncOperation`) or result (`Location`) of an operation.
fn operation(state: &State, request: &ArmRequest, id: &str, result: bool) -> Reply {
    let polled = state.poll_operation(id);
    let operation = match polled {
        Ok(Some(operation)) => operation,
        Ok(None) => return Reply::not_found(&format!("operation {id}")),
        Err(e) => return e.into(),
    };
    let retry_after = state.config.lro.retry_after.to_string();
    if !result {
        let body = operations::status_body(id, &request.path, &operation);
        let reply = Reply::json(200, body);
        return if operation.finished.is_none() {
            reply.header("Retry-After", retry_after)
        } else {
            reply
        };
    }
    match &operation.finished {
        None => Reply::empty(202)
            .header(
                "Location",
                state.operation_url(&operation.scope, id, "mfe", true),
            )
            .header("Retry-After", retry_after),
        Some((operations::Outcome::Failed, _)) => Reply::fail(
            500,
            "InternalServerError",
            "the operation failed (fault injected by the emulator)",
        ),
        Some((operations::Outcome::Succeeded, _)) => {
            let current = state.read(|store| store.get(&operation.scope.id(), &operation.path));
            match current {
                Ok(Some(object)) if operation.effect != Effect::Delete => Reply::json(200, object),
                Ok(_) => Reply::empty(204),
                Err(e) => e.into(),
            }
        }
    }
}

/// The cloud metadata document (the 2019-05-01 shape the SDK and `az` read), naming this
/// emulator as the resource manager of a cloud called `AmlopsEmulator`.
fn cloud_metadata(state: &State) -> Reply {
    let base = &state.base_url;
    Reply::json(
        200,
        json!([{
            "name": "AmlopsEmulator",
            "portal": "https://portal.emulator.invalid",
            "resourceManager": format!("{base}/"),
            "authentication": {
                "loginEndpoint": format!("{base}/login/"),
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {"storage": state.storage_suffix(), "acrLoginServer": "azurecr.invalid"},
            "registryDiscoveryEndpoint": format!("{base}/registrymanagement/v1.0/registries/"),
        }]),
    )
}

fn registry_discovery(state: &State, name: &str) -> Reply {
    let found = state
        .config
        .registries
        .iter()
        .find(|r| r.name().eq_ignore_ascii_case(name));
    match found {
        Some(registry) => Reply::json(
            200,
            json!({
                "registryName": registry.name(),
                "primaryRegion": state.config.location,
                "regions": [state.config.location],
                "subscriptionId": registry.subscription(),
                "resourceGroup": registry.resource_group(),
                "workspaceName": null,
                "primaryRegionResourceProviderUri": format!("{}/", state.base_url),
            }),
        ),
        None => Reply::fail(
            404,
            "NotFound",
            format!("registry {name} is not served here"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_dates_with_an_optional_suffix() {
        for good in ["2024-10-01", "2025-01-01-preview", "2023-04-01"] {
            assert!(well_formed_api_version(good), "{good}");
        }
        for bad in [
            "",
            "2024",
            "latest",
            "2024-1-01",
            "2024-10-01-",
            "2024-10-01preview",
        ] {
            assert!(!well_formed_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_are_required() {
        let mut request = ArmRequest {
            method: "GET".into(),
            path: "/".into(),
            ..ArmRequest::default()
        };
        assert_eq!(authenticate(&request).unwrap().status, 401);
        request
            .headers
            .push(("Authorization".into(), "Basic eHl6".into()));
        assert_eq!(authenticate(&request).unwrap().status, 401);
        request.headers[0].1 = "bearer eyJ0".into();
        assert!(authenticate(&request).is_none());
    }
}
