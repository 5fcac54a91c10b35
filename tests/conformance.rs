//! Conformance with `az ml` on Microsoft's public examples.
//!
//! Walks the corpus (`../shared/corpus/azureml-examples`, staged as the oracle staged it) and,
//! for every file in core scope, checks that amlops reads it without error and that the
//! requests its plan sends equal the requests the official SDK sent (the goldens of
//! `../shared/oracle/golden/`), after the golden's placeholders are replaced and the deliberate
//! differences listed in [`DIFFERENCES`] are taken into account. Files the official loader
//! rejects must be rejected with a message naming the offending key; files out of core scope
//! must be refused as an unsupported kind or reported as no resource, never crash.
//!
//! `CONFORMANCE_ONLY=<substring>` restricts the run to matching paths; `CONFORMANCE_VERBOSE=1`
//! prints every difference.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::corpus::{self, Row, Sent, json_diff};
use common::oracle::{self, Translation};
use serde_json::Value;

/// Where amlops deliberately sends something other than the SDK, and why. The comparison
/// applies each of these, and nothing else.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "job names",
        "a job without `name:` gets a name derived from its address and the hash of its resolved \
         specification instead of a random one, so that a second apply finds it and runs nothing; \
         the golden `__GENERATED_JOB_NAME__` is replaced by that name",
    ),
    (
        "experiment names",
        "a job without `experiment_name:` is filed under the manifest set's name (its folder) \
         instead of the current directory's name, so the result does not depend on where amlops \
         runs; the test names the set after the YAML's folder, which is the oracle's current \
         directory, and replaces `__CWD_BASENAME__` with it",
    ),
    (
        "code assets",
        "a local `code:` becomes `codes/<name>/versions/1` where the name is derived from the \
         folder's content digest instead of a random UUID, and amlops creates it when the \
         workspace has no code with the same SDK content hash (the oracle's fake always had one); \
         the test checks amlops computes the SDK's content hash the golden looked up, replaces \
         `__LOCAL_n__` by the derived name and accepts amlops' code PUT, which the golden lacks; \
         code with `additional_includes` is uploaded as the folder with the includes beside it \
         rather than from a temporary merged copy (`<temp-snapshot>` in the golden)",
    ),
    (
        "upload paths",
        "local data and build contexts are uploaded to `LocalUpload/<digest>/<name>` where the \
         digest is amlops' content digest (the golden's `__LOCAL_n__`)",
    ),
    (
        "build context URIs",
        "a build context uploaded by amlops is named by its datastore URI \
         (`azureml://datastores/workspaceblobstore/paths/…`) instead of the storage account's \
         https URL, which amlops would need to look up; Azure ML accepts both",
    ),
    (
        "anonymous component versions",
        "versions of anonymous components are the SDK's hash of their specification; where the \
         specification names a code asset (above), the golden version is derived again from the \
         golden specification with the replacements made",
    ),
];

/// What amlops does with an in-scope file whose golden is an SDK failure.
enum Instead {
    /// amlops plans it (there is no golden to compare with).
    Plans,
    /// amlops refuses it with an error starting with this text.
    Refuses(&'static str),
}

/// In-scope files whose golden is an SDK failure, what amlops does instead, and why.
const SDK_FAILURES: &[(&str, Instead, &str)] = &[
    (
        "cli/foundation-models/system/finetune/image-instance-segmentation/mmdetection-fridgeobjects-instance-segmentation-pipeline.yaml",
        Instead::Plans,
        "the SDK crashes on pipeline inputs declared without a path (the example fills them with \
         `--set`); amlops sends them without a URI, for Azure to judge",
    ),
    (
        "cli/foundation-models/system/finetune/image-object-detection/mmdetection-fridgeobjects-detection-pipeline.yaml",
        Instead::Plans,
        "as above",
    ),
    (
        "cli/foundation-models/system/finetune/video-multi-object-tracking/mmtracking-mot17tiny-mot-pipeline.yaml",
        Instead::Plans,
        "as above",
    ),
    (
        "cli/jobs/pipelines-with-components/pipeline_job_with_flow_as_component/pipeline.yml",
        Instead::Refuses("unsupported kind: prompt flow component"),
        "the SDK cannot read back the prompt flow component it registers; prompt flows are out \
         of amlops' scope",
    ),
];

#[test]
fn corpus_conforms() {
    let Some(shared) = corpus::shared_dir() else {
        println!("conformance: skipped, ../shared/corpus is absent");
        return;
    };
    let only = std::env::var("CONFORMANCE_ONLY").ok();
    let verbose = std::env::var("CONFORMANCE_VERBOSE").is_ok();
    let stage = corpus::stage(&shared);
    let mut tally: BTreeMap<(bool, String), (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in corpus::rows(&shared) {
        if only.as_deref().is_some_and(|o| !row.path.contains(o)) {
            continue;
        }
        let result = check(&shared, &stage.root, &row);
        let entry = tally.entry((row.core, row.kind.clone())).or_default();
        entry.1 += 1;
        match result {
            Ok(()) => entry.0 += 1,
            Err(problem) => {
                let shown = if verbose {
                    problem
                } else {
                    problem.lines().take(8).collect::<Vec<_>>().join("\n")
                };
                failures.push(format!("{}:\n  {}", row.path, shown.replace('\n', "\n  ")));
            }
        }
    }
    let mut in_scope = (0, 0);
    for ((core, kind), (matched, total)) in &tally {
        if *core {
            println!("conformance: {matched}/{total} files match ({kind})");
            in_scope = (in_scope.0 + matched, in_scope.1 + total);
        } else {
            println!(
                "conformance: {matched}/{total} files refused as expected ({kind}, out of scope)"
            );
        }
    }
    println!(
        "conformance: {}/{} in-scope files match",
        in_scope.0, in_scope.1
    );
    for (what, why) in DIFFERENCES {
        println!("conformance: deliberate difference, {what}: {why}");
    }
    for (path, _, why) in SDK_FAILURES {
        println!("conformance: the SDK fails on {path}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} file(s) do not conform:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(shared: &Path, root: &Path, row: &Row) -> Result<(), String> {
    let file = root.join(&row.path);
    let project = file
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let translation = oracle::translate(&file, &project);
    if !row.core {
        return check_out_of_scope(row, &translation);
    }
    if row.rejected() {
        return check_rejected(row, &translation);
    }
    if let Some((_, instead, _)) = SDK_FAILURES.iter().find(|(p, _, _)| *p == row.path) {
        return match instead {
            Instead::Plans if translation.plan.is_some() => Ok(()),
            Instead::Refuses(start)
                if translation
                    .errors
                    .iter()
                    .any(|d| d.message.starts_with(start)) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "the SDK failed on this file; amlops should have done otherwise:\n{}",
                render_errors(&translation)
            )),
        };
    }
    if !translation.errors.is_empty() {
        return Err(render_errors(&translation));
    }
    let golden = corpus::golden(shared, &row.path).ok_or("no golden file")?;
    compare(&golden, &file, &translation, &project)
}

fn render_errors(translation: &Translation) -> String {
    translation
        .errors
        .iter()
        .map(|d| d.render())
        .collect::<Vec<_>>()
        .join("")
}

/// Out of scope: an "unsupported kind" error, or a warning that the file is no resource.
fn check_out_of_scope(row: &Row, translation: &Translation) -> Result<(), String> {
    let diagnostics = &translation.manifest.diagnostics.items;
    let unsupported = diagnostics
        .iter()
        .any(|d| d.is_error() && d.message.starts_with("unsupported kind: "));
    let not_resource = diagnostics
        .iter()
        .any(|d| !d.is_error() && d.message.starts_with("skipped: not an Azure ML resource"));
    let is_aux = row.kind.starts_with("aux-")
        || row.kind.starts_with("promptflow-")
        || row.kind.starts_with("placeholder");
    match (is_aux, unsupported, not_resource) {
        (true, false, _) | (true, _, true) => Ok(()),
        (false, true, _) => Ok(()),
        _ => Err(format!(
            "expected \"unsupported kind\" for a {} file, got: {}",
            row.kind,
            if diagnostics.is_empty() {
                "no diagnostic".to_owned()
            } else {
                diagnostics
                    .iter()
                    .map(|d| d.render())
                    .collect::<Vec<_>>()
                    .join("")
            }
        )),
    }
}

/// The key each rejected file is rejected for, as the official loader names it.
const REJECTED_KEYS: &[(&str, &str)] = &[
    ("cli/jobs/nebulaml/cifar10_deepspeed/job.yml", "environment"),
    (
        "cli/jobs/pipelines-with-components/basics/6c_r_iris/component.yml",
        "name",
    ),
    ("cli/jobs/single-step/java/iris/job-template.yml", "code"),
    (
        "cli/jobs/automl-standalone-jobs/cli-automl-classification-task-bankmarketing/cli-automl-classification-task-bankmarketing-serverless.yml",
        "resources",
    ),
];

fn check_rejected(row: &Row, translation: &Translation) -> Result<(), String> {
    let key = REJECTED_KEYS
        .iter()
        .find(|(p, _)| *p == row.path)
        .map(|(_, k)| *k)
        .ok_or("a rejected file without an expected key")?;
    // The message names the key and points at it in the file.
    let named = translation.errors.iter().any(|d| {
        (d.field.as_deref() == Some(key) || d.message.contains(&format!("`{key}`")))
            && d.loc.is_some()
    });
    if named {
        Ok(())
    } else {
        Err(format!(
            "expected a rejection naming `{key}` (the loader said: {}), got:\n{}",
            row.sdk_error,
            render_errors(translation)
        ))
    }
}

fn compare(
    golden: &Value,
    file: &Path,
    translation: &Translation,
    project: &str,
) -> Result<(), String> {
    let plan = translation.plan.as_ref().ok_or("no plan")?;
    let mut problems = Vec::new();

    // The SDK's content hash of every local `code:` is one amlops computed.
    let hashes: Vec<&str> = translation
        .artifacts
        .values()
        .filter_map(|a| a.sdk_hash.as_deref())
        .collect();
    for wanted in corpus::golden_code_hashes(golden) {
        if !hashes.contains(&wanted.as_str()) {
            problems.push(format!(
                "the SDK looked up code with content hash {wanted}; amlops computed {hashes:?}"
            ));
        }
    }

    let map = oracle::placeholders(golden, file, translation, project)?;
    let expected = oracle::expected_puts(&corpus::golden_puts(golden), &map);
    let found: Vec<Sent> = oracle::plan_requests(plan)
        .into_iter()
        .map(build_context_uri_as_sdk)
        .collect();
    let unexpected_anonymous: Vec<&Sent> = found
        .iter()
        .filter(|f| f.path.contains("/components/azureml_anonymous/"))
        .filter(|f| !expected.iter().any(|e| e.path == f.path))
        .collect();
    let mut unpaired = unexpected_anonymous.into_iter();
    for want in &expected {
        match found
            .iter()
            .find(|f| f.method == want.method && f.path == want.path)
        {
            None if want.path.contains("/components/azureml_anonymous/") => {
                problems.push(format!("missing PUT {}", short(&want.path)));
                // Show how the specification differs from amlops' nearest one.
                if let Some(got) = unpaired.next() {
                    let (a, b) = (
                        want.body.clone().unwrap_or(Value::Null),
                        got.body.clone().unwrap_or(Value::Null),
                    );
                    for line in json_diff(&a, &b) {
                        problems.push(format!("  vs {}: {line}", short(&got.path)));
                    }
                }
            }
            None => problems.push(format!(
                "missing {} {} (amlops sends: {})",
                want.method,
                short(&want.path),
                found
                    .iter()
                    .map(|f| format!("{} {}", f.method, short(&f.path)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(got) => {
                if got.api_version != want.api_version {
                    problems.push(format!(
                        "{}: api-version {} instead of {}",
                        short(&want.path),
                        got.api_version,
                        want.api_version
                    ));
                }
                let (a, b) = (
                    want.body.clone().unwrap_or(Value::Null),
                    got.body.clone().unwrap_or(Value::Null),
                );
                for line in json_diff(&a, &b) {
                    problems.push(format!("{}: {line}", short(&want.path)));
                }
            }
        }
    }
    for got in &found {
        let expected_here = expected
            .iter()
            .any(|e| e.method == got.method && e.path == got.path);
        let code_put = got.method == "PUT" && got.path.contains("/codes/");
        if !expected_here && !code_put {
            problems.push(format!("unexpected {} {}", got.method, short(&got.path)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// amlops names an uploaded build context by its datastore URI; the SDK by the storage URL
/// the default datastore points to (see [`DIFFERENCES`]). The comparison writes amlops' form in
/// the SDK's, with the oracle's storage account and container.
fn build_context_uri_as_sdk(mut sent: Sent) -> Sent {
    if let Some(uri) = sent
        .body
        .as_mut()
        .and_then(|b| b.pointer_mut("/properties/build/contextUri"))
        && let Some(text) = uri.as_str()
        && let Some(rest) = text.strip_prefix("azureml://datastores/workspaceblobstore/paths/")
    {
        *uri = Value::String(format!(
            "https://oraclestorage.blob.core.windows.net/azureml-blobstore-{}/{rest}",
            oracle::SUBSCRIPTION
        ));
    }
    sent
}

fn short(path: &str) -> &str {
    path.split_once(oracle::WORKSPACE)
        .map_or(path, |(_, rest)| rest)
}
