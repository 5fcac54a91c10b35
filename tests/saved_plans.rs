//! `amlops plan -o FILE` and `amlops apply FILE`.

mod support;

use amlops::backend::Backend;
use amlops::backend::local::LocalWorkspace;
use amlops::plan::Request;
use amlops::scope::Scope;
use serde_json::json;
use support::Project;

const COMPUTE: &str = "name: cpu-cluster\ntype: amlcompute\nmax_instances: 2\nssh_settings:\n  admin_username: azureuser\n  admin_password: Sup3r-secret-pw\n";
const ENV: &str = "name: env\nversion: 1\nimage: python:3.11\n";

fn saved(project: &Project) -> String {
    let file = project
        .path()
        .join("plan.json")
        .to_str()
        .unwrap()
        .to_owned();
    let plan = project.run(&["plan", "-o", &file]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    assert!(plan.stderr.contains("plan saved to"), "{}", plan.stderr);
    file
}

fn apply_saved(project: &Project, file: &str) -> support::Run {
    support::amlops(&["apply", file], project.path())
}

#[test]
fn a_saved_plan_applies_without_asking_and_holds_no_secret() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE).write("env.yml", ENV);
    let file = saved(&project);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("Sup3r-secret-pw"),
        "the plan file holds the password"
    );
    assert!(text.contains("(sensitive)"));
    let apply = apply_saved(&project, &file);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert!(
        apply.stderr.contains("Apply complete: 2 changes made"),
        "{}",
        apply.stderr
    );
    assert!(project.run(&["plan"]).stdout.starts_with("No changes."));
}

#[test]
fn a_saved_plan_is_refused_when_the_workspace_moved() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE).write("env.yml", ENV);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.write(
        "compute.yml",
        &COMPUTE.replace("max_instances: 2", "max_instances: 3"),
    );
    let file = saved(&project);

    let workspace = LocalWorkspace::open(&project.path().join(".amlops"), Scope::local()).unwrap();
    let patch = Request {
        method: "PATCH".into(),
        path: Scope::local().resource_id("computes/cpu-cluster"),
        api_version: "2023-08-01-preview".into(),
        body: Some(
            json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 5, "minNodeCount": 0}}}}),
        ),
        secret_body: None,
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(workspace.send(&patch))
        .unwrap();
    drop(workspace);

    let before = project.database_bytes();
    let apply = apply_saved(&project, &file);
    assert_eq!(apply.code, 1, "{}", apply.both());
    assert!(
        apply
            .stderr
            .contains("the workspace changed since the plan was made: compute.cpu-cluster"),
        "{}",
        apply.stderr
    );
    assert!(
        project.database_bytes() == before,
        "the workspace database changed"
    );
}

#[test]
fn a_saved_plan_is_refused_when_the_manifests_changed() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    let file = saved(&project);
    project.write("env.yml", &ENV.replace("3.11", "3.12"));
    let apply = apply_saved(&project, &file);
    assert_eq!(apply.code, 1, "{}", apply.both());
    assert!(
        apply
            .stderr
            .contains("what the plan would do changed since it was made (the manifests, or what they refer to in the workspace): environment.env:1"),
        "{}",
        apply.stderr
    );
    assert!(!project.database().exists());
}

#[test]
fn anything_else_is_not_a_plan() {
    let project = Project::empty();
    project.write("notes.txt", "hello");
    let apply = support::amlops(&["apply", "notes.txt"], project.path());
    assert_eq!(apply.code, 1);
    assert!(
        apply
            .stderr
            .contains("is neither a manifest directory nor a plan saved by `amlops plan -o`"),
        "{}",
        apply.stderr
    );
}

#[test]
fn a_shared_access_signature_is_never_shown_nor_saved_but_still_sent() {
    let project = Project::empty();
    project.write(
        "blob.yml",
        "name: blob\nversion: 1\ntype: uri_file\npath: \"https://acct.blob.core.windows.net/c/f.csv?sv=2023-01-01&sig=SIGNATURE-VALUE%3D&se=2030\"\n",
    );
    let plan_file = project.path().join("saved.json");
    let shown = [
        project.run(&["plan"]),
        project.run(&["plan", "--json"]),
        project.run(&["plan", "--format", "markdown"]),
        project.run(&["plan", "-o", plan_file.to_str().unwrap()]),
    ];
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    for text in shown.iter().map(support::Run::both).chain([saved]) {
        assert!(!text.contains("SIGNATURE-VALUE"), "{text}");
    }
    let apply = support::amlops(
        &["apply", plan_file.to_str().unwrap(), "--auto-approve"],
        project.path(),
    );
    assert_eq!(apply.code, 0, "{}", apply.both());
    // What was stored is the real address: the next plan sees no change.
    let again = project.run(&["plan"]);
    assert!(again.stdout.starts_with("No changes."), "{}", again.both());
    let drift = project.run(&["drift", "--json"]);
    assert!(
        !drift.both().contains("SIGNATURE-VALUE"),
        "{}",
        drift.both()
    );
}
