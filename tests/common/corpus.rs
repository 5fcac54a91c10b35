//! The conformance corpus (`../shared/corpus/`) and its oracle (`../shared/oracle/golden/`),
//! shared by the conformance test, the corpus plan test and the corpus benchmark.
//!
//! The corpus is read from a staged copy, as the oracle read it: every file the corpus left
//! out (`omitted:*` in `azureml-examples-source-files.tsv`) is an empty file, and the paths the
//! oracle had to stub (`stubbed_missing_paths` of the goldens) exist too.

#![allow(dead_code, reason = "each test binary uses a part of these helpers")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The shared folder beside the repository, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("corpus/azureml-examples-expected.tsv")
        .is_file()
        .then(|| std::fs::canonicalize(&dir).unwrap_or(dir))
}

/// One row of `azureml-examples-expected.tsv`.
#[derive(Clone, Debug)]
pub struct Row {
    /// Relative to the corpus root: `cli/jobs/basics/hello-world.yml`.
    pub path: String,
    pub kind: String,
    pub core: bool,
    /// `accept`, `reject` or `n/a`: the official loader's verdict.
    pub load: String,
    pub sdk_error: String,
}

impl Row {
    pub fn rejected(&self) -> bool {
        self.load == "reject"
    }
}

pub fn rows(shared: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(shared.join("corpus/azureml-examples-expected.tsv"))
        .expect("expected TSV");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let col = |i: usize| cols.get(i).copied().unwrap_or_default().to_owned();
            Row {
                path: col(0),
                kind: col(1),
                core: col(2) == "yes",
                load: col(3),
                sdk_error: col(4),
            }
        })
        .collect()
}

/// A staged copy of the corpus in a temporary folder.
pub struct Stage {
    _dir: tempfile::TempDir,
    /// The staged `azureml-examples` folder.
    pub root: PathBuf,
}

/// Copies the corpus and recreates what it left out, as the oracle did.
pub fn stage(shared: &Path) -> Stage {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("azureml-examples");
    copy_tree(&shared.join("corpus/azureml-examples"), &root);
    let listing = std::fs::read_to_string(shared.join("corpus/azureml-examples-source-files.tsv"))
        .expect("source files TSV");
    for line in listing.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(path), Some(status)) = (cols.first(), cols.get(3)) else {
            continue;
        };
        if !status.starts_with("omitted:") || *status == "omitted:out-of-scope-yaml" {
            continue;
        }
        let target = root.join(path);
        if !target.exists() {
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(&target, b"").expect("write stand-in");
        }
    }
    for stub in oracle_stubs(shared) {
        let target = root.join(&stub);
        if target.exists() {
            continue;
        }
        if target.extension().is_some() {
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(
                &target,
                "# stub: path referenced by a YAML but absent from the corpus\n",
            )
            .expect("stub file");
        } else {
            std::fs::create_dir_all(&target).expect("stub folder");
            std::fs::write(
                target.join("STUB.txt"),
                "stub: folder referenced by a YAML but absent from the corpus\n",
            )
            .expect("stub file");
        }
    }
    Stage { _dir: dir, root }
}

/// The paths the oracle created because a YAML referenced them, except for the file the
/// official loader rejects for exactly that reason (a template's generated `code:` folder).
fn oracle_stubs(shared: &Path) -> BTreeSet<String> {
    let rejected: BTreeSet<String> = rows(shared)
        .into_iter()
        .filter(Row::rejected)
        .map(|r| r.path)
        .collect();
    let mut stubs = BTreeSet::new();
    for row in rows(shared) {
        if rejected.contains(&row.path) {
            continue;
        }
        let Some(golden) = golden(shared, &row.path) else {
            continue;
        };
        if let Some(paths) = golden
            .get("stubbed_missing_paths")
            .and_then(Value::as_array)
        {
            stubs.extend(paths.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    stubs
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read corpus") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("link");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The golden envelope of a corpus file, if the oracle wrote one.
pub fn golden(shared: &Path, path: &str) -> Option<Value> {
    let file = shared.join("oracle/golden").join(format!("{path}.json"));
    let text = std::fs::read_to_string(file).ok()?;
    Some(serde_json::from_str(&text).expect("golden JSON"))
}

/// A recorded request: method, path (with the api-version), body.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub method: String,
    pub path: String,
    pub api_version: String,
    pub body: Option<Value>,
}

/// The PUTs of a golden envelope, in the order the SDK sent them.
pub fn golden_puts(golden: &Value) -> Vec<Sent> {
    let mut all: Vec<&Value> = Vec::new();
    for key in ["prior_requests", "later_requests"] {
        if let Some(list) = golden.get(key).and_then(Value::as_array) {
            all.extend(list);
        }
        if key == "prior_requests"
            && let Some(request) = golden.get("request")
        {
            all.push(request);
        }
    }
    all.into_iter()
        .filter(|r| r.get("method").and_then(Value::as_str) == Some("PUT"))
        .map(|r| Sent {
            method: "PUT".into(),
            path: r["path"].as_str().unwrap_or_default().to_owned(),
            api_version: r["api_version"].as_str().unwrap_or_default().to_owned(),
            body: r.get("body").cloned(),
        })
        .collect()
}

/// The code-hash look-ups of a golden (the SDK's content hash of each local `code:`).
pub fn golden_code_hashes(golden: &Value) -> Vec<String> {
    golden
        .get("prior_requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/query/hash").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Differences between two JSON values, as `path: expected … found …` lines.
pub fn json_diff(expected: &Value, found: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", expected, found, &mut out);
    out
}

fn diff_into(path: &str, expected: &Value, found: &Value, out: &mut Vec<String>) {
    match (expected, found) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff_into(&child, x, y, out),
                    (Some(x), None) => out.push(format!("{child}: missing (expected {x})")),
                    (None, Some(y)) => out.push(format!("{child}: unexpected {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_into(&format!("{path}/{i}"), x, y, out);
            }
        }
        _ if expected != found => out.push(format!("{path}: expected {expected}, found {found}")),
        _ => {}
    }
}

/// Replaces every occurrence of each key of `map` in the strings of `value`.
pub fn substitute(value: &Value, map: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => {
            let mut text = s.clone();
            for (from, to) in map {
                if text.contains(from.as_str()) {
                    text = text.replace(from.as_str(), to);
                }
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, map)).collect()),
        Value::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), substitute(v, map)))
                .collect(),
        ),
        other => other.clone(),
    }
}
