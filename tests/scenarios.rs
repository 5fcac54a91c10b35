//! One scenario suite, three backends: the local workspace, the emulator over HTTP and the
//! emulator over HTTPS; then the emulator again under injected faults (429 storms, server
//! errors, dropped connections, a compute operation that ends `Failed`) and with an apply
//! killed half way. Every run must converge: a re-run makes no write, and no job or version
//! exists twice.
//!
//! The scenarios run the `amlops` binary on a copy of `examples/quickstart`, in order:
//! first apply; re-apply with zero writes; a changed script (new code, new job); a compute
//! scale change (patched in place); a version conflict (refused, nothing written); a failing
//! job (reported, never resubmitted); and, on the emulator, a registry asset. The emulator
//! runs in this process with its own Azurite (`tools/azurite`); without Azurite the emulator
//! runs skip, saying so, unless `AMLOPS_REQUIRE_EMULATOR_TOOLS` is set (as `scripts/test` does).

#[path = "emulator_support/mod.rs"]
mod emulator_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amlops::auth::AuthEnv;
use amlops::backend::local::LocalWorkspace;
use amlops::backend::{Backend, OpenOptions, open_arm};
use amlops::emulator::storage::Azurite;
use amlops::emulator::{Config, Fault, FaultRule, LroTiming, Running};
use amlops::scope::Scope;
use amlops::target::{AuthMethod, Connection, TargetSpec};
use serde_json::Value;
use support::Project;

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000f1";
const RESOURCE_GROUP: &str = "rg-scenarios";
const WORKSPACE: &str = "ws";
const REGISTRY: &str = "shared";
/// The token the fake `az` hands out in the HTTPS run; it must never be printed.
const CLI_TOKEN: &str = "scenario-token-e5f1c9d2";

fn workspace() -> Scope {
    Scope::workspace(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)
}

fn registry() -> Scope {
    Scope::Registry {
        subscription: SUBSCRIPTION.into(),
        resource_group: RESOURCE_GROUP.into(),
        registry: REGISTRY.into(),
    }
}

/// An emulator serving the workspace and the registry, with its own Azurite.
struct Emulator {
    running: Running,
    _azurite: Azurite,
    _data: tempfile::TempDir,
}

impl Emulator {
    async fn start(test: &str, tls: bool) -> Option<Self> {
        let azurite_exe = emulator_support::azurite(test)?;
        let data = tempfile::tempdir().expect("temporary directory");
        let azurite = Azurite::start(&azurite_exe, &data.path().join("azurite")).expect("azurite");
        let mut config = Config::new(data.path().join("emulator"));
        config.tls = tls;
        config.workspaces = vec![workspace()];
        config.registries = vec![registry()];
        config.location = "westeurope".into();
        config.storage = Some(azurite.account());
        config.lro = LroTiming {
            polls: 1,
            retry_after: 0,
        };
        let running = amlops::emulator::spawn(config).await.expect("emulator");
        Some(Emulator {
            running,
            _azurite: azurite,
            _data: data,
        })
    }

    fn faults(&self, rules: Vec<FaultRule>) {
        self.running.set_faults(rules).expect("fault rules");
    }

    /// Requests that change something, since the log was last cleared.
    fn writes(&self) -> Vec<String> {
        self.running
            .log()
            .into_iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD") && r.status < 400)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn rule(fault: Fault, method: Option<&str>, path: Option<&str>, times: u32) -> FaultRule {
    let mut rule = FaultRule::new(fault);
    rule.method = method.map(str::to_owned);
    rule.path = path.map(str::to_owned);
    rule.times = Some(times);
    rule
}

/// How the binary authenticates to the emulator.
#[derive(Clone)]
enum Credentials {
    /// `--auth none`.
    Placeholder,
    /// `--auth cli`, with a fake `az` in this folder handing out [`CLI_TOKEN`].
    FakeCli(PathBuf),
}

/// Where the scenarios apply.
enum Target<'a> {
    Local,
    Emulator {
        emulator: &'a Emulator,
        credentials: Credentials,
    },
}

/// What one run of the binary printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Emulator { emulator, .. } if emulator.running.cert_path().is_some() => {
                "emulator over https"
            }
            Target::Emulator { .. } => "emulator over http",
        }
    }

    fn emulator(&self) -> Option<&Emulator> {
        match self {
            Target::Local => None,
            Target::Emulator { emulator, .. } => Some(emulator),
        }
    }

    /// The target options of the binary.
    fn args(&self, scope: &Scope) -> Vec<String> {
        let Target::Emulator {
            emulator,
            credentials,
        } = self
        else {
            return Vec::new();
        };
        let mut args = vec![
            "--subscription".into(),
            SUBSCRIPTION.into(),
            "--resource-group".into(),
            RESOURCE_GROUP.into(),
        ];
        match scope {
            Scope::Workspace { workspace, .. } => {
                args.extend(["--workspace".into(), workspace.clone()])
            }
            Scope::Registry { registry, .. } => {
                args.extend(["--registry".into(), registry.clone()])
            }
        }
        args.extend(["--endpoint".into(), emulator.running.url().to_owned()]);
        if let Some(cert) = emulator.running.cert_path() {
            args.extend(["--ca-cert".into(), cert.display().to_string()]);
        }
        let auth = match credentials {
            Credentials::Placeholder => "none",
            Credentials::FakeCli(_) => "cli",
        };
        args.extend(["--auth".into(), auth.into()]);
        args
    }

    fn command(&self, project: &Path, scope: &Scope, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_amlops"));
        command.args(args).arg(project).args(self.args(scope));
        for (name, _) in std::env::vars() {
            if name.starts_with("AZURE_")
                || name.starts_with("AMLOPS_")
                || name.starts_with("IDENTITY_")
                || name.starts_with("MSI_")
                || name.starts_with("ACTIONS_ID_TOKEN")
            {
                command.env_remove(name);
            }
        }
        command.env("NO_COLOR", "1").stdin(Stdio::null());
        if let Target::Emulator {
            credentials: Credentials::FakeCli(bin),
            ..
        } = self
        {
            let path = std::env::var("PATH").unwrap_or_default();
            command
                .env("PATH", format!("{}:{path}", bin.display()))
                .env("AMLOPS_LOG", "trace");
        }
        command
    }

    /// Runs `amlops ARGS PROJECT TARGET-OPTIONS`.
    async fn run(&self, project: &Path, scope: &Scope, args: &[&str]) -> Run {
        let mut command = self.command(project, scope, args);
        let output = tokio::task::spawn_blocking(move || command.output().expect("run amlops"))
            .await
            .expect("the run finishes");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The target opened in this process, to look at what it holds.
    async fn backend(&self, project: &Path, scope: &Scope) -> Box<dyn Backend> {
        let Target::Emulator { emulator, .. } = self else {
            let workspace = LocalWorkspace::open(&project.join(".amlops"), Scope::local())
                .expect("local workspace");
            return Box::new(workspace);
        };
        let connection = Connection {
            endpoint: Some(emulator.running.url().to_owned()),
            ca_cert: emulator.running.cert_path().map(Path::to_path_buf),
            auth: Some(AuthMethod::None),
        };
        let spec = match scope {
            Scope::Workspace { .. } => TargetSpec::Workspace {
                subscription: SUBSCRIPTION.into(),
                resource_group: RESOURCE_GROUP.into(),
                workspace: WORKSPACE.into(),
                connection,
            },
            Scope::Registry { .. } => TargetSpec::Registry {
                name: REGISTRY.into(),
                subscription: Some(SUBSCRIPTION.into()),
                resource_group: Some(RESOURCE_GROUP.into()),
                location: None,
                connection,
            },
        };
        let options = OpenOptions {
            auth_env: Some(AuthEnv::default()),
            ..OpenOptions::default()
        };
        Box::new(open_arm(&spec, options).await.expect("open the emulator").0)
    }

    /// What a project's target holds, for counting versions and jobs.
    async fn inventory(&self, project: &Path, scope: &Scope) -> Inventory {
        inventory(self.backend(project, scope).await.as_ref()).await
    }

    /// Starts watching for writes: the emulator's log, or the local database's bytes.
    fn watch(&self, project: &Path) -> Watch {
        match self.emulator() {
            Some(emulator) => {
                emulator.running.clear_log();
                Watch::Log
            }
            None => Watch::Database(std::fs::read(project.join(".amlops/workspace.db")).ok()),
        }
    }

    /// The writes made since `watch`.
    fn writes_since(&self, project: &Path, watch: Watch) -> Vec<String> {
        match (self.emulator(), watch) {
            (Some(emulator), _) => emulator.writes(),
            (None, Watch::Database(before)) => {
                let after = std::fs::read(project.join(".amlops/workspace.db")).ok();
                if after == before {
                    Vec::new()
                } else {
                    vec!["the local workspace database changed".into()]
                }
            }
            (None, Watch::Log) => unreachable!("local targets watch their database"),
        }
    }
}

enum Watch {
    Log,
    Database(Option<Vec<u8>>),
}

/// Asset versions by `collection/name`, jobs and computes of a target.
#[derive(Debug, Default, PartialEq)]
struct Inventory {
    versions: BTreeMap<String, Vec<String>>,
    /// (address tag, status) of every job.
    jobs: Vec<(String, String)>,
    /// Compute name → max nodes.
    computes: BTreeMap<String, i64>,
}

impl Inventory {
    fn versions_of(&self, key: &str) -> Vec<&str> {
        self.versions
            .get(key)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn code_versions(&self) -> usize {
        self.versions
            .iter()
            .filter(|(k, _)| k.starts_with("codes/"))
            .map(|(_, v)| v.len())
            .sum()
    }

    fn jobs_of(&self, address: &str) -> Vec<&str> {
        self.jobs
            .iter()
            .filter(|(a, _)| a == address)
            .map(|(_, s)| s.as_str())
            .collect()
    }
}

async fn inventory(backend: &dyn Backend) -> Inventory {
    let mut found = Inventory::default();
    let registry = backend.target().kind == "registry";
    for collection in ["data", "environments", "codes"] {
        let params: &[(&str, &str)] = if collection == "codes" {
            &[]
        } else {
            &[("listViewType", "All")]
        };
        let containers = backend.list(collection, params).await.expect("containers");
        for container in containers {
            let name = container["name"].as_str().expect("a name").to_owned();
            if name == amlops::lock::LOCK_ASSET {
                continue;
            }
            let mut versions: Vec<String> = backend
                .list(&format!("{collection}/{name}/versions"), params)
                .await
                .expect("versions")
                .iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect();
            versions.sort();
            found
                .versions
                .insert(format!("{collection}/{name}"), versions);
        }
    }
    if registry {
        return found;
    }
    for job in backend
        .list("jobs", &[("listViewType", "All")])
        .await
        .expect("jobs")
    {
        let address = job
            .pointer("/properties/tags/amlops.address")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let status = job
            .pointer("/properties/status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        found.jobs.push((address.to_owned(), status.to_owned()));
    }
    found.jobs.sort();
    for compute in backend.list("computes", &[]).await.expect("computes") {
        let max = compute
            .pointer("/properties/properties/scaleSettings/maxNodeCount")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        found
            .computes
            .insert(compute["name"].as_str().unwrap_or_default().to_owned(), max);
    }
    found
}

/// Everything the runs of one suite printed, to look for secrets at the end.
#[derive(Default)]
struct Transcript(String);

impl Transcript {
    fn add(&mut self, run: &Run) {
        self.0.push_str(&run.both());
    }
}

fn check(step: &str, target: &Target<'_>, run: &Run, code: i32) {
    assert_eq!(
        run.code,
        code,
        "{} / {step}: exit code\n{}",
        target.name(),
        run.both()
    );
}

/// The scenarios on a copy of the quickstart.
async fn suite(target: &Target<'_>) -> Transcript {
    let mut transcript = Transcript::default();
    let project = Project::example("quickstart");
    let dir = project.path();
    let scope = workspace();
    let name = target.name();

    // 1. First apply: everything is created and the job completes.
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("first apply", target, &run, 0);
    assert!(
        run.stderr
            .contains("Apply complete: 5 changes made, 2 uploads"),
        "{name}: {}",
        run.both()
    );
    let first = target.inventory(dir, &scope).await;
    assert_eq!(first.versions_of("data/iris"), ["1"], "{name}: {first:?}");
    assert_eq!(
        first.versions_of("environments/iris-train-env"),
        ["1"],
        "{name}"
    );
    assert_eq!(first.code_versions(), 1, "{name}: {first:?}");
    assert_eq!(first.jobs_of("job.train-job"), ["Completed"], "{name}");
    assert_eq!(first.computes.get("cpu-cluster"), Some(&2), "{name}");

    // 2. Re-apply: no change, no write, no upload.
    let watch = target.watch(dir);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("re-apply", target, &run, 0);
    assert!(run.stdout.contains("No changes."), "{name}: {}", run.both());
    assert_eq!(
        target.writes_since(dir, watch),
        Vec::<String>::new(),
        "{name}: re-apply wrote"
    );
    assert_eq!(target.inventory(dir, &scope).await, first, "{name}");

    // 3. A changed script: a new code snapshot and a new job; the data stays.
    project.append("src/train.py", "\n# tuned\n");
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("changed script", target, &run, 0);
    let changed = target.inventory(dir, &scope).await;
    assert_eq!(changed.code_versions(), 2, "{name}: {changed:?}");
    assert_eq!(
        changed.jobs_of("job.train-job"),
        ["Completed", "Completed"],
        "{name}"
    );
    assert_eq!(changed.versions_of("data/iris"), ["1"], "{name}");

    // 4. A compute scale change: patched in place, jobs left alone.
    let compute = std::fs::read_to_string(dir.join("compute.yml")).unwrap();
    project.write(
        "compute.yml",
        &compute.replace("max_instances: 2", "max_instances: 4"),
    );
    let plan = target.run(dir, &scope, &["plan"]).await;
    transcript.add(&plan);
    assert!(
        plan.stdout.contains("update in place"),
        "{name}: {}",
        plan.both()
    );
    let watch = target.watch(dir);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("scale change", target, &run, 0);
    if target.emulator().is_some() {
        let writes = target.writes_since(dir, watch);
        assert!(
            writes
                .iter()
                .any(|w| w.starts_with("PATCH ") && w.ends_with("/computes/cpu-cluster")),
            "{name}: {writes:?}"
        );
        assert!(
            !writes
                .iter()
                .any(|w| w.starts_with("DELETE ") && w.contains("/computes/")),
            "{name}: {writes:?}"
        );
    }
    let scaled = target.inventory(dir, &scope).await;
    assert_eq!(scaled.computes.get("cpu-cluster"), Some(&4), "{name}");
    let plan = target.run(dir, &scope, &["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan --json");
    let compute = plan["changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["address"] == "compute.cpu-cluster"))
        .expect("the compute in the plan");
    assert_eq!(
        compute["applied_spec"], compute["desired_spec"],
        "{name}: the scale change's specification was not recorded"
    );
    assert_eq!(
        scaled.jobs, changed.jobs,
        "{name}: the scale change re-ran a job"
    );

    // 5. A version conflict: refused before anything is written.
    project.write(
        "pinned.yml",
        "name: pinned\nversion: 1\ntype: uri_file\npath: ./data/pinned.csv\n",
    );
    project.write("data/pinned.csv", "a,b\n1,2\n");
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("pinned data", target, &run, 0);
    project.write("data/pinned.csv", "a,b\n3,4\n");
    let plan = target.run(dir, &scope, &["plan"]).await;
    transcript.add(&plan);
    check("conflicting plan", target, &plan, 1);
    assert!(plan.stdout.contains("conflict"), "{name}: {}", plan.both());
    let watch = target.watch(dir);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("conflicting apply", target, &run, 1);
    assert_eq!(
        target.writes_since(dir, watch),
        Vec::<String>::new(),
        "{name}: a conflict wrote"
    );
    assert_eq!(
        target
            .inventory(dir, &scope)
            .await
            .versions_of("data/pinned"),
        ["1"],
        "{name}"
    );
    project.write("data/pinned.csv", "a,b\n1,2\n");

    // 6. A failing job: reported, and not submitted again by the next apply.
    project.write(
        "fail.yml",
        "type: command\ncommand: echo about to fail && exit 3\nenvironment: azureml:iris-train-env@latest\ncompute: azureml:cpu-cluster\n",
    );
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("failing job", target, &run, 1);
    assert!(
        run.stderr.contains("ended Failed"),
        "{name}: {}",
        run.both()
    );
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("after the failing job", target, &run, 0);
    let last = target.inventory(dir, &scope).await;
    assert_eq!(last.jobs_of("job.fail"), ["Failed"], "{name}: {last:?}");
    assert_eq!(last.jobs_of("job.train-job").len(), 2, "{name}");
    project.remove("fail.yml");

    // 7. `rerun: always`: a new job on every apply, though nothing changed.
    let job = "command: echo rerun\nenvironment: azureml:iris-train-env@latest\ncompute: azureml:cpu-cluster\n";
    project.write("nightly.yml", &format!("rerun: always\n{job}"));
    for round in 1..=2 {
        let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
        transcript.add(&run);
        check("rerun: always", target, &run, 0);
        let jobs = target.inventory(dir, &scope).await;
        assert_eq!(jobs.jobs_of("job.nightly").len(), round, "{name}: {jobs:?}");
    }
    // Apply would submit it again, yet nothing drifted and nothing is pending.
    let drift = target.run(dir, &scope, &["drift"]).await;
    transcript.add(&drift);
    check("rerun: always, drift", target, &drift, 0);
    project.remove("nightly.yml");

    // 8. `rerun: never`: submitted once, an edit after that is not submitted.
    project.write("once.yml", &format!("rerun: never\n{job}"));
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("rerun: never", target, &run, 0);
    project.write(
        "once.yml",
        &format!("rerun: never\n{}", job.replace("echo rerun", "echo edited")),
    );
    let plan = target
        .run(dir, &scope, &["plan", "--detailed-exitcode"])
        .await;
    transcript.add(&plan);
    check("rerun: never, edited", target, &plan, 0);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    let once = target.inventory(dir, &scope).await;
    assert_eq!(once.jobs_of("job.once"), ["Completed"], "{name}: {once:?}");
    transcript
}

/// A registry asset: created once, left alone after, and no place for a compute.
async fn registry_suite(target: &Target<'_>, transcript: &mut Transcript) {
    let project = Project::empty();
    let dir = project.path();
    let scope = registry();
    let name = target.name();
    project.write("data/labels.csv", "id,label\n1,cat\n");
    project.write(
        "labels.yml",
        "name: labels\ntype: uri_file\npath: ./data/labels.csv\n",
    );
    project.write(
        "base-env.yml",
        "name: base\nversion: 7\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\n",
    );
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("registry apply", target, &run, 0);
    let first = target.inventory(dir, &scope).await;
    assert_eq!(first.versions_of("data/labels"), ["1"], "{name}: {first:?}");
    assert_eq!(first.versions_of("environments/base"), ["7"], "{name}");
    let watch = target.watch(dir);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    transcript.add(&run);
    check("registry re-apply", target, &run, 0);
    assert!(run.stdout.contains("No changes."), "{name}: {}", run.both());
    assert_eq!(
        target.writes_since(dir, watch),
        Vec::<String>::new(),
        "{name}"
    );
    assert_eq!(target.inventory(dir, &scope).await, first, "{name}");
    project.write(
        "compute.yml",
        "name: cpu\ntype: amlcompute\nsize: STANDARD_DS3_v2\n",
    );
    let run = target.run(dir, &scope, &["plan"]).await;
    transcript.add(&run);
    check("compute in a registry", target, &run, 1);
    assert!(
        run.stderr.contains("cannot be applied to a registry"),
        "{name}: {}",
        run.both()
    );
}

/// Secrets of a run: bearer tokens and SAS signatures must never be printed.
fn assert_no_secrets(transcript: &Transcript) {
    let text = &transcript.0;
    assert!(!text.contains(CLI_TOKEN), "the token was printed");
    assert!(
        !text.contains(amlops::auth::PLACEHOLDER_TOKEN),
        "the placeholder token was printed"
    );
    for marker in ["sig=", "sig%3D", "Bearer "] {
        assert!(!text.contains(marker), "`{marker}` was printed");
    }
}

fn fake_az(dir: &Path) {
    let script = format!(
        "#!/bin/sh\nnow=$(date +%s)\nprintf '{{\"accessToken\": \"{CLI_TOKEN}\", \"expires_on\": %s, \"tokenType\": \"Bearer\"}}\\n' $((now + 3600))\n"
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_workspace() {
    let transcript = suite(&Target::Local).await;
    assert_no_secrets(&transcript);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_over_http() {
    let Some(emulator) = Emulator::start("emulator_over_http", false).await else {
        return;
    };
    let target = Target::Emulator {
        emulator: &emulator,
        credentials: Credentials::Placeholder,
    };
    let mut transcript = suite(&target).await;
    registry_suite(&target, &mut transcript).await;
    assert_no_secrets(&transcript);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_over_https_with_cli_credentials() {
    let Some(emulator) = Emulator::start("emulator_over_https_with_cli_credentials", true).await
    else {
        return;
    };
    let bin = tempfile::tempdir().unwrap();
    fake_az(bin.path());
    let target = Target::Emulator {
        emulator: &emulator,
        credentials: Credentials::FakeCli(bin.path().to_path_buf()),
    };
    let mut transcript = suite(&target).await;
    registry_suite(&target, &mut transcript).await;
    // Request tracing was on: the paths were logged, never a token or a SAS.
    assert!(transcript.0.contains("request"), "tracing was on");
    assert_no_secrets(&transcript);
}

/// Applies the quickstart under `faults`, then checks that a re-run without faults makes no
/// write and that nothing exists twice.
async fn converges_under(test: &str, faults: Vec<FaultRule>) {
    let Some(emulator) = Emulator::start(test, false).await else {
        return;
    };
    let target = Target::Emulator {
        emulator: &emulator,
        credentials: Credentials::Placeholder,
    };
    let project = Project::example("quickstart");
    let dir = project.path();
    let scope = workspace();
    emulator.faults(faults);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    let injected = emulator
        .running
        .log()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(injected > 0, "{test}: no fault fired");
    check(test, &target, &run, 0);
    emulator.faults(Vec::new());
    converged(test, &target, dir).await;
    assert_no_secrets(&Transcript(run.both()));
}

/// A re-run makes no write; one version of each asset, one job.
async fn converged(test: &str, target: &Target<'_>, dir: &Path) {
    let scope = workspace();
    let watch = target.watch(dir);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    check(test, target, &run, 0);
    assert!(run.stdout.contains("No changes."), "{test}: {}", run.both());
    assert_eq!(
        target.writes_since(dir, watch),
        Vec::<String>::new(),
        "{test}"
    );
    let found = target.inventory(dir, &scope).await;
    assert_eq!(found.versions_of("data/iris"), ["1"], "{test}: {found:?}");
    assert_eq!(
        found.versions_of("environments/iris-train-env"),
        ["1"],
        "{test}"
    );
    assert_eq!(found.code_versions(), 1, "{test}: {found:?}");
    assert_eq!(
        found.jobs_of("job.train-job"),
        ["Completed"],
        "{test}: {found:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_a_429_storm() {
    converges_under(
        "converges_under_a_429_storm",
        vec![rule(Fault::Throttle { retry_after: 1 }, None, None, 12)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_server_errors() {
    converges_under(
        "converges_under_server_errors",
        vec![
            rule(Fault::Error { status: 500 }, Some("PUT"), None, 3),
            rule(Fault::Error { status: 503 }, Some("GET"), None, 4),
            rule(Fault::Error { status: 502 }, Some("PATCH"), None, 1),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_dropped_connections() {
    converges_under(
        "converges_under_dropped_connections",
        vec![
            rule(Fault::Drop, Some("PUT"), None, 3),
            rule(Fault::Drop, Some("GET"), None, 3),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_after_a_killed_apply() {
    let test = "converges_after_a_killed_apply";
    let Some(emulator) = Emulator::start(test, false).await else {
        return;
    };
    let target = Target::Emulator {
        emulator: &emulator,
        credentials: Credentials::Placeholder,
    };
    let project = Project::example("quickstart");
    let dir = project.path();
    let scope = workspace();
    // The job's PUT is slow, so the apply is killed after the assets exist and before the
    // job does.
    emulator.faults(vec![rule(
        Fault::Latency { ms: 30_000 },
        Some("PUT"),
        Some("/jobs/"),
        1,
    )]);
    let mut child = target
        .command(dir, &scope, &["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start amlops");
    let started = Instant::now();
    let assets_exist = || {
        emulator
            .running
            .log()
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains("/data/iris/versions/"))
            && emulator
                .running
                .log()
                .iter()
                .any(|r| r.path.ends_with("/computes/cpu-cluster") && r.method == "GET")
    };
    while !assets_exist() && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(assets_exist(), "{test}: the apply never got to its assets");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().expect("kill amlops");
    child.wait().expect("reap amlops");
    emulator.faults(Vec::new());

    // The dead apply's lock is named, released on request, and the next apply finishes.
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    check("locked", &target, &run, 1);
    let id = run
        .stderr
        .split("lock id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the lock id is named")
        .to_owned();
    let run = target.run(dir, &scope, &["force-unlock", &id]).await;
    check("force-unlock", &target, &run, 0);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    check("apply after the kill", &target, &run, 0);
    converged(test, &target, dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_compute_operation_is_reported_and_retried() {
    let test = "a_failed_compute_operation_is_reported_and_retried";
    let Some(emulator) = Emulator::start(test, false).await else {
        return;
    };
    let target = Target::Emulator {
        emulator: &emulator,
        credentials: Credentials::Placeholder,
    };
    let project = Project::example("quickstart");
    let dir = project.path();
    let scope = workspace();
    emulator.faults(vec![rule(
        Fault::LroFailed,
        Some("PUT"),
        Some("/computes/"),
        1,
    )]);
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    check("failed operation", &target, &run, 1);
    assert!(run.stderr.contains("compute.cpu-cluster"), "{}", run.both());
    emulator.faults(Vec::new());
    // The failed compute is replaced (never silently kept), with the usual permission.
    let run = target.run(dir, &scope, &["plan"]).await;
    assert!(
        run.stdout.contains("its last provisioning failed"),
        "{}",
        run.both()
    );
    let run = target.run(dir, &scope, &["apply", "--auto-approve"]).await;
    check("apply without --allow-replace", &target, &run, 1);
    let run = target
        .run(dir, &scope, &["apply", "--auto-approve", "--allow-replace"])
        .await;
    check("apply after the failure", &target, &run, 0);
    converged(test, &target, dir).await;
}
