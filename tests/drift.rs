//! `amlops drift` on the local workspace: out-of-band changes, manifest changes, conflicts.

mod support;

use amlops::backend::Backend;
use amlops::backend::local::LocalWorkspace;
use amlops::plan::Request;
use amlops::scope::Scope;
use serde_json::json;
use support::Project;

const COMPUTE: &str = "name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmax_instances: 2\nidle_time_before_scale_down: 120\n";

/// Changes the compute's scale settings behind amlops' back, as someone in the portal would.
fn edit_out_of_band(project: &Project) {
    let workspace = LocalWorkspace::open(&project.path().join(".amlops"), Scope::local()).unwrap();
    let request = Request {
        method: "PATCH".into(),
        path: Scope::local().resource_id("computes/cpu-cluster"),
        api_version: "2023-08-01-preview".into(),
        body: Some(
            json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 6, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT5M"}}}}),
        ),
        secret_body: None,
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(workspace.send(&request))
        .unwrap();
}

#[test]
fn out_of_band_scale_changes_are_drift_and_apply_restores_them_in_place() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(project.run(&["drift"]).code, 0);

    edit_out_of_band(&project);
    let drift = project.run(&["drift", "--json"]);
    assert_eq!(drift.code, 3, "{}", drift.both());
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["exit_code"], 3);
    let entry = &report["resources"][0];
    assert_eq!(entry["state"], "drifted");
    let fields: Vec<&str> = entry["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["idle_time_before_scale_down", "max_instances"]);
    assert_eq!(entry["fields"][1]["before"], 6);
    assert_eq!(entry["fields"][1]["after"], 2);

    let text = project.run(&["drift"]);
    assert!(
        text.stdout.contains("compute.cpu-cluster"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("max_instances: live 6, manifests 2"),
        "{}",
        text.stdout
    );

    let plan = project.run(&["plan"]);
    assert!(plan.stdout.contains("update in place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("replace"), "{}", plan.stdout);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(project.run(&["drift"]).code, 0);
    assert!(project.run(&["plan"]).stdout.starts_with("No changes."));
}

#[test]
fn manifest_changes_are_pending_not_drift() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.write(
        "compute.yml",
        &COMPUTE.replace("max_instances: 2", "max_instances: 3"),
    );
    let drift = project.run(&["drift"]);
    assert_eq!(drift.code, 2, "{}", drift.both());
    assert!(
        drift.stdout.contains("manifest changes to apply"),
        "{}",
        drift.stdout
    );
    project.write(
        "extra.yml",
        "name: new-env\nversion: 1\nimage: python:3.11\n",
    );
    assert_eq!(project.run(&["drift"]).code, 2);
}

#[test]
fn after_amlops_scales_a_compute_a_later_edit_out_of_band_is_still_drift() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    // amlops changes the scale settings itself: a PATCH, then the Tags API records the
    // specification now applied.
    let scaled = COMPUTE.replace("max_instances: 2", "max_instances: 3");
    project.write("compute.yml", &scaled);
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let plan = project.run(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let compute = &plan["changes"][0];
    assert_eq!(compute["action"], "no_op");
    assert_eq!(
        compute["applied_spec"], compute["desired_spec"],
        "the applied specification was not recorded: {compute}"
    );

    edit_out_of_band(&project);
    let drift = project.run(&["drift"]);
    assert_eq!(drift.code, 3, "{}", drift.both());
    assert!(
        drift.stdout.contains("max_instances: live 6, manifests 3"),
        "{}",
        drift.stdout
    );
}

#[test]
fn drift_never_writes_and_reports_conflicts_with_exit_4() {
    let project = Project::empty();
    project.write("env.yml", "name: env\nversion: 1\nimage: python:3.11\n");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.write("env.yml", "name: env\nversion: 1\nimage: python:3.12\n");
    let before = project.database_bytes();
    let drift = project.run(&["drift", "--format", "markdown"]);
    assert_eq!(drift.code, 4, "{}", drift.both());
    assert!(
        drift
            .stdout
            .contains("| `environment.env:1` | version conflict |"),
        "{}",
        drift.stdout
    );
    assert!(
        project.database_bytes() == before,
        "the workspace database changed"
    );
}

#[test]
fn a_size_change_replaces_only_with_the_flag_and_is_read_back() {
    let project = Project::empty();
    project.write("compute.yml", COMPUTE);
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    project.write(
        "compute.yml",
        &COMPUTE.replace("STANDARD_DS3_v2", "STANDARD_NC6"),
    );
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout.contains("replace: size cannot change in place"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("# forces replacement"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("pass --allow-replace"),
        "{}",
        plan.stdout
    );

    let before = project.database_bytes();
    let refused = project.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.both());
    assert!(
        refused.stderr.contains("pass --allow-replace"),
        "{}",
        refused.stderr
    );
    assert!(
        project.database_bytes() == before,
        "the workspace database changed"
    );

    let replaced = project.run(&["apply", "--auto-approve", "--allow-replace"]);
    assert_eq!(replaced.code, 0, "{}", replaced.both());
    assert!(
        replaced.stderr.contains("compute.cpu-cluster: replaced"),
        "{}",
        replaced.stderr
    );
    let show = project.show();
    assert_eq!(show["computes"][0]["size"], "STANDARD_NC6");
    assert_eq!(project.run(&["drift"]).code, 0);
}
