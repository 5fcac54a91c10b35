//! Planning against Azure Resource Manager: 1,000 declared resources against the emulator,
//! with 50 ms of latency injected into every request.
//!
//! `cargo bench --bench arm_plan` creates the resources once (without latency), then plans the
//! unchanged manifests with the latency on and prints:
//! - the requests the plan made, by kind (at most one list request per declared asset
//!   container plus pages, and no GET of single asset versions);
//! - the wall time, beside the ideal `requests / concurrency × latency`;
//! - the writes and uploads of re-applying the unchanged manifests (both zero).
//!
//! The emulator runs in this process; no Azurite is needed, as the data assets point at
//! datastore paths. `AMLOPS_BENCH_QUICK=1` plans 100 resources instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use amlops::apply::{self, ApplyOptions, Quiet};
use amlops::auth::AuthEnv;
use amlops::backend::arm::ArmBackend;
use amlops::backend::{Backend, OpenOptions, open_arm};
use amlops::emulator::{Config, Fault, FaultRule, LroTiming};
use amlops::manifest::{self, Manifest};
use amlops::plan::{Plan, PlanOptions};
use amlops::scope::Scope;
use amlops::target::{AuthMethod, Connection, TargetSpec};
use amlops::workflow::{self, PlanRequest};

const LATENCY_MS: u64 = 50;
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000b1";

fn main() {
    let size = if std::env::var("AMLOPS_BENCH_QUICK").is_ok() {
        100
    } else {
        1_000
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(size));
}

/// The declared resources: 70% data assets, 25% environments, 5% computes.
fn write_manifests(dir: &Path, size: usize) -> BTreeMap<&'static str, usize> {
    let computes = size / 20;
    let environments = size / 4;
    let data = size - computes - environments;
    for i in 0..data {
        std::fs::write(
            dir.join(format!("data-{i:04}.yml")),
            format!(
                "name: table-{i:04}\nversion: 1\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/tables/{i:04}.parquet\ntags:\n  team: bench\n"
            ),
        )
        .expect("write a manifest");
    }
    for i in 0..environments {
        std::fs::write(
            dir.join(format!("env-{i:04}.yml")),
            format!(
                "name: env-{i:04}\nversion: 3\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:{i}\n"
            ),
        )
        .expect("write a manifest");
    }
    for i in 0..computes {
        std::fs::write(
            dir.join(format!("compute-{i:04}.yml")),
            format!(
                "name: cluster{i:04}x\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmax_instances: 2\n"
            ),
        )
        .expect("write a manifest");
    }
    BTreeMap::from([
        ("data", data),
        ("environments", environments),
        ("computes", computes),
    ])
}

async fn plan(backend: &dyn Backend, manifest: &Manifest) -> Plan {
    let artifacts = workflow::artifacts(&manifest.resources).expect("artifacts");
    let request = PlanRequest {
        manifest,
        artifacts: &artifacts,
        project: "bench",
        options: PlanOptions::default(),
    };
    workflow::make_plan(backend, request).await.expect("a plan")
}

async fn connect(url: &str) -> ArmBackend {
    let spec = TargetSpec::Workspace {
        subscription: SUBSCRIPTION.into(),
        resource_group: "rg".into(),
        workspace: "ws".into(),
        connection: Connection {
            endpoint: Some(url.to_owned()),
            ca_cert: None,
            auth: Some(AuthMethod::None),
        },
    };
    let options = OpenOptions {
        auth_env: Some(AuthEnv::default()),
        ..OpenOptions::default()
    };
    open_arm(&spec, options).await.expect("connect").0
}

async fn bench(size: usize) {
    let data = tempfile::tempdir().expect("temporary directory");
    let manifests = data.path().join("manifests");
    std::fs::create_dir_all(&manifests).expect("manifest folder");
    let declared = write_manifests(&manifests, size);
    let mut config = Config::new(data.path().join("emulator"));
    config.workspaces = vec![Scope::workspace(SUBSCRIPTION, "rg", "ws")];
    config.run_jobs = false;
    config.lro = LroTiming {
        polls: 1,
        retry_after: 0,
    };
    let emulator = amlops::emulator::spawn(config).await.expect("emulator");
    let manifest = manifest::load(std::slice::from_ref(&manifests));
    assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);

    // Create everything once, without latency.
    let backend = connect(emulator.url()).await;
    let first = plan(&backend, &manifest).await;
    let options = ApplyOptions {
        parallelism: 16,
        ..ApplyOptions::default()
    };
    apply::apply(&backend, &first, &options, &mut Quiet)
        .await
        .expect("the first apply");

    // Plan the unchanged manifests with latency on every request.
    emulator
        .set_faults(vec![FaultRule::new(Fault::Latency { ms: LATENCY_MS })])
        .expect("latency");
    let backend = connect(emulator.url()).await;
    emulator.clear_log();
    let started = Instant::now();
    let again = plan(&backend, &manifest).await;
    let wall = started.elapsed();
    let log = emulator.log();
    assert!(!again.has_changes(), "the unchanged manifests plan changes");

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for request in &log {
        *kinds
            .entry(request_kind(&request.method, &request.path))
            .or_default() += 1;
    }
    let requests = log.len();
    let concurrency = backend.concurrency();
    let ideal = Duration::from_millis(LATENCY_MS) * requests as u32 / concurrency as u32;
    println!("# amlops plan against ARM (the emulator, {LATENCY_MS} ms per request)\n");
    println!(
        "declared: {size} resources ({} data, {} environments, {} computes)",
        declared["data"], declared["environments"], declared["computes"]
    );
    println!("requests: {requests}");
    for (kind, count) in &kinds {
        println!("  {count:>5}  {kind}");
    }
    println!("concurrency: {concurrency}");
    println!(
        "wall time: {:.2} s; requests / concurrency x latency = {:.2} s; ratio {:.2} (target <= 1.20)",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    let containers = declared["data"] + declared["environments"];
    let lists = kinds
        .get("GET asset version list")
        .copied()
        .unwrap_or_default();
    println!(
        "asset version lists: {lists} for {containers} declared containers; single-version GETs: {}",
        kinds.get("GET asset version").copied().unwrap_or_default()
    );

    // Re-apply: nothing to write, nothing to upload.
    emulator.set_faults(Vec::new()).expect("no faults");
    emulator.clear_log();
    let report = apply::apply(&backend, &again, &options, &mut Quiet)
        .await
        .expect("the re-apply");
    let writes = emulator
        .log()
        .iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .count();
    println!(
        "re-apply: {} changes, {writes} writes, {} uploads ({} sent by the backend)",
        report.applied.len(),
        report.uploads,
        backend.uploads.sent.load(Ordering::Relaxed)
    );
}

/// A request by what it asks for.
fn request_kind(method: &str, path: &str) -> String {
    let relative = path.split("/workspaces/ws").nth(1).unwrap_or(path);
    let segments: Vec<&str> = relative.trim_start_matches('/').split('/').collect();
    let what = match segments.as_slice() {
        [""] => "workspace",
        [_, _, "versions"] => "asset version list",
        [_, _, "versions", _] => "asset version",
        ["computes", _] => "compute",
        ["jobs"] => "job list",
        ["jobs", _] => "job",
        [_] => "collection list",
        _ => "other",
    };
    format!("{method} {what}")
}
