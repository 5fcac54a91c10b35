//! The GitHub Actions workflow in `examples/ci/` runs amlops commands that exist: each
//! `amlops ...` line of its steps is run here against a copy of the quickstart on the local
//! workspace, in the order the workflow's jobs would run them.

mod support;

use std::path::Path;
use std::process::Command;

fn workflow() -> serde_json::Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/github-actions.yml"),
    )
    .unwrap();
    serde_saphyr::from_str(&text).expect("the workflow is YAML")
}

/// The amlops command lines of a job's steps.
fn amlops_lines(job: &serde_json::Value) -> Vec<String> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["run"].as_str())
        .flat_map(|script| {
            script
                .lines()
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("amlops "))
        .collect()
}

#[test]
fn the_workflow_commands_run_and_exit_as_the_workflow_expects() {
    let workflow = workflow();
    assert_eq!(workflow["permissions"]["id-token"], "write");
    let project = support::Project::empty();
    support::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"),
        &project.path().join("ml"),
    );
    let _ = std::fs::remove_dir_all(project.path().join("ml/.amlops"));
    let bin = Path::new(env!("CARGO_BIN_EXE_amlops"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |line: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(project.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env("AMLOPS_TARGET", "local")
            .env_remove("AMLOPS_AUTH")
            .output()
            .unwrap()
    };
    // A pull request: a plan with changes (exit 2), a Markdown comment and a saved plan.
    let plan = amlops_lines(&workflow["jobs"]["plan"]);
    assert_eq!(plan.len(), 1, "{plan:?}");
    let output = run(&plan[0]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let comment = std::fs::read_to_string(project.path().join("plan.md")).unwrap();
    assert!(
        comment.starts_with("### amlops plan for local workspace"),
        "{comment}"
    );
    assert!(project.path().join("plan.json").is_file());

    // The merge: apply.
    let apply = amlops_lines(&workflow["jobs"]["apply"]);
    assert_eq!(apply.len(), 1, "{apply:?}");
    let output = run(&apply[0]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The schedule: no drift right after apply.
    let drift = amlops_lines(&workflow["jobs"]["drift"]);
    assert_eq!(drift.len(), 1, "{drift:?}");
    let output = run(&drift[0]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(project.path().join("drift.md")).unwrap();
    assert!(report.contains("0 changed out of band"), "{report}");
}
