//! `--prune`: owned resources that left the manifests are archived (assets) or deleted
//! (computes, only with `--prune-computes`); unowned ones are never touched.

mod support;

use amlops::backend::Backend;
use amlops::backend::local::LocalWorkspace;
use amlops::plan::Request;
use amlops::scope::Scope;
use serde_json::json;
use support::Project;

const KEEP: &str = "name: keep\nversion: 1\nimage: python:3.11\n";
const GONE: &str = "name: gone\nversion: 1\nimage: python:3.12\n";
const COMPUTE: &str = "name: old-cluster\ntype: amlcompute\n";

fn versions(project: &Project, kind: &str, name: &str) -> Vec<serde_json::Value> {
    project.show()["assets"][kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["versions"].as_array().unwrap().clone())
        .unwrap_or_default()
}

fn create_by_hand(project: &Project) {
    let workspace = LocalWorkspace::open(&project.path().join(".amlops"), Scope::local()).unwrap();
    let request = Request {
        method: "PUT".into(),
        path: Scope::local().resource_id("environments/handmade/versions/1"),
        api_version: "2023-04-01-preview".into(),
        body: Some(json!({"properties": {"image": "python:3.10"}})),
        secret_body: None,
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(workspace.send(&request))
        .unwrap();
}

#[test]
fn dropped_versions_are_archived_only_with_prune_and_restored_when_they_return() {
    let project = Project::empty();
    project.write("keep.yml", KEEP).write("gone.yml", GONE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    create_by_hand(&project);
    project.remove("gone.yml");

    assert!(
        project.run(&["plan"]).stdout.starts_with("No changes."),
        "without --prune nothing is removed"
    );
    let plan = project.run(&["plan", "--prune", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let pruned: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pruned,
        vec![("environment.gone:1", "archive")],
        "the handmade environment is never listed"
    );

    assert_eq!(project.run(&["apply", "--auto-approve", "--prune"]).code, 0);
    assert_eq!(
        versions(&project, "environment", "gone")[0]["archived"],
        true
    );
    assert_eq!(
        versions(&project, "environment", "handmade")[0]["archived"],
        false
    );
    assert!(
        project
            .run(&["plan", "--prune"])
            .stdout
            .starts_with("No changes.")
    );

    project.write("gone.yml", GONE);
    let plan = project.run(&["plan"]);
    assert!(plan.stdout.contains("restore"), "{}", plan.stdout);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(
        versions(&project, "environment", "gone").len(),
        1,
        "restored, not recreated"
    );
    assert_eq!(
        versions(&project, "environment", "gone")[0]["archived"],
        false
    );
}

#[test]
fn computes_are_deleted_only_when_asked_and_never_under_a_running_job() {
    let project = Project::empty();
    project
        .write("keep.yml", KEEP)
        .write("compute.yml", COMPUTE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.remove("compute.yml");

    let plan = project.run(&["plan", "--prune"]);
    assert!(
        plan.stdout
            .contains("compute.old-cluster left the manifests; pass --prune-computes to delete it"),
        "{}",
        plan.stdout
    );

    // A job still running on the compute keeps it.
    project.write("compute.yml", COMPUTE);
    project.write(
        "job.yml",
        "command: sleep 2\nenvironment: azureml:keep:1\ncompute: azureml:old-cluster\n",
    );
    assert_eq!(
        project.run(&["apply", "--auto-approve", "--no-wait"]).code,
        0
    );
    project.remove("compute.yml");
    project.remove("job.yml");
    let busy = project.run(&["plan", "--prune-computes"]);
    assert!(
        busy.stdout.contains("but jobs run on it"),
        "{}",
        busy.both()
    );

    std::thread::sleep(std::time::Duration::from_secs(3));
    let apply = project.run(&["apply", "--auto-approve", "--prune-computes"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert!(
        apply.stderr.contains("compute.old-cluster: deleted"),
        "{}",
        apply.stderr
    );
    assert!(project.show()["computes"].as_array().unwrap().is_empty());
}

#[test]
fn a_version_a_declared_job_still_uses_is_kept() {
    let project = Project::empty();
    project
        .write("env.yml", KEEP)
        .write(
            "rows.yml",
            "name: rows\nversion: 1\ntype: uri_file\npath: ./rows.csv\n",
        )
        .write("rows.csv", "a\n1\n")
        .write(
            "job.yml",
            "command: cat ${{inputs.rows}}\nenvironment: azureml:keep:1\ninputs:\n  rows:\n    type: uri_file\n    path: azureml:rows:1\n",
        );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    // The data leaves the manifests; the job that ran on it (a no-op now) still names it.
    project.remove("rows.yml");
    let plan = project.run(&["plan", "--prune"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("data.rows:1 left the manifests but a declared resource refers to it: kept"),
        "{}",
        plan.stdout
    );
}

#[test]
fn an_unversioned_asset_that_comes_back_unchanged_is_restored_without_an_upload() {
    let project = Project::empty();
    let data = "name: rows\ntype: uri_file\npath: ./rows.csv\n";
    project.write("rows.yml", data).write("rows.csv", "a\n1\n");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.remove("rows.yml");
    let prune = project.run(&["apply", "--auto-approve", "--prune"]);
    assert_eq!(prune.code, 0, "{}", prune.both());
    project.write("rows.yml", data);
    let plan = project.run(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let change = &plan["changes"][0];
    assert_eq!(
        (&change["address"], &change["action"], &change["version"]),
        (&json!("data.rows"), &json!("restore"), &json!("1")),
        "{change}"
    );
    assert!(change.get("uploads").is_none(), "{change}");
    let apply = project.run(&["apply", "--auto-approve"]);
    assert!(
        apply
            .stderr
            .contains("Apply complete: 1 change made, 0 uploads."),
        "{}",
        apply.both()
    );
    assert_eq!(versions(&project, "data", "rows").len(), 1);
}

#[test]
fn a_compute_another_project_owns_is_a_conflict_not_a_takeover() {
    let workspace = tempfile::tempdir().unwrap();
    let data_dir = workspace.path().to_str().unwrap();
    let first = Project::empty();
    first.write("amlops.kdl", "project \"team-a\"\n");
    first.write(
        "c.yml",
        "name: shared-cpu\ntype: amlcompute\nmax_instances: 2\n",
    );
    let apply = first.run(&["apply", "--auto-approve", "--data-dir", data_dir]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let second = Project::empty();
    second.write("amlops.kdl", "project \"team-b\"\n");
    second.write(
        "c.yml",
        "name: shared-cpu\ntype: amlcompute\nmax_instances: 9\n",
    );
    let plan = second.run(&["plan", "--data-dir", data_dir]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stdout
            .contains("conflict: it belongs to another amlops project, `team-a`"),
        "{}",
        plan.stdout
    );
    let drift = second.run(&["drift", "--data-dir", data_dir]);
    assert_eq!(drift.code, 4, "{}", drift.both());
    let apply = second.run(&["apply", "--auto-approve", "--data-dir", data_dir]);
    assert_eq!(apply.code, 1, "{}", apply.both());
    // Still team-a's, with team-a's size.
    let again = first.run(&["plan", "--data-dir", data_dir]);
    assert!(again.stdout.starts_with("No changes."), "{}", again.both());
}

#[test]
fn a_new_version_of_another_projects_asset_is_a_conflict() {
    let workspace = tempfile::tempdir().unwrap();
    let data_dir = workspace.path().to_str().unwrap();
    let (first, second) = (Project::empty(), Project::empty());
    first.write("amlops.kdl", "project \"proj-a\"\n").write(
        "d.yml",
        "name: shared\ntype: uri_file\npath: https://x.invalid/a.csv\n",
    );
    second.write("amlops.kdl", "project \"proj-b\"\n").write(
        "d.yml",
        "name: shared\ntype: uri_file\npath: https://x.invalid/b.csv\n",
    );
    let apply = first.run(&["apply", "--auto-approve", "--data-dir", data_dir]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let plan = second.run(&["plan", "--data-dir", data_dir]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stdout
            .contains("data `shared` belongs to another amlops project, `proj-a`"),
        "{}",
        plan.stdout
    );
    assert_eq!(second.run(&["drift", "--data-dir", data_dir]).code, 4);
}
