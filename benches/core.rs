//! Figures for the core path: planning time, and content hashing beside the tools people use.
//!
//! `cargo bench --bench core` prints:
//! - the time to plan `examples/quickstart` and each in-scope data, environment, compute and
//!   command-job file of the conformance corpus (when `../shared` is present);
//! - hashing throughput on 1 GiB of large files and on 20,000 small files, beside
//!   `sha256sum` (one process, and one per core through `xargs -P`), Python's `hashlib`, and the
//!   official SDK's `get_content_hash` (when `AMLOPS_SDK_PYTHON` names a Python with
//!   azure-ai-ml installed, default `/work/oracle-venv/bin/python`).
//!
//! Set `AMLOPS_BENCH_QUICK=1` for smaller sizes (for a smoke run).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use amlops::backend::local::LocalWorkspace;
use amlops::plan::PlanOptions;
use amlops::scope::Scope;
use amlops::workflow::{self, PlanRequest};

fn main() {
    let quick = std::env::var("AMLOPS_BENCH_QUICK").is_ok();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("# amlops core benchmark ({} cores)\n", cores());
    plan_figures(&runtime);
    let (large_files, large_size) = if quick { (4, 16 << 20) } else { (8, 128 << 20) };
    let small_files = if quick { 2_000 } else { 20_000 };
    large_file_figures(large_files, large_size);
    small_file_figures(small_files);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The best of `runs` timings of `work`.
fn best(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn plan_once(runtime: &tokio::runtime::Runtime, paths: &[PathBuf], data_dir: &Path) -> bool {
    let manifest = amlops::manifest::load(paths);
    if manifest.has_errors() {
        return false;
    }
    let Ok(artifacts) = workflow::artifacts(&manifest.resources) else {
        return false;
    };
    let backend = LocalWorkspace::open(data_dir, Scope::local()).expect("workspace");
    let request = PlanRequest {
        manifest: &manifest,
        artifacts: &artifacts,
        project: "bench",
        options: PlanOptions::default(),
    };
    runtime
        .block_on(workflow::make_plan(&backend, request))
        .is_ok()
}

fn plan_figures(runtime: &tokio::runtime::Runtime) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data_dir = tempfile::tempdir().expect("temp");
    let quickstart = vec![root.join("examples/quickstart")];
    assert!(
        plan_once(runtime, &quickstart, data_dir.path()),
        "the quickstart plans"
    );
    let time = best(20, || {
        plan_once(runtime, &quickstart, data_dir.path());
    });
    println!(
        "plan examples/quickstart (load, hash, plan against an empty local workspace): {:.2} ms",
        ms(time)
    );

    let shared = root.join("../shared/corpus");
    let Ok(tsv) = std::fs::read_to_string(shared.join("azureml-examples-expected.tsv")) else {
        println!("(../shared is absent: corpus planning skipped)\n");
        return;
    };
    let staged = stage_corpus(&shared);
    let kinds = ["data", "environment", "compute-amlcompute", "job-command"];
    let files: Vec<PathBuf> = tsv
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.get(2) == Some(&"yes")
                && cols.get(3) == Some(&"accept")
                && kinds.contains(&cols[1]))
            .then(|| staged.path().join("azureml-examples").join(cols[0]))
        })
        .collect();
    let mut planned = 0;
    let time = best(5, || {
        planned = files
            .iter()
            .filter(|f| plan_once(runtime, std::slice::from_ref(f), data_dir.path()))
            .count();
    });
    println!(
        "plan the {} in-scope data/environment/amlcompute/command-job corpus files one by one: {:.2} ms in all, {:.3} ms per file ({} planned without references to undeclared assets)\n",
        files.len(),
        ms(time),
        ms(time) / files.len() as f64,
        planned
    );
}

/// A copy of the corpus with the files the corpus omits created empty, as `az ml` needs them.
fn stage_corpus(shared: &Path) -> tempfile::TempDir {
    let staged = tempfile::tempdir().expect("temp");
    copy_dir(
        &shared.join("azureml-examples"),
        &staged.path().join("azureml-examples"),
    );
    if let Ok(sources) = std::fs::read_to_string(shared.join("azureml-examples-source-files.tsv")) {
        for line in sources.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() > 3 && cols[3].starts_with("omitted") {
                let path = staged.path().join("azureml-examples").join(cols[0]);
                if !path.exists() {
                    let _ = std::fs::create_dir_all(path.parent().expect("parent"));
                    let _ = std::fs::write(&path, b"");
                }
            }
        }
    }
    staged
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Deterministic bytes that do not compress.
fn fill(file: &mut std::fs::File, size: usize, seed: u64) {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut buffer = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < size {
        for chunk in buffer.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = buffer.len().min(size - written);
        file.write_all(&buffer[..n]).expect("write");
        written += n;
    }
}

fn large_file_figures(count: usize, size: usize) {
    let dir = tempfile::tempdir().expect("temp");
    for i in 0..count {
        let mut file =
            std::fs::File::create(dir.path().join(format!("part-{i:02}.bin"))).expect("create");
        fill(&mut file, size, i as u64 + 1);
    }
    let total = (count * size) as f64;
    let gib = total / (1u64 << 30) as f64;
    println!(
        "## {count} files of {} MiB ({gib:.2} GiB), page cache warm",
        size >> 20
    );
    warm(dir.path());
    let ours = best(3, || {
        let set = amlops::content::list(dir.path()).expect("list");
        amlops::content::tree_digest(&set).expect("digest");
    });
    report("amlops tree digest (all cores)", ours, total);
    let sdk_layout = best(1, || {
        let set = amlops::content::list(dir.path()).expect("list");
        amlops::content::sdk_hash(&set).expect("hash");
    });
    report("amlops SDK-layout hash (one stream)", sdk_layout, total);
    let files = format!("{}/*.bin", dir.path().display());
    if let Some(t) = shell_time(&format!("sha256sum {files} > /dev/null")) {
        report("sha256sum, one process", t, total);
    }
    if let Some(t) = shell_time(&format!(
        "ls {files} | xargs -P {} -n 1 sha256sum > /dev/null",
        cores()
    )) {
        report(
            &format!("sha256sum, {} processes (all cores)", cores()),
            t,
            total,
        );
        println!(
            "  amlops / all-core sha256sum: {:.2}x (target: at most 1.3x)",
            ours.as_secs_f64() / t.as_secs_f64()
        );
    }
    if let Some(t) = python_time(&format!(
        "import hashlib,glob\nfor p in sorted(glob.glob('{files}')):\n    h=hashlib.sha256()\n    with open(p,'rb') as f:\n        for b in iter(lambda: f.read(1<<20), b''): h.update(b)\n"
    )) {
        report("python hashlib, one process", t, total);
    }
    println!();
}

fn small_file_figures(count: usize) {
    let dir = tempfile::tempdir().expect("temp");
    for i in 0..count {
        let sub = dir.path().join(format!("d{:03}", i % 200));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let mut file = std::fs::File::create(sub.join(format!("f{i:05}.py"))).expect("create");
        fill(&mut file, 512 + (i * 37) % 3584, i as u64);
    }
    let total: f64 = walk_size(dir.path()) as f64;
    println!(
        "## {count} small files ({:.1} MiB), page cache warm",
        total / (1u64 << 20) as f64
    );
    warm(dir.path());
    let ours = best(3, || {
        let set = amlops::content::list(dir.path()).expect("list");
        amlops::content::tree_digest(&set).expect("digest");
    });
    report("amlops tree digest", ours, total);
    let sdk_layout = best(3, || {
        let set = amlops::content::list(dir.path()).expect("list");
        amlops::content::sdk_hash(&set).expect("hash");
    });
    report("amlops SDK-layout hash", sdk_layout, total);
    if let Some(t) = shell_time(&format!(
        "find {} -type f -print0 | xargs -0 sha256sum > /dev/null",
        dir.path().display()
    )) {
        report("sha256sum over find", t, total);
    }
    let sdk_python = std::env::var("AMLOPS_SDK_PYTHON")
        .unwrap_or_else(|_| "/work/oracle-venv/bin/python".into());
    if Path::new(&sdk_python).exists() {
        let script = format!(
            "import time\nfrom azure.ai.ml._utils._asset_utils import get_content_hash\nstart=time.perf_counter()\nget_content_hash('{}')\nprint(time.perf_counter()-start)\n",
            dir.path().display()
        );
        if let Ok(output) = Command::new(&sdk_python).arg("-c").arg(&script).output()
            && let Ok(seconds) = String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<f64>()
        {
            let t = Duration::from_secs_f64(seconds);
            report("official SDK get_content_hash (import excluded)", t, total);
            println!(
                "  SDK / amlops: {:.1}x faster (target: at least 5x)",
                t.as_secs_f64() / ours.as_secs_f64()
            );
        }
    } else {
        println!("  (no Python with azure-ai-ml at {sdk_python}: the SDK's hasher was not timed)");
    }
    println!();
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read")
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_size(&e.path())
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Reads everything once so every tool starts with a warm page cache.
fn warm(dir: &Path) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -type f -exec cat {{}} + > /dev/null",
            dir.display()
        ))
        .status();
}

fn shell_time(command: &str) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("sh").arg("-c").arg(command).status().ok()?;
    status.success().then(|| start.elapsed())
}

fn python_time(script: &str) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .status()
        .ok()?;
    status.success().then(|| start.elapsed())
}

fn report(label: &str, time: Duration, bytes: f64) {
    println!(
        "  {label:<48} {:>9.1} ms  {:>8.0} MiB/s",
        ms(time),
        bytes / (1u64 << 20) as f64 / time.as_secs_f64()
    );
}
