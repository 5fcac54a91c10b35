//! What CI pays: `amlops plan` and `amlops drift` of 1,000 resources against the emulator with
//! 50 ms of latency per request (requests made, wall time, peak memory of the amlops process),
//! and `apply` of 100 independent changes at parallelism 1 and 10.
//!
//! `cargo bench --bench ci_scale`; `AMLOPS_BENCH_QUICK=1` uses 100 resources and 20 changes.
//! The emulator runs in this process; plan and drift run the real binary, so their memory is
//! measured alone.

#[path = "common/child.rs"]
mod child;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use amlops::apply::{self, ApplyOptions, Quiet};
use amlops::auth::AuthEnv;
use amlops::backend::{ArmTuning, OpenOptions, open_arm};
use amlops::emulator::{Config, Fault, FaultRule, LroTiming};
use amlops::plan::PlanOptions;
use amlops::scope::Scope;
use amlops::target::{AuthMethod, Connection, TargetSpec};
use amlops::workflow::{self, PlanRequest};

const LATENCY_MS: u64 = 50;
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000c1";

fn main() {
    let quick = std::env::var("AMLOPS_BENCH_QUICK").is_ok();
    let (resources, changes) = if quick { (100, 20) } else { (1_000, 100) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "# amlops in CI: plan, drift and apply against the emulator ({LATENCY_MS} ms per request)\n"
    );
    runtime.block_on(plan_and_drift(resources));
    runtime.block_on(parallel_apply(changes));
}

fn write_manifests(dir: &Path, count: usize, prefix: &str) {
    std::fs::create_dir_all(dir).expect("manifest folder");
    let environments = count / 4;
    for i in 0..count {
        let text = if i < environments {
            format!(
                "name: {prefix}env-{i:04}\nversion: 1\nimage: python:3.{}\n",
                i % 13
            )
        } else {
            format!(
                "name: {prefix}table-{i:04}\nversion: 1\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/t/{i}.csv\n"
            )
        };
        std::fs::write(dir.join(format!("r{i:04}.yml")), text).expect("write a manifest");
    }
}

async fn emulator(dir: &Path) -> amlops::emulator::Running {
    let mut config = Config::new(dir.to_path_buf());
    config.workspaces = vec![Scope::workspace(SUBSCRIPTION, "rg", "ws")];
    config.run_jobs = false;
    config.lro = LroTiming {
        polls: 1,
        retry_after: 0,
    };
    amlops::emulator::spawn(config).await.expect("emulator")
}

fn target_args(url: &str) -> Vec<String> {
    [
        "--subscription",
        SUBSCRIPTION,
        "--resource-group",
        "rg",
        "--workspace",
        "ws",
        "--endpoint",
        url,
        "--auth",
        "none",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Runs the amlops binary; returns its exit code, wall time and peak resident memory (KiB).
fn run_amlops(args: &[String]) -> (i32, Duration, i64) {
    let run = child::measure(
        Command::new(env!("CARGO_BIN_EXE_amlops"))
            .args(args)
            .env("NO_COLOR", "1"),
    );
    (run.code, run.elapsed, run.peak_kib)
}

async fn plan_and_drift(count: usize) {
    let data = tempfile::tempdir().expect("temporary directory");
    let manifests = data.path().join("manifests");
    write_manifests(&manifests, count, "");
    let emulator = emulator(&data.path().join("emulator")).await;
    let mut apply_args = vec![
        "apply".to_owned(),
        manifests.display().to_string(),
        "--auto-approve".into(),
        "--parallelism".into(),
        "32".into(),
    ];
    apply_args.extend(target_args(emulator.url()));
    let (code, took, _) = tokio::task::spawn_blocking(move || run_amlops(&apply_args))
        .await
        .expect("apply");
    assert_eq!(code, 0, "the first apply");
    println!(
        "## {count} declared resources ({} environments, {} data assets), created in {:.1} s\n",
        count / 4,
        count - count / 4,
        took.as_secs_f64()
    );

    emulator
        .set_faults(vec![FaultRule::new(Fault::Latency { ms: LATENCY_MS })])
        .expect("latency");
    for command in ["plan", "drift"] {
        emulator.clear_log();
        let mut args = vec![command.to_owned(), manifests.display().to_string()];
        args.extend(target_args(emulator.url()));
        if command == "plan" {
            args.push("--detailed-exitcode".into());
        }
        let (code, wall, rss) = tokio::task::spawn_blocking(move || run_amlops(&args))
            .await
            .expect(command);
        assert_eq!(code, 0, "{command} of unchanged manifests exits 0");
        let requests = emulator.log().len();
        let ideal = Duration::from_millis(LATENCY_MS) * requests as u32 / 10;
        println!(
            "amlops {command:<5}: {requests} requests, {:.2} s (requests / 10 in flight x latency = {:.2} s, ratio {:.2}), peak memory {:.1} MiB",
            wall.as_secs_f64(),
            ideal.as_secs_f64(),
            wall.as_secs_f64() / ideal.as_secs_f64(),
            rss as f64 / 1024.0
        );
    }
    emulator.set_faults(Vec::new()).expect("no faults");
    println!();
}

async fn parallel_apply(changes: usize) {
    let mut timings = Vec::new();
    for parallelism in [1usize, 10] {
        let data = tempfile::tempdir().expect("temporary directory");
        let manifests = data.path().join("manifests");
        write_manifests(&manifests, changes, &format!("p{parallelism}-"));
        let emulator = emulator(&data.path().join("emulator")).await;
        let spec = TargetSpec::Workspace {
            subscription: SUBSCRIPTION.into(),
            resource_group: "rg".into(),
            workspace: "ws".into(),
            connection: Connection {
                endpoint: Some(emulator.url().to_owned()),
                ca_cert: None,
                auth: Some(AuthMethod::None),
            },
        };
        let mut tuning = ArmTuning::default();
        tuning.http.concurrency = parallelism.max(1);
        let options = OpenOptions {
            auth_env: Some(AuthEnv::default()),
            arm: Some(tuning),
            ..OpenOptions::default()
        };
        let (backend, _) = open_arm(&spec, options).await.expect("connect");
        let manifest = amlops::manifest::load(std::slice::from_ref(&manifests));
        let artifacts = workflow::artifacts(&manifest.resources).expect("artifacts");
        let request = PlanRequest {
            manifest: &manifest,
            artifacts: &artifacts,
            project: "bench",
            options: PlanOptions::default(),
        };
        let plan = workflow::make_plan(&backend, request).await.expect("plan");
        emulator
            .set_faults(vec![FaultRule::new(Fault::Latency { ms: LATENCY_MS })])
            .expect("latency");
        let started = Instant::now();
        let report = apply::apply(
            &backend,
            &plan,
            &ApplyOptions {
                parallelism,
                ..ApplyOptions::default()
            },
            &mut Quiet,
        )
        .await
        .expect("apply");
        let wall = started.elapsed();
        assert_eq!(report.applied.len(), changes);
        println!(
            "apply of {changes} independent changes at parallelism {parallelism:>2}: {:.2} s",
            wall.as_secs_f64()
        );
        timings.push(wall);
    }
    println!(
        "speed-up from parallelism 1 to 10: {:.1}x (ideal 10x)",
        timings[0].as_secs_f64() / timings[1].as_secs_f64()
    );
}
